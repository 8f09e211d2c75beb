"""Validate a sweep config and expand it into runs with canonical, readable output paths.

Validation happens before any job is scheduled: every error names the config key it is about.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import jsonschema
import yaml

from losstopo.sweep.families import FAMILY_MODULES, defaults, get_hparams
from losstopo.sweep.memory import memory_problems
from losstopo.sweep.plugin import FamilyError, FamilyTable, import_problems, read_table, resolve_module
from losstopo.sweep.schema import default, load_schema, typed_value
from losstopo.sweep.shards import shard_count

SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.+-]+$")
_KEY = re.compile(r"config key '([^']*)'")  # the dotted key a problem message names
MAX_GRID_DIM = 62  # losstopo.topology.stencils.step_masks: one bit per axis in an int64


class ConfigError(ValueError):
    """The config is invalid; the message names every offending key."""


@dataclass(frozen=True)
class Run:
    """One trained model of the sweep and everything its stages need to know."""

    run_id: str  # e.g. "pinn/beta~30/seed~0": also its folder under results/runs/
    family: str
    seed: int
    swept: dict[str, Any]  # the swept hyperparameters of this run, in config order
    hp: dict[str, Any]  # every hyperparameter of the family, defaults filled in
    landscape: dict[str, Any] = field(default_factory=dict)
    topology: dict[str, Any] = field(default_factory=dict)
    hessian: dict[str, Any] = field(default_factory=dict)
    checkpoints: tuple[int, ...] = ()  # epochs whose models are analysed too

    def checkpoint_ids(self) -> list[str]:
        """Ids of this run's checkpoint models, e.g. "unet/lr~0.01/seed~0/epoch~5"."""
        return [f"{self.run_id}/epoch~{epoch}" for epoch in self.checkpoints]

    def hessian_reuses_directions(self) -> bool:
        """Whether the Hessian stage takes its top eigenpairs from the unit's Hessian directions instead of
        computing them again: they are the top ``landscape.dim`` float64 pairs at the default Lanczos tolerance,
        so with ``hessian.top_k`` at most that, ``hessian.eig_tol`` the default and ``hessian.precision``
        float64, its pairs are among them."""
        return (
            self.landscape.get("directions") == "hessian"
            and 1 <= self.hessian.get("top_k", 0) <= self.landscape.get("dim", 0)
            and self.hessian.get("eig_tol") == default("hessian", "eig_tol")
            and self.hessian.get("precision", "float64") == "float64"
        )


