"""The registry of model families: the built-ins, plug-in families named by module, and each one's torch-free
hyperparameter table.

Torch-free: the config validator and the Snakefile read the tables (a built-in's
``losstopo.sweep.hparams.<name>``, a plug-in's :class:`losstopo.sweep.plugin.FamilyTable`) while they parse;
``get_family`` imports the family's torch module only when a stage needs it. A job process knows the plug-in
families through the ``LOSSTOPO_FAMILIES`` environment variable, which the workflow's shell prefix sets. The
contract a family module fulfils is written down in ``docs/families.md``.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from losstopo.sweep.plugin import FamilyTable, is_path, load_family, read_table, resolve_module

FAMILY_MODULES = {  # the built-in families
    "pinn": "losstopo.training.families.pinn",
    "resnet": "losstopo.training.families.resnet",
    "unet": "losstopo.training.families.unet",
}
PLUGINS_ENV = "LOSSTOPO_FAMILIES"  # JSON {name: module spec} of the plug-in families a job may meet


def plugin_modules() -> dict[str, str]:
    """``{name: module spec}`` of the plug-in families named in ``LOSSTOPO_FAMILIES`` (none when unset);
    ValueError naming the variable when it is not a JSON object of strings."""
    text = os.environ.get(PLUGINS_ENV, "")
    if not text:
        return {}
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{PLUGINS_ENV}: not valid JSON ({exc})") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ValueError(f'{PLUGINS_ENV}: expected a JSON object {{"name": "module"}}, got {text!r}')
    return mapping


def module_spec(name: str, module: str | None = None) -> str | None:
    """The module spec of family ``name``: None for a built-in; for a plug-in LOSSTOPO_FAMILIES's, else
    ``module``; a ValueError listing the known families when there is neither."""
    if name in FAMILY_MODULES:
        return None
    spec = plugin_modules().get(name) or module
    if spec is None:
        known = ", ".join([*sorted(FAMILY_MODULES), *sorted(plugin_modules())])
        raise ValueError(
            f"unknown model family {name!r}; known: {known} (a family of your own: give its module, "
            f"e.g. --family path/to/{name}.py, or name it in {PLUGINS_ENV}; docs/families.md)"
        )
    return spec


def family_reference(text: str) -> tuple[str, str | None]:
    """``(name, module spec)`` of a family as the command line names it: a built-in or a name in
    LOSSTOPO_FAMILIES (spec None), a ``.py`` path (name: the file's stem; spec: its absolute path) or a
    dotted module name (name: its last part). FamilyError for a missing file; ValueError for a module
    named like a built-in."""
    if not is_path(text) and "." not in text:
        return text, None
    spec = resolve_module(text, Path.cwd())
    name = Path(spec).stem if is_path(spec) else spec.rsplit(".", 1)[-1]
    if name in FAMILY_MODULES:
        raise ValueError(f"family module {text!r}: {name!r} is a built-in family's name; rename the module")
    return name, spec


def get_family(name: str, module: str | None = None) -> ModuleType:
    """The module implementing family ``name`` (imports torch): a built-in, or the plug-in that
    LOSSTOPO_FAMILIES or else ``module`` (a spec recorded with the run) names. ValueError lists the known
    families; FamilyError (a ValueError) names what is wrong with a plug-in module."""
    if name in FAMILY_MODULES:
        return importlib.import_module(FAMILY_MODULES[name])
    return load_family(name, module_spec(name, module))


def get_hparams(name: str, module: str | None = None) -> ModuleType | FamilyTable:
    """The torch-free hyperparameter table of family ``name`` (PARAMS, PERFORMANCE_METRICS, check,
    epoch_count): a built-in's module, or a plug-in's table (looked up as in get_family)."""
    if name in FAMILY_MODULES:
        return importlib.import_module(f"losstopo.sweep.hparams.{name}")
    return read_table(name, module_spec(name, module))


def defaults(family: ModuleType | FamilyTable) -> dict[str, Any]:
    """Every hyperparameter of a family (its module or its hyperparameter table) with its default value."""
    return {key: spec["default"] for key, spec in family.PARAMS.items()}


def performance_metrics(name: str) -> dict[str, str]:
    """``{metric: "higher" | "lower"}``: the performance metrics ``runs.csv`` reports for family ``name``, each
    with the direction that is better, the headline metric first (torch-free)."""
    return dict(get_hparams(name).PERFORMANCE_METRICS)
