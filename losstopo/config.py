"""Validate a sweep config and expand it into runs with canonical, readable output paths.

Validation happens before any job is scheduled: every error names the config key it is about.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from losstopo.families import defaults, get_family

SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.+-]+$")


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


def load_schema() -> dict:
    return yaml.safe_load(resources.files("losstopo").joinpath("config.schema.yaml").read_text())


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
            out.extend(f"config key '{_key(prefix, [*err.path, k])}': unknown key (known here: {known})"
                       for k in extra)
        else:
            out.append(f"config key '{key}': {err.message}")
    return out


def canonical(value: Any, key: str = "value") -> str:
    """The one spelling of a hyperparameter value in paths: 30 and 30.0 both become "30"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"config key '{key}': non-finite value {value!r}")
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, str) and SAFE_TEXT.match(value):
        return value
    raise ConfigError(f"config key '{key}': value {value!r} cannot be part of an output path "
                      "(use numbers, booleans, or text of letters, digits and _.+-)")


def validate_config(config: dict) -> dict:
    """A deep copy of ``config`` with defaults filled in; ConfigError lists every problem."""
    config = copy.deepcopy(config)
    problems = _errors(config, load_schema(), "")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    landscape_schema = load_schema()["definitions"]["landscape"]
    hessian_schema = load_schema()["properties"]["hessian"]
    for name, fam_cfg in config["families"].items():
        family = get_family(name)
        prefix = f"families.{name}"
        params_schema = {"type": "object", "additionalProperties": False, "properties": family.PARAMS}
        problems += _errors(fam_cfg["params"], params_schema, f"{prefix}.params", fill_defaults=False)
        for key, values in fam_cfg["sweep"].items():
            if key not in family.PARAMS:
                problems.append(f"config key '{prefix}.sweep.{key}': unknown hyperparameter of family "
                                f"{name!r} (known: {', '.join(sorted(family.PARAMS))})")
                continue
            if key in fam_cfg["params"]:
                problems.append(f"config key '{prefix}.sweep.{key}': also fixed in {prefix}.params; "
                                "give it in one place")
            for i, value in enumerate(values):
                problems += _errors(value, family.PARAMS[key], f"{prefix}.sweep.{key}[{i}]", fill_defaults=False)
            try:
                spellings = [canonical(v, f"{prefix}.sweep.{key}") for v in values]
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            if len(set(spellings)) != len(spellings):
                problems.append(f"config key '{prefix}.sweep.{key}': repeated value in {values!r}")
        merged = {**config["landscape"], **fam_cfg["landscape"]}
        problems += _errors(merged, landscape_schema, f"{prefix}.landscape")
        problems += _errors({**config["hessian"], **fam_cfg["hessian"]}, hessian_schema, f"{prefix}.hessian")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return config


def expand_runs(config: dict) -> dict[str, Run]:
    """Every run of a validated config, keyed by run id, in a stable order."""
    runs: dict[str, Run] = {}
    for name, fam_cfg in config["families"].items():
        base = {**defaults(get_family(name)), **fam_cfg["params"]}
        landscape = {**config["landscape"], **fam_cfg["landscape"]}
        hessian = {**config["hessian"], **fam_cfg["hessian"]}
        keys = list(fam_cfg["sweep"])
        for combo in itertools.product(*(fam_cfg["sweep"][k] for k in keys)):
            swept = dict(zip(keys, combo))
            for seed in fam_cfg["seeds"]:
                parts = [name] + [f"{k}~{canonical(v, k)}" for k, v in swept.items()] + [f"seed~{seed}"]
                run_id = "/".join(parts)
                runs[run_id] = Run(run_id, name, seed, swept, {**base, **swept}, landscape,
                                   dict(config["topology"]), hessian, tuple(sorted(fam_cfg["checkpoints"])))
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