def _with_defaults(validator_class):
    """A validator that also fills in ``default`` values of object properties."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft7Validator)


def _key(prefix: str, path) -> str:
    parts = [prefix] if prefix else []
    for p in path:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
        else:
            parts.append(str(p))
    return ".".join(parts) or "<top level>"


def _errors(instance: Any, schema: dict, prefix: str, fill_defaults: bool = True) -> list[str]:
    """Every schema violation of ``instance`` as a message naming its dotted config key."""
    validator = (_Validator if fill_defaults else jsonschema.Draft7Validator)(schema)
    out = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path))):
        key = _key(prefix, err.path)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            known = ", ".join(sorted(err.schema.get("properties", {})))
            out.extend(f"config key '{_key(prefix, [*err.path, k])}': unknown key (known here: {known})" for k in extra)
        else:
            out.append(f"config key '{key}': {err.message}")
    return out


def _typed_tree(value: Any, schema: dict, key: str, root: dict, problems: list[str]) -> Any:
    """``value`` with every leaf the schema describes converted by :func:`typed_value` (in place for
    mappings and lists)."""
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, dict):
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            sub = schema.get("properties", {}).get(name, extra if isinstance(extra, dict) else None)
            if sub is not None:
                value[name] = _typed_tree(item, sub, f"{key}.{name}" if key else name, root, problems)
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            value[i] = _typed_tree(item, schema["items"], f"{key}[{i}]", root, problems)
        return value
    return typed_value(value, schema, key, problems)


def family_table(name: str, fam_cfg: dict) -> ModuleType | FamilyTable:
    """The hyperparameter table of family ``name`` as ``fam_cfg`` configures it: a built-in's, or the table of
    the plug-in module its ``module`` names (as validate_config resolved it)."""
    return read_table(name, fam_cfg["module"]) if "module" in fam_cfg else get_hparams(name)


def _plugin_problems(config: dict, base_dir: Path) -> list[str]:
    """Resolve each plug-in family's ``module`` in place (a path against ``base_dir``) and read its table;
    the problems: a built-in's name taken, an unknown family without a module, and every problem of the
    module (missing, failing to import, breaking the contract), each naming the config key."""
    problems = []
    families = config.get("families")
    for name, fam_cfg in families.items() if isinstance(families, dict) else ():
        if not isinstance(fam_cfg, dict):
            continue  # the schema check names it
        module, key = fam_cfg.get("module"), f"families.{name}.module"
        if name in FAMILY_MODULES:
            if module is not None:
                problems.append(
                    f"config key '{key}': {name!r} is a built-in family; a family of your own needs another "
                    f"name (built-in: {', '.join(FAMILY_MODULES)})"
                )
        elif module is None:
            problems.append(
                f"config key 'families.{name}': no built-in family is called {name!r} (built-in: "
                f"{', '.join(FAMILY_MODULES)}); a family of your own names its module: "
                f"families.{name}.module: path/to/{name}.py (docs/families.md)"
            )
        elif isinstance(module, str):
            try:
                fam_cfg["module"] = resolve_module(module, base_dir)
                read_table(name, fam_cfg["module"])
            except FamilyError as exc:
                problems += [f"config key '{key}': {problem}" for problem in exc.problems]
    return problems


def _typed_config(config: dict, schema: dict) -> list[str]:
    """Convert every value of ``config`` in place to its declared type (see typed_value); the problems."""
    problems: list[str] = []
    _typed_tree(config, schema, "", schema, problems)
    families = config.get("families")
    for name, fam_cfg in families.items() if isinstance(families, dict) else ():
        if not isinstance(fam_cfg, dict) or (name not in FAMILY_MODULES and not isinstance(fam_cfg.get("module"), str)):
            continue  # the schema check names it
        params_table = family_table(name, fam_cfg).PARAMS
        prefix = f"families.{name}"
        for section, sub in (
            ("landscape", {"$ref": "#/definitions/landscape"}),
            ("hessian", schema["properties"]["hessian"]),
        ):
            if isinstance(fam_cfg.get(section), dict):
                _typed_tree(fam_cfg[section], sub, f"{prefix}.{section}", schema, problems)
        for key, value in (fam_cfg.get("params") or {}).items():
            if key in params_table:
                fam_cfg["params"][key] = typed_value(value, params_table[key], f"{prefix}.params.{key}", problems)
        for key, values in (fam_cfg.get("sweep") or {}).items():
            if key in params_table and isinstance(values, list):
                fam_cfg["sweep"][key] = [
                    typed_value(v, params_table[key], f"{prefix}.sweep.{key}[{i}]", problems)
                    for i, v in enumerate(values)
                ]
    return problems


def canonical(value: Any, key: str = "value") -> str:
    """The one spelling of a hyperparameter value in paths: 30 and 30.0 both become "30"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"config key '{key}': non-finite value {value!r}")
        text = repr(value + 0.0)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, str) and SAFE_TEXT.match(value):
        return value
    raise ConfigError(
        f"config key '{key}': value {value!r} cannot be part of an output path "
        "(use numbers, booleans, or text of letters, digits and _.+-)"
    )


