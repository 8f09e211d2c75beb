"""The config schema (``config.schema.yaml``): the one place every setting's default is written down.

The config validator (``losstopo.sweep.config``) fills defaults from it, ``config/README.md`` is rendered
from it, and the ``losstopo`` command line and the stages read their defaults from it, so no default is
stated twice. Only PyYAML: the command line imports this for its help texts.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml


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
