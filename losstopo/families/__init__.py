"""Model families. Each is a module with the same small surface, looked up by name.

A family module defines:

``PARAMS``
    ``{name: JSON-schema dict}`` for every hyperparameter, each with a ``default`` and a
    ``description``, imported from the family's torch-free ``losstopo.families.hparams.<name>`` (with
    its checks across keys and its epoch count). The config validator and ``config/README.md`` are
    built from it, and any key in it can be swept.
``PERFORMANCE_METRICS``
    The keys of ``TrainResult.metrics`` that ``runs.csv`` reports for this family.
``build_model(hp) -> nn.Module``
    A freshly initialised model (the caller seeds torch first).
``train(model, hp, seed, device, on_epoch=None) -> TrainResult``
    Fit the model in place; ``on_epoch(epoch, model, metrics)``, if given, is called after each epoch
    (or optimiser phase) so the caller can save checkpoints. ``metrics`` holds every key of
    ``PERFORMANCE_METRICS``, defined as in the final ``TrainResult.metrics`` and computed on the model's
    weights at that epoch. Never raises on divergence: returns ``status="diverged"`` with the reason.
``objective(model, hp, seed, device, dtype) -> Objective``
    The fixed, seeded evaluation loss that landscapes and Hessians are computed from.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

FAMILY_MODULES = {
    "pinn": "losstopo.families.pinn",
    "resnet": "losstopo.families.resnet",
    "unet": "losstopo.families.unet",
}


def _known(name: str) -> str:
    if name not in FAMILY_MODULES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILY_MODULES))}")
    return name


def get_family(name: str) -> ModuleType:
    """The module implementing family ``name``; a ValueError lists the known families."""
    return importlib.import_module(FAMILY_MODULES[_known(name)])


def get_hparams(name: str) -> ModuleType:
    """The torch-free hyperparameter module of family ``name`` (PARAMS, check, epoch_count); a
    ValueError lists the known families."""
    return importlib.import_module(f"losstopo.families.hparams.{_known(name)}")


def defaults(family: ModuleType) -> dict[str, Any]:
    """Every hyperparameter of a family with its default value."""
    return {key: spec["default"] for key, spec in family.PARAMS.items()}