# Characters of a `results:` folder that cannot work: Snakemake reads {x} as a wildcard and <x> as a path
# variable (its own outputs would then go elsewhere than the files losstopo writes by name), its HTML report
# embeds paths unescaped inside <script> blocks, and a line break splits an argument file's line in two.
FOLDER_PROBLEMS = {
    "{": "Snakemake reads {...} as a wildcard",
    "}": "Snakemake reads {...} as a wildcard",
    "<": "Snakemake reads <name> as a path variable, and its HTML report embeds paths unescaped in a script",
    ">": "Snakemake reads <name> as a path variable, and its HTML report embeds paths unescaped in a script",
}
# Characters no text of the config may hold: the HTML report (`snakemake --report`) embeds the jobs' params,
# where every config value ends up, in a <script> block without escaping them.
TEXT_PROBLEMS = {
    "<": "the HTML report embeds config values unescaped in a script",
    ">": "the HTML report embeds config values unescaped in a script",
}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _strings(value: Any, key: str):
    """(dotted key, text) of every string value in a config tree."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{key}[{i}]")


def text_problems(config: dict) -> list[str]:
    """What the config's texts hold that cannot work where they go, each naming its key: in ``results``
    the characters Snakemake interprets in paths (FOLDER_PROBLEMS), control characters, a leading ``-``
    (read as an option by every command) and leading or trailing spaces (Snakemake's file matching);
    in any text, ``<`` or ``>`` (TEXT_PROBLEMS)."""
    problems = []
    folder = config["results"]
    found = sorted({ch for ch in folder if ch in FOLDER_PROBLEMS})
    if found:
        why = "; ".join(dict.fromkeys(FOLDER_PROBLEMS[ch] for ch in found))
        problems.append(f"config key 'results': {folder!r} - a folder may not contain {' or '.join(found)} ({why})")
    if CONTROL.search(folder):
        problems.append(
            f"config key 'results': {folder!r} - a folder may not contain line breaks or control characters"
        )
    if folder.startswith("-"):
        problems.append(
            f"config key 'results': {folder!r} - a folder may not start with - (the commands read it as an option)"
        )
    if folder != folder.strip():
        problems.append(f"config key 'results': {folder!r} - a folder may not start or end with a space")
    for key, text in _strings(config, ""):
        found = sorted({ch for ch in text if ch in TEXT_PROBLEMS})
        if key != "results" and found:
            problems.append(
                f"config key '{key}': {text!r} - text may not contain {' or '.join(found)} ({TEXT_PROBLEMS[found[0]]})"
            )
    return problems


def canonical_folder(folder: str) -> str:
    """The one spelling of a folder that Snakemake matches files by: no ``./`` parts, repeated or trailing
    slashes (``./res//a/`` is ``res/a``); ``..`` parts are kept (they may cross a link)."""
    return str(PurePosixPath(folder))


def _grid(values: dict[str, list]) -> list[dict[str, Any]]:
    """Every combination of the sweep's values, in config order."""
    keys = list(values)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(values[k] for k in keys))]


