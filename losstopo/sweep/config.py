"""Validate a sweep config and expand it into runs with canonical, readable output paths.

Validation happens before any job is scheduled: every error names the config key it is about.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from losstopo.sweep.families import FAMILY_MODULES, defaults, get_hparams
from losstopo.sweep.schema import default, load_schema
from losstopo.sweep.shards import shard_count

SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.+-]+$")
# A number as YAML 1.2 and JSON write it (YAML 1.1, which PyYAML and Snakemake read, wants a dot in
# 1.0e-3 and takes 1e-3 for text).
NUMBER_TEXT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
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
        computing them again: they are the top ``landscape.dim`` pairs at the default Lanczos tolerance, so
        with ``hessian.top_k`` at most that and ``hessian.eig_tol`` the default, its pairs are among them."""
        return (
            self.landscape.get("directions") == "hessian"
            and 1 <= self.hessian.get("top_k", 0) <= self.landscape.get("dim", 0)
            and self.hessian.get("eig_tol") == default("hessian", "eig_tol")
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


def _declared_types(schema: dict) -> set[str]:
    """The JSON types a schema admits, its oneOf / anyOf branches included."""
    types = schema.get("type", [])
    out = {types} if isinstance(types, str) else set(types)
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        out |= _declared_types(branch)
    return out


def typed_value(value: Any, schema: dict, key: str, problems: list[str]) -> Any:
    """``value`` as the type its schema declares, so one value has one spelling in run ids and params.

    A number key gets a float (1, 1.0 and 1e0 are 1.0; -0.0 is 0.0); an integer key gets an int (2.0 is
    2; 2.5 is a problem naming ``key``); a number written as text (YAML 1.1 reads 1e-3 as text) is read
    as that number for keys that take no text. Other values are left to the schema check.
    """
    types = _declared_types(schema)
    if isinstance(value, bool) or not types & {"number", "integer"}:
        return value
    if isinstance(value, str):
        if "string" in types or not NUMBER_TEXT.match(value.strip()):
            return value
        value = float(value)
    if not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"config key '{key}': {value!r} is not a finite number")
        return value
    if "number" in types:
        return float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, float):
        if not value.is_integer():
            problems.append(f"config key '{key}': {value!r} is not a whole number (the setting is an integer)")
            return value
        return int(value)
    return value


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


def _typed_config(config: dict, schema: dict) -> list[str]:
    """Convert every value of ``config`` in place to its declared type (see typed_value); the problems."""
    problems: list[str] = []
    _typed_tree(config, schema, "", schema, problems)
    families = config.get("families")
    for name, fam_cfg in families.items() if isinstance(families, dict) else ():
        if name not in FAMILY_MODULES or not isinstance(fam_cfg, dict):
            continue  # the schema check names it
        params_table = get_hparams(name).PARAMS
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


def _grid(values: dict[str, list]) -> list[dict[str, Any]]:
    """Every combination of the sweep's values, in config order."""
    keys = list(values)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(values[k] for k in keys))]


def _family_problems(name: str, fam_cfg: dict, landscape: dict, config: dict) -> list[str]:
    """What a family's settings get wrong across keys, checked on every grid point of its sweep:
    the family's own rules (losstopo.sweep.hparams), checkpoints after the last epoch, and landscape
    settings the sampling and topology stages cannot take."""
    hparams, prefix = get_hparams(name), f"families.{name}"
    base = {**defaults(hparams), **fam_cfg["params"]}
    found: dict[str, list[dict]] = {}  # problem -> the grid points that have it
    for swept in _grid(fam_cfg["sweep"]):
        hp = {**base, **swept}
        for problem in hparams.check(hp):
            found.setdefault(f"config key '{prefix}' params and sweep: {problem}", []).append(swept)
        last = hparams.epoch_count(hp)
        late = [epoch for epoch in fam_cfg["checkpoints"] if epoch > last]
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
    if landscape["sampling"] == "grid" and landscape["dim"] > MAX_GRID_DIM:
        problems.append(
            f"config key '{prefix}.landscape.dim': {landscape['dim']} - a grid landscape has at most "
            f"{MAX_GRID_DIM} dimensions (use sampling random or sobol)"
        )
    extra = landscape["extra_spans"]
    if extra and (landscape["sampling"] != "grid" or shard_count(landscape) > 1):
        problems.append(
            f"config key '{prefix}.landscape.extra_spans': {extra} - extra spans need a grid landscape sampled by "
            f"one job (sampling is {landscape['sampling']!r}, shard_points {landscape['shard_points']})"
        )
    if landscape["span"] in extra:
        problems.append(
            f"config key '{prefix}.landscape.extra_spans': {extra} repeats the landscape's own span "
            f"{landscape['span']!r}, which is sampled anyway"
        )
    knn = config["topology"]["knn"] or 4 * landscape["dim"]
    if landscape["sampling"] != "grid" and knn > landscape["n_samples"]:
        problems.append(
            f"config key 'topology.knn': {knn} neighbours but {prefix}.landscape.n_samples is "
            f"{landscape['n_samples']} (k must be at most the number of samples)"
        )
    return problems


def validate_config(config: dict) -> dict:
    """A deep copy of ``config`` with every value typed and defaults filled in; ConfigError lists every
    problem, each naming its dotted key and value (type, range, and the checks across keys)."""
    config = copy.deepcopy(config)
    schema = load_schema()
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
    if "{" in config["results"] or "}" in config["results"]:
        problems.append(
            f"config key 'results': {config['results']!r} - a path may not contain {{ or }} "
            "(Snakemake reads them as wildcards)"
        )
    landscape_schema = schema["definitions"]["landscape"]
    hessian_schema = schema["properties"]["hessian"]
    for name, fam_cfg in config["families"].items():
        family = get_hparams(name)
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
        trace = {**config["hessian"], **fam_cfg["hessian"]}["trace"]
        if trace["min_probes"] > trace["max_probes"]:
            family_problems.append(
                f"config key '{prefix}.hessian.trace': min_probes {trace['min_probes']} is "
                f"more than max_probes {trace['max_probes']}"
            )
        problems += family_problems or ([] if typing else _family_problems(name, fam_cfg, merged, config))
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return config


def expand_runs(config: dict) -> dict[str, Run]:
    """Every run of a validated config, keyed by run id, in a stable order."""
    runs: dict[str, Run] = {}
    for name, fam_cfg in config["families"].items():
        base = {**defaults(get_hparams(name)), **fam_cfg["params"]}
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
    return validate_config(config)


def main(args) -> int:
    runs = expand_runs(load_config_file(args.config))
    for run_id in runs:
        print(run_id)
    print(f"{len(runs)} runs", flush=True)
    return 0
