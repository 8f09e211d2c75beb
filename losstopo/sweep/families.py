"""The registry of model families: which module implements each, and its torch-free hyperparameter table.

Torch-free: the config validator and the Snakefile read the tables (``losstopo.sweep.hparams.<name>``)
while they parse; ``get_family`` imports the family's torch module only when a stage needs it. The
contract a family module fulfils is written down in ``losstopo.training.families``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

FAMILY_MODULES = {
    "pinn": "losstopo.training.families.pinn",
    "resnet": "losstopo.training.families.resnet",
    "unet": "losstopo.training.families.unet",
}


def _known(name: str) -> str:
    if name not in FAMILY_MODULES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILY_MODULES))}")
    return name


def get_family(name: str) -> ModuleType:
    """The module implementing family ``name`` (imports torch); a ValueError lists the known families."""
    return importlib.import_module(FAMILY_MODULES[_known(name)])


def get_hparams(name: str) -> ModuleType:
    """The torch-free hyperparameter module of family ``name`` (PARAMS, PERFORMANCE_METRICS, check,
    epoch_count); a ValueError lists the known families."""
    return importlib.import_module(f"losstopo.sweep.hparams.{_known(name)}")


def defaults(family: ModuleType) -> dict[str, Any]:
    """Every hyperparameter of a family (its module or its hyperparameter table) with its default value."""
    return {key: spec["default"] for key, spec in family.PARAMS.items()}


BETTER = ("higher", "lower")  # the direction in which a performance metric is better


def performance_metrics(name: str) -> dict[str, str]:
    """``{metric: "higher" | "lower"}``: the performance metrics ``runs.csv`` reports for family ``name``, each
    with the direction that is better, the headline metric first (torch-free)."""
    return dict(get_hparams(name).PERFORMANCE_METRICS)