def _family_problems(name: str, fam_cfg: dict, landscape: dict, config: dict) -> list[str]:
    """What a family's settings get wrong across keys, checked on every grid point of its sweep:
    the family's own rules (losstopo.sweep.hparams), checkpoints after the last epoch, trajectory directions
    with fewer states along training than they need, and landscape settings the sampling and topology
    stages cannot take."""
    hparams, prefix = family_table(name, fam_cfg), f"families.{name}"
    base = {**defaults(hparams), **fam_cfg["params"]}
    found: dict[str, list[dict]] = {}  # problem -> the grid points that have it
    for swept in _grid(fam_cfg["sweep"]):
        hp = {**base, **swept}
        for problem in hparams.check(hp):
            found.setdefault(f"config key '{prefix}' params and sweep: {problem}", []).append(swept)
        last = hparams.epoch_count(hp)  # None: a plug-in that does not say
        if landscape["directions"] == "trajectory" and last is not None and landscape["dim"] > last:
            found.setdefault(
                f"config key '{prefix}.landscape.dim': {landscape['dim']} trajectory directions need at least "
                f"{landscape['dim'] + 1} states along training, but these runs keep {last + 1} (the initial "
                f"weights and {last} epoch(s))",
                [],
            ).append(swept)
        late = [epoch for epoch in fam_cfg["checkpoints"] if last is not None and epoch > last]
        if late:
            found.setdefault(
                f"config key '{prefix}.checkpoints': epoch(s) {', '.join(map(str, late))} after the "
                f"last epoch: these runs train for {last} epoch(s)",
                [],
            ).append(swept)
    problems = []
    for problem, points in found.items():
        where = ", ".join(f"{k}={v!r}" for k, v in points[0].items())
        problems.append(problem + (f" (in {len(points)} grid point(s) of the sweep, e.g. {where})" if where else ""))
    early = [epoch for epoch in fam_cfg["checkpoints"] if epoch < landscape["dim"]]
    if landscape["directions"] == "trajectory" and early:
        problems.append(
            f"config key '{prefix}.checkpoints': epoch(s) {', '.join(map(str, early))} keep fewer than "
            f"{landscape['dim'] + 1} states along training, too few for {landscape['dim']} trajectory directions"
        )
    problems += landscape_problems(landscape, f"{prefix}.landscape")
    hessian = copy.deepcopy({**config["hessian"], **fam_cfg["hessian"]})
    _errors(hessian, load_schema()["properties"]["hessian"], "")  # fills in the defaults the job will use
    problems += memory_problems(landscape, config["topology"]["knn"], hessian, config["resources"]["mem_mb"], prefix)
    knn = config["topology"]["knn"] or 4 * landscape["dim"]
    if landscape["sampling"] != "grid" and knn > landscape["n_samples"]:
        problems.append(
            f"config key 'topology.knn': {knn} neighbours but {prefix}.landscape.n_samples is "
            f"{landscape['n_samples']} (k must be at most the number of samples)"
        )
    return problems


def landscape_problems(landscape: dict, prefix: str = "landscape") -> list[str]:
    """What a full landscape block (defaults filled in) gets wrong across its keys, naming ``prefix.key``."""
    problems = []
    if landscape["sampling"] == "grid" and landscape["dim"] > MAX_GRID_DIM:
        problems.append(
            f"config key '{prefix}.dim': {landscape['dim']} - a grid landscape has at most "
            f"{MAX_GRID_DIM} dimensions (use sampling random or sobol)"
        )
    extra = landscape.get("extra_spans", [])
    if extra and (landscape["sampling"] != "grid" or shard_count(landscape) > 1):
        problems.append(
            f"config key '{prefix}.extra_spans': {extra} - extra spans need a grid landscape sampled by "
            f"one job (sampling is {landscape['sampling']!r}, shard_points {landscape['shard_points']})"
        )
    if landscape["span"] in extra:
        problems.append(
            f"config key '{prefix}.extra_spans': {extra} repeats the landscape's own span "
            f"{landscape['span']!r}, which is sampled anyway"
        )
    return problems


def hessian_problems(hessian: dict, prefix: str = "hessian") -> list[str]:
    """What a full hessian block (defaults filled in) gets wrong across its keys, naming ``prefix.key``."""
    trace = hessian["trace"]
    if trace["min_probes"] > trace["max_probes"]:
        return [
            f"config key '{prefix}.trace': min_probes {trace['min_probes']} is more than max_probes "
            f"{trace['max_probes']}"
        ]
    return []


BLOCK_PROBLEMS = {"landscape": landscape_problems, "hessian": hessian_problems}


def _block_schema(schema: dict, block: str) -> dict:
    """The schema of a config block: ``landscape`` and ``family`` (a ``families.<name>`` entry) are definitions."""
    return schema["definitions"][block] if block in ("landscape", "family") else schema["properties"][block]


def _raise(problems: list[str], what: str) -> None:
    if problems:
        raise ConfigError(f"invalid {what}:\n  " + "\n  ".join(problems))


