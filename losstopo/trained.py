"""A trained run back in memory: the model files ``losstopo train`` writes, loaded for every later stage.

Directions, sampling, the Hessian and connectivity all start from a run folder (``model.pt`` and
``train.json``); this is the one place that reads it. Files are loaded with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from losstopo.device import resolve_device
from losstopo.io import InputFileError, load_json
from losstopo.sweep.families import get_family


def load_saved(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """A model file written by ``losstopo train`` (model.pt, checkpoints.pt) with at least ``keys``;
    InputFileError naming the file if it is missing, unreadable or lacks a key."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise InputFileError(f"{path}: not a readable losstopo model file ({exc})") from None
    missing = [k for k in keys if k not in saved]
    if missing:
        raise InputFileError(f"{path}: missing key(s) {', '.join(missing)}")
    return saved


def load_trained(
    run_dir: str | os.PathLike, device: str | torch.device = "auto"
) -> tuple[ModuleType, nn.Module, dict[str, Any], int, dict[str, Any]]:
    """A trained run back in memory: (family module, model on ``device``, hp, seed, train.json).
    InputFileError naming the file when one is missing or unreadable, or when model.pt and train.json
    name another family or seed (one of them is from another run)."""
    run_dir = Path(run_dir)
    path = run_dir / "model.pt"
    saved = load_saved(path, ("state_dict", "hp", "family", "seed"))
    info = load_json(run_dir / "train.json")
    if (info.get("family"), info.get("seed")) != (saved["family"], int(saved["seed"])):
        raise InputFileError(
            f"{path}: a {saved['family']} model of seed {saved['seed']}, but {run_dir / 'train.json'} records "
            f"{info.get('family')} seed {info.get('seed')}: the files are from different runs; rerun its train job"
        )
    family = get_family(saved["family"], saved.get("family_module"))  # a plug-in's module, as trained
    model = family.build_model(saved["hp"])
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as exc:
        raise InputFileError(f"{path}: state_dict does not fit the model built from its hp ({exc})") from None
    return family, model.to(resolve_device(device)), saved["hp"], int(saved["seed"]), info
