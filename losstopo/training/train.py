"""Stage 1: train one model of the sweep and write ``model.pt``, ``train.json``, ``history.csv`` and
``checkpoints.pt`` (the models at the requested epochs, for landscapes along training, and with
``--trajectory`` the parameters of every epoch, for trajectory directions).

A run that diverges is a result, not an error: its files are written with ``status: "diverged"`` and
the command exits 0, so the sweep goes on and the table reports it.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from losstopo.device import resolve_device
from losstopo.io import InputFileError, atomic_path, load_json, save_csv, save_json
from losstopo.objective import Objective
from losstopo.sweep.config import validate_hparams
from losstopo.sweep.families import family_reference, get_family, get_hparams, module_spec
from losstopo.trained import load_saved

log = logging.getLogger(__name__)


def resolve_hparams(family: ModuleType, hp: dict[str, Any]) -> dict[str, Any]:
    """``hp`` with the family's defaults filled in, typed and checked as the config checks
    ``families.<name>.params`` (losstopo.sweep.config.validate_hparams: non-finite numbers, unknown keys,
    values off the family's table and its checks across keys are a ConfigError, a ValueError)."""
    return validate_hparams(family.__name__.rsplit(".", 1)[-1], hp)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices), so a run is reproducible from its seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_objective(
    family: ModuleType, where: str, model: nn.Module, hp: dict[str, Any], seed: int, device: torch.device
) -> None:
    """Evaluate ``family.objective`` on a copy of the freshly built ``model`` (float64), before training:
    ValueError naming ``where``'s objective() when it does not return an Objective, its loss is not a finite
    scalar, or it is not a fixed function of the parameters (a module in training mode whose output depends
    on it, or a loss that draws random numbers: :meth:`Objective.check_deterministic`, which the landscape
    stages apply too). The random states (Python, numpy, torch) are restored, so training draws the same
    numbers."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    cuda = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):
            objective = family.objective(copy.deepcopy(model), hp, seed, device, torch.float64)
            if not isinstance(objective, Objective):
                raise ValueError(f"{where}: objective() returned a {type(objective).__name__}, expected an Objective")
            try:
                loss = objective.check_deterministic()  # one evaluation
            except ValueError as exc:
                raise ValueError(f"{where}: objective(): {exc}") from None
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"{where}: the loss of objective() returned {shape}, expected a scalar tensor")
    if not torch.isfinite(loss):
        raise ValueError(
            f"{where}: the loss of objective() is {loss.item()} at the freshly built model (before training): "
            "expected a finite number"
        )


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _flat_cpu(model: nn.Module) -> torch.Tensor:
    """The parameters as one flat CPU vector (``named_parameters`` order, the model's dtype)."""
    return torch.cat([p.detach().reshape(-1).cpu() for p in model.parameters()])


def run_training(
    family: str,
    hp: dict[str, Any],
    seed: int,
    out_dir: str | os.PathLike,
    device: str | torch.device = "auto",
    checkpoints: tuple[int, ...] = (),
    run_id: str | None = None,
    swept: dict[str, Any] | None = None,
    trajectory: bool = False,
    family_code: str | None = None,
) -> dict[str, Any]:
    """Train one model and write its files atomically into ``out_dir``; returns train.json's content.

    ``family`` is a built-in's name, a plug-in family's name (``LOSSTOPO_FAMILIES``) or its module (a
    ``.py`` path or a dotted name: ``losstopo.sweep.families.family_reference``). A plug-in family's
    objective is evaluated once on the fresh model before training (:func:`check_objective`), and with
    ``family_code`` (the code hash the workflow planned the job with) its module must still have that
    hash: ValueError otherwise.

    ``checkpoints`` lists epochs whose models are kept in ``checkpoints.pt`` (always written, possibly
    empty, so the workflow's outputs are fixed), with their performance metrics (``metrics``: epoch ->
    the family's metrics of those weights); an epoch the run never reaches is simply absent. With
    ``trajectory`` it also keeps the parameters before training and after every epoch (for the PINN every
    LOG_EVERY optimiser steps), under ``trajectory``: ``epochs`` (0 = the initial weights) and
    ``parameters`` (T, P) in the model's dtype and flat layout (trajectory directions); empty otherwise.
    ``run.json`` records the run's identity for the summaries: ``run_id`` (default: ``out_dir`` as
    given), family, seed, ``swept`` (the swept hyperparameters' values, default none), every
    hyperparameter and the checkpoint epochs.
    """
    family, module = family_reference(family)
    fam = get_family(family, module)
    module = module_spec(family, module)
    plugin = {} if module is None else {"family_module": module}
    if module is not None:
        plugin["family_code"] = get_hparams(family, module).code_hash
        if family_code is not None and family_code != plugin["family_code"]:
            raise ValueError(
                f"family {family!r}: its module {module} changed after the workflow planned this job (code "
                f"hash {plugin['family_code'][:12]}, planned {family_code[:12]}); run the workflow again"
            )
    hp = validate_hparams(family, hp, module=module)
    dev = resolve_device(device)
    out_dir = Path(out_dir)
    seed_everything(seed)
    log.info("training %s seed %d on %s with %s", family, seed, dev, hp)
    model = fam.build_model(hp)
    if module is not None:
        check_objective(fam, f"family {family!r} ({module})", model, hp, seed, dev)
    kept: dict[int, dict[str, torch.Tensor]] = {}
    kept_metrics: dict[int, dict[str, Any]] = {}
    path: dict[int, torch.Tensor] = {0: _flat_cpu(model)} if trajectory else {}

    def keep_checkpoint(epoch: int, trained: nn.Module, metrics: dict[str, Any]) -> None:
        if epoch in checkpoints:
            kept[int(epoch)] = _cpu_state(trained)
            kept_metrics[int(epoch)] = metrics
        if trajectory:
            path[int(epoch)] = _flat_cpu(trained)

    start = time.perf_counter()
    result = fam.train(model, hp, seed, dev, on_epoch=keep_checkpoint if checkpoints or trajectory else None)
    wall = time.perf_counter() - start
    check_metrics(family, result.metrics, fam.PERFORMANCE_METRICS)

    identity = {"hp": hp, "family": family, "seed": int(seed), **({"family_module": module} if module else {})}
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save({"state_dict": _cpu_state(model), **identity}, tmp)
    with atomic_path(out_dir / "checkpoints.pt") as tmp:
        final = _flat_cpu(model)
        states = torch.stack([v.to(final.dtype) for v in path.values()]) if path else final.new_zeros(0, final.numel())
        kept_path = {"epochs": list(path), "parameters": states}
        torch.save({"epochs": kept, "metrics": kept_metrics, "trajectory": kept_path, **identity}, tmp)
    save_csv(out_dir / "history.csv", pd.DataFrame(result.history))
    info = {
        "family": family,
        "seed": int(seed),
        "hp": hp,
        "status": result.status,
        "reason": result.reason,
        "metrics": result.metrics,
        "wall_time_s": wall,
        "device": str(dev),
        "torch_version": torch.__version__,
    }
    save_json(out_dir / "train.json", info)
    save_json(
        out_dir / "run.json",
        {
            "run_id": str(out_dir) if run_id is None else run_id,
            "family": family,
            "seed": int(seed),
            "swept": dict(swept or {}),
            "hp": hp,
            "checkpoints": sorted(int(e) for e in checkpoints),
            "performance": dict(fam.PERFORMANCE_METRICS),
            "performance_order": list(fam.PERFORMANCE_METRICS),  # the headline first (save_json sorts the keys)
            **plugin,
        },
    )
    log.info("wrote %s (status %s, %.1f s)", out_dir, result.status, wall)
    return info


def check_metrics(family: str, metrics: dict[str, Any], declared: dict[str, str]) -> None:
    """The contract of ``train()``'s result: its ``metrics`` hold every metric of ``PERFORMANCE_METRICS``
    (NaN for one it could not compute); ValueError naming the family, ``train()`` and the missing ones. A
    metric it reports but does not declare is kept in train.json only, and the log says so."""
    missing = [name for name in declared if name not in metrics]
    if missing:
        raise ValueError(
            f"family {family!r}: train() returned metrics {sorted(metrics)} without {', '.join(missing)}, which "
            "PERFORMANCE_METRICS declares; return every declared metric (NaN where it cannot be computed)"
        )
    undeclared = sorted(set(metrics) - set(declared) - {"epochs_completed", "num_parameters", "train_seconds"})
    if undeclared:
        log.info(
            "train() also reported %s, not in PERFORMANCE_METRICS: kept in train.json, not in runs.csv",
            ", ".join(undeclared),
        )


def extract_checkpoint(run_dir: str | os.PathLike, epoch: int, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Write the model of ``epoch`` as a run folder of its own (``model.pt``, ``train.json``), so every
    later stage treats it like a finished run. Its metrics are the family's performance metrics of those
    weights, kept by ``run_training`` (NaN if the run never reached the epoch); InputFileError if
    ``checkpoints.pt`` lacks any of them."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    path = run_dir / "checkpoints.pt"
    saved = load_saved(path, ("epochs", "metrics", "hp", "family", "seed"))
    info = load_json(run_dir / "train.json")
    performance = get_family(saved["family"], saved.get("family_module")).PERFORMANCE_METRICS
    state = saved["epochs"].get(int(epoch))
    metrics = saved["metrics"].get(int(epoch), {key: float("nan") for key in performance})
    missing = [key for key in performance if key not in metrics]
    if missing:
        raise InputFileError(f"{path}: epoch {epoch} lacks performance metric(s) {', '.join(missing)}")
    if state is None:  # the run stopped (diverged) before this epoch: record it, like a diverged run
        status, reason = "diverged", f"training ended before epoch {epoch} ({info.get('reason') or info['status']})"
        final = load_saved(run_dir / "model.pt", ("state_dict",))["state_dict"]
        state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in final.items()}
    else:
        finite = all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
        status, reason = ("ok", None) if finite else ("diverged", f"non-finite parameters at epoch {epoch}")
    with atomic_path(out_dir / "model.pt") as tmp:
        identity = {key: saved[key] for key in ("hp", "family", "seed", "family_module") if key in saved}
        torch.save({"state_dict": state, **identity}, tmp)
    checkpoint_info = {
        **info,
        "status": status,
        "reason": reason,
        "metrics": metrics,
        "epoch": int(epoch),
        "final_status": info["status"],
    }
    save_json(out_dir / "train.json", checkpoint_info)
    return checkpoint_info


def main(args) -> int:
    """``losstopo train``: one run; exit 0 for a finished run whether it converged or diverged."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    info = run_training(
        args.family,
        args.params,
        args.seed,
        args.out_dir,
        args.device,
        tuple(args.checkpoints),
        args.run_id,
        args.swept,
        args.trajectory,
        args.family_code,
    )
    metrics = " ".join(f"{k}={v:.4g}" for k, v in info["metrics"].items() if isinstance(v, (int, float)))
    print(f"train {args.family} seed {args.seed}: {info['status']} {metrics}", file=sys.stderr)
    return 0


def checkpoint_main(args) -> int:
    """``losstopo checkpoint``: one epoch's model of a trained run as a run folder of its own."""
    info = extract_checkpoint(args.run_dir, args.epoch, args.out_dir)
    print(f"checkpoint epoch {args.epoch} of {args.run_dir}: {info['status']}", file=sys.stderr)
    return 0