def validate_block(block: str, settings: dict, extra: tuple[str, ...] = ()) -> dict:
    """The settings of one config block (``landscape``, ``hessian``, ...) as a stage's command line takes
    them (``--landscape``, ``--settings``), checked as :func:`validate_config` checks the config's block:
    each value typed (a copy is returned, defaults not filled in), its type and range, the checks across
    keys. Keys in ``extra`` (a command's own options beyond the config's) are passed through unchecked.
    ConfigError names each problem's key as ``block.key``."""
    schema = load_schema()
    sub = _block_schema(schema, block)
    settings = copy.deepcopy(settings)
    own = {key: settings.pop(key) for key in extra if key in settings}
    problems: list[str] = []
    _typed_tree(settings, sub, block, schema, problems)
    typed_keys = {_KEY.match(problem).group(1) for problem in problems}
    full = copy.deepcopy(settings)
    problems += [p for p in _errors(full, sub, block) if _KEY.match(p).group(1) not in typed_keys]
    if not problems and block in BLOCK_PROBLEMS:
        problems = BLOCK_PROBLEMS[block](full, block)
    _raise(problems, f"{block} settings")
    return settings | own


def validate_setting(value: Any, block: str, key: str, item: bool = False) -> Any:
    """One setting given on its own (a command-line option that mirrors ``block.key``; with ``item``, one
    item of that list setting, e.g. a seed of ``families.<name>.seeds``), typed and checked as in the
    config; text is read as a number where the setting is one. ConfigError naming the key."""
    schema = load_schema()
    sub = _block_schema(schema, block)["properties"][key]
    name = f"{'families.<name>' if block == 'family' else block}.{key}"
    if item:
        sub, name = sub["items"], f"{name}[]"
    problems: list[str] = []
    value = typed_value(value, sub, name, problems)
    problems = problems or _errors(value, sub, name, fill_defaults=False)
    _raise(problems, "setting")
    return value


def validate_hparams(family: str, hp: dict, prefix: str = "params", module: str | None = None) -> dict:
    """Every hyperparameter of ``family`` with its defaults filled in, ``hp`` typed and checked as the
    config's ``families.<family>.params`` (the family's table: type, range, finite numbers, known keys;
    then the family's own checks across keys). ConfigError names each key as ``prefix.key``; a ValueError
    lists the known families for an unknown one. ``module``: a plug-in family's module where
    ``LOSSTOPO_FAMILIES`` names none (losstopo.sweep.families.get_hparams)."""
    hparams = get_hparams(family, module)
    hp = copy.deepcopy(hp)
    problems: list[str] = []
    for key, value in hp.items():
        if key in hparams.PARAMS:
            hp[key] = typed_value(value, hparams.PARAMS[key], f"{prefix}.{key}", problems)
    typed_keys = {_KEY.match(problem).group(1) for problem in problems}
    schema = {"type": "object", "additionalProperties": False, "properties": hparams.PARAMS}
    problems += [
        p for p in _errors(hp, schema, prefix, fill_defaults=False) if _KEY.match(p).group(1) not in typed_keys
    ]
    _raise(problems, f"{family} hyperparameters")
    full = {**defaults(hparams), **hp}
    _raise([f"config key '{prefix}': {problem}" for problem in hparams.check(full)], f"{family} hyperparameters")
    return full


