"""The config schema (``config.schema.yaml``): the one place every setting's default is written down.

The config validator (``losstopo.sweep.config``) fills defaults from it, ``config/README.md`` is rendered
from it, and the ``losstopo`` command line and the stages read their defaults from it, so no default is
stated twice. :func:`typed_value` gives a value the type its schema declares (the config's settings and the
families' hyperparameters alike). Only PyYAML: the command line imports this for its help texts.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from importlib import resources
from typing import Any

import yaml

# A number as YAML 1.2 and JSON write it (YAML 1.1, which PyYAML and Snakemake read, wants a dot in
# 1.0e-3 and takes 1e-3 for text).
NUMBER_TEXT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


@functools.cache
def _schema() -> dict:
    return yaml.safe_load(resources.files("losstopo.sweep").joinpath("config.schema.yaml").read_text())


def load_schema() -> dict:
    """The whole JSON schema (draft 7) of a sweep config, as a fresh dict."""
    return copy.deepcopy(_schema())


def default(*key: str) -> Any:
    """The default of one setting, by its dotted key's parts: ``default("topology", "threshold")``;
    ``landscape`` keys are those of the schema's landscape block. KeyError for a key without a default."""
    schema = _schema()
    node = schema["definitions"]["landscape"] if key[0] == "landscape" else schema["properties"][key[0]]
    for part in key[1:]:
        node = node["properties"][part]
    return copy.deepcopy(node["default"])


def landscape_defaults() -> dict[str, Any]:
    """Every key of the landscape block with its default."""
    return {name: default("landscape", name) for name in _schema()["definitions"]["landscape"]["properties"]}


def declared_types(schema: dict) -> set[str]:
    """The JSON types a schema admits, its oneOf / anyOf branches included."""
    types = schema.get("type", [])
    out = {types} if isinstance(types, str) else set(types)
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        out |= declared_types(branch)
    return out


def typed_value(value: Any, schema: dict, key: str, problems: list[str]) -> Any:
    """``value`` as the type its schema declares, so one value has one spelling in run ids and params.

    A number key gets a float (1, 1.0 and 1e0 are 1.0; -0.0 is 0.0); an integer key gets an int (2.0 is
    2; 2.5 is a problem naming ``key``); a number written as text (YAML 1.1 reads 1e-3 as text) is read
    as that number for keys that take no text. Other values are left to the schema check.
    """
    types = declared_types(schema)
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
