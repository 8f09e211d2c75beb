"""Stage 1: train one model of the sweep and write ``model.pt``, ``train.json`` and ``history.csv``.

A run that diverges is a result, not an error: its files are written with ``status: "diverged"`` and
the command exits 0, so the sweep goes on and the table reports it.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import torch
from torch import nn

from losstopo.device import resolve_device
from losstopo.families import defaults, get_family
from losstopo.io import InputFileError, atomic_path, load_json, save_csv, save_json

log = logging.getLogger(__name__)


def resolve_hparams(family: ModuleType, hp: dict[str, Any]) -> dict[str, Any]:
    """``hp`` with the family's defaults filled in; an unknown key or a value off its schema is a ValueError."""
    unknown = sorted(set(hp) - set(family.PARAMS))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for family "
                         f"{family.__name__.rsplit('.', 1)[-1]}; known: {', '.join(sorted(family.PARAMS))}")
    full = defaults(family) | dict(hp)
    for key, value in full.items():
        schema = {k: v for k, v in family.PARAMS[key].items() if k not in ("default", "description")}
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as exc:
            raise ValueError(f"hyperparameter {key!r}={value!r}: {exc.message}") from None
    return full


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices), so a run is reproducible from its seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_training(family: str, hp: dict[str, Any], seed: int, out_dir: str | os.PathLike,
                 device: str | torch.device = "auto") -> dict[str, Any]:
    """Train one model and write its three files atomically into ``out_dir``; returns train.json's content."""
    fam = get_family(family)
    hp = resolve_hparams(fam, hp)
    dev = resolve_device(device)
    out_dir = Path(out_dir)
    seed_everything(seed)
    log.info("training %s seed %d on %s with %s", family, seed, dev, hp)
    model = fam.build_model(hp)
    start = time.perf_counter()
    result = fam.train(model, hp, seed, dev)
    wall = time.perf_counter() - start

    with atomic_path(out_dir / "model.pt") as tmp:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save({"state_dict": state, "hp": hp, "family": family, "seed": int(seed)}, tmp)
    save_csv(out_dir / "history.csv", pd.DataFrame(result.history))
    info = {"family": family, "seed": int(seed), "hp": hp, "status": result.status, "reason": result.reason,
            "metrics": result.metrics, "wall_time_s": wall, "device": str(dev), "torch_version": torch.__version__}
    save_json(out_dir / "train.json", info)
    log.info("wrote %s (status %s, %.1f s)", out_dir, result.status, wall)
    return info


def load_trained(run_dir: str | os.PathLike, device: str | torch.device = "auto"
                 ) -> tuple[ModuleType, nn.Module, dict[str, Any], int, dict[str, Any]]:
    """A trained run back in memory: (family module, model on ``device``, hp, seed, train.json)."""
    run_dir = Path(run_dir)
    path = run_dir / "model.pt"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise InputFileError(f"{path}: not a readable model checkpoint ({exc})") from None
    missing = [k for k in ("state_dict", "hp", "family", "seed") if k not in saved]
    if missing:
        raise InputFileError(f"{path}: missing key(s) {', '.join(missing)}")
    info = load_json(run_dir / "train.json")
    family = get_family(saved["family"])
    model = family.build_model(saved["hp"])
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as exc:
        raise InputFileError(f"{path}: state_dict does not fit the model built from its hp ({exc})") from None
    return family, model.to(resolve_device(device)), saved["hp"], int(saved["seed"]), info


def main(args) -> int:
    """``losstopo train``: one run; exit 0 for a finished run whether it converged or diverged."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    info = run_training(args.family, args.params, args.seed, args.out_dir, args.device)
    metrics = " ".join(f"{k}={v:.4g}" for k, v in info["metrics"].items() if isinstance(v, (int, float)))
    print(f"train {args.family} seed {args.seed}: {info['status']} {metrics}", file=sys.stderr)
    return 0