def validate_config(config: dict, base_dir: str | Path | None = None) -> dict:
    """A deep copy of ``config`` with every value typed and defaults filled in, and each plug-in family's
    ``module`` resolved (a ``.py`` path against ``base_dir``, the config file's folder; default: the working
    directory); ConfigError lists every problem, each naming its dotted key and value (type, range, the
    checks across keys, and a plug-in module's contract: losstopo.sweep.plugin)."""
    config = copy.deepcopy(config)
    schema = load_schema()
    if isinstance(config, dict):
        plugin_problems = _plugin_problems(config, Path.cwd() if base_dir is None else Path(base_dir))
        if plugin_problems:
            raise ConfigError("invalid config:\n  " + "\n  ".join(plugin_problems))
    typing = _typed_config(config, schema) if isinstance(config, dict) else []
    typed_keys = {_KEY.match(problem).group(1) for problem in typing}

    def reported(problem: str) -> bool:
        """Whether a schema problem restates a typing problem (also through a family's merged block)."""
        key = _KEY.match(problem).group(1)
        return key in typed_keys or (key.startswith("families.") and key.split(".", 2)[-1] in typed_keys)

    structure = [p for p in _errors(config, schema, "") if not reported(p)]
    problems = typing + structure
    if structure:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    problems += text_problems(config)
    config["results"] = canonical_folder(config["results"])
    landscape_schema = schema["definitions"]["landscape"]
    hessian_schema = schema["properties"]["hessian"]
    for name, fam_cfg in config["families"].items():
        family = family_table(name, fam_cfg)
        prefix = f"families.{name}"
        params_schema = {"type": "object", "additionalProperties": False, "properties": family.PARAMS}
        family_problems = [
            p
            for p in _errors(fam_cfg["params"], params_schema, f"{prefix}.params", fill_defaults=False)
            if not reported(p)
        ]
        for key, values in fam_cfg["sweep"].items():
            if key not in family.PARAMS:
                family_problems.append(
                    f"config key '{prefix}.sweep.{key}': unknown hyperparameter of family "
                    f"{name!r} (known: {', '.join(sorted(family.PARAMS))})"
                )
                continue
            if key in fam_cfg["params"]:
                family_problems.append(
                    f"config key '{prefix}.sweep.{key}': also fixed in {prefix}.params; give it in one place"
                )
            for i, value in enumerate(values):
                family_problems += [
                    p
                    for p in _errors(value, family.PARAMS[key], f"{prefix}.sweep.{key}[{i}]", fill_defaults=False)
                    if not reported(p)
                ]
            try:
                spellings = [canonical(v, f"{prefix}.sweep.{key}") for v in values]
            except ConfigError as exc:
                if not any(k.startswith(f"{prefix}.sweep.{key}[") for k in typed_keys):
                    family_problems.append(str(exc))
                continue
            if len(set(spellings)) != len(spellings):
                family_problems.append(
                    f"config key '{prefix}.sweep.{key}': repeated value in {values!r} "
                    "(the same number in two spellings is one value)"
                )
        merged = {**config["landscape"], **fam_cfg["landscape"]}
        family_problems += [p for p in _errors(merged, landscape_schema, f"{prefix}.landscape") if not reported(p)]
        family_problems += [
            p
            for p in _errors({**config["hessian"], **fam_cfg["hessian"]}, hessian_schema, f"{prefix}.hessian")
            if not reported(p)
        ]
        family_problems += hessian_problems({**config["hessian"], **fam_cfg["hessian"]}, f"{prefix}.hessian")
        problems += family_problems or ([] if typing else _family_problems(name, fam_cfg, merged, config))
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return config


def expand_runs(config: dict) -> dict[str, Run]:
    """Every run of a validated config, keyed by run id, in a stable order."""
    runs: dict[str, Run] = {}
    for name, fam_cfg in config["families"].items():
        base = {**defaults(family_table(name, fam_cfg)), **fam_cfg["params"]}
        landscape = {**config["landscape"], **fam_cfg["landscape"]}
        hessian = {**config["hessian"], **fam_cfg["hessian"]}
        checkpoints = tuple(sorted(fam_cfg["checkpoints"]))
        for swept in _grid(fam_cfg["sweep"]):
            path = "/".join([name] + [f"{k}~{canonical(v, k)}" for k, v in swept.items()])
            hp = {**base, **swept}
            for seed in fam_cfg["seeds"]:
                run_id = f"{path}/seed~{seed}"
                runs[run_id] = Run(
                    run_id, name, seed, swept, hp, landscape, dict(config["topology"]), hessian, checkpoints
                )
    return runs


def load_config_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return validate_config(config, path.parent)


def main(args) -> int:
    """``losstopo validate-config``: every check of the workflow's start, plug-in modules imported too (a dry
    run reads their literal tables without importing them); prints the runs."""
    config = load_config_file(args.config)
    problems = import_problems({name: fam["module"] for name, fam in config["families"].items() if "module" in fam})
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    runs = expand_runs(config)
    for run_id in runs:
        print(run_id)
    print(f"{len(runs)} runs", flush=True)
    return 0
