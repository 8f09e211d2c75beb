"""Mode connectivity between seeds: the loss on the straight line between two trained models.

:func:`linear_path` takes any model A's objective (``losstopo.make_objective``) and a model B; for two runs
A and B of one setting (same hyperparameters, different seeds) the path is
theta(t) = theta_A + t (theta_B - theta_A), t in [0, 1]. It is sampled with the batched sampler
(:func:`losstopo.landscape.sampling.sample`): centre theta_A, one direction theta_B - theta_A, grid axis t, on
model A's objective (its evaluation set; for the PINN, A's seeded collocation set). The barrier height
is max_t L(theta(t)) - (L(theta_A) + L(theta_B)) / 2 (Frankle et al. 2020, "Linear mode connectivity
and the lottery ticket hypothesis"; Garipov et al. 2018; LossLens' global scale, Geniesse et al. 2024).

BatchNorm: the objective evaluates the network with fixed running statistics (buffers). When the two
models' floating-point buffers differ, each point of the path uses buffers interpolated like the
weights, (1 - t) b_A + t b_B, so both end points are exactly the models A and B; the path is then
sampled one point per sampler call, with the point's buffers written into the objective's own copy of
the network (and A's put back afterwards). Integer buffers (``num_batches_tracked``) are A's.
Recomputing the statistics on training data at each t (REPAIR, Jordan et al. 2023) would lower barriers
of BatchNorm networks and is not done.

Files: one *path file* per seed B of a setting (``connectivity/<setting>/seed~<B>.json``) holds the paths
from every lower seed A of that setting to B, so a new (highest) seed adds one file and only its own
paths; ``connectivity.csv`` has one row per pair.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from losstopo.device import resolve_device, resolve_dtype
from losstopo.io import load_json, save_csv, save_json
from losstopo.landscape.directions import Layout, flat_parameters
from losstopo.landscape.sampling import sample
from losstopo.objective import Objective, require_objective
from losstopo.trained import load_trained

log = logging.getLogger(__name__)


def path_coordinates(n_points: int) -> np.ndarray:
    """(n_points,) values of t from 0 to 1, both included."""
    if int(n_points) < 3:
        raise ValueError(f"connectivity.points must be at least 3, got {n_points}")
    return np.linspace(0.0, 1.0, int(n_points))


def barrier_height(loss: np.ndarray) -> float:
    """max of the path minus the mean of its end points; NaN if any value is not finite."""
    loss = np.asarray(loss, dtype=np.float64)
    if loss.size < 2 or not np.isfinite(loss).all():
        return float("nan")
    return float(loss.max() - 0.5 * (loss[0] + loss[-1]))


def _float_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b for name, b in model.named_buffers() if b.is_floating_point()}


@dataclass(frozen=True)
class LinearPath:
    """The loss on the straight line theta_A + t (theta_B - theta_A): ``t`` (n,) from 0 to 1 and ``loss`` (n,)
    float64, in the objective's loss units."""

    t: np.ndarray
    loss: np.ndarray

    @property
    def barrier(self) -> float:
        """The barrier height (:func:`barrier_height`); NaN if any loss is not finite."""
        return barrier_height(self.loss)

    @property
    def t_max(self) -> float:
        """Where the path is highest (NaN if no loss is finite)."""
        finite = np.isfinite(self.loss)
        return float(self.t[np.argmax(np.where(finite, self.loss, -np.inf))]) if finite.any() else math.nan


def linear_path(objective: Objective, model_b: nn.Module, points: int = 25, progress: bool = False) -> LinearPath:
    """The loss at ``points`` evenly spaced t in [0, 1] on theta_A + t (theta_B - theta_A), on model A's objective.

    ``objective`` is model A's (its model's parameters are theta_A; its evaluation set is used all along);
    ``model_b`` a model of the same architecture. Floating-point buffers that differ between the two
    (BatchNorm statistics) are interpolated like the weights, in the objective's own copy of the network,
    one point per sampler call, and restored afterwards. Raises ValueError when the two models' parameter
    or buffer shapes differ, or ``points`` < 3.
    """
    net = require_objective(objective).model
    if not isinstance(model_b, nn.Module):
        hint = " (pass the second model itself, e.g. objective_b.model)" if isinstance(model_b, Objective) else ""
        raise TypeError(f"model_b: expected a torch.nn.Module, got {type(model_b).__name__}{hint}")
    t = path_coordinates(points)
    if Layout.of(net).shapes != Layout.of(model_b).shapes:
        raise ValueError(
            f"model_b's parameters {Layout.of(model_b).shapes} differ from model A's {Layout.of(net).shapes}: "
            "not one architecture"
        )
    direction = (flat_parameters(model_b) - flat_parameters(net)).cpu().numpy()[None, :]  # (1, P)
    live, buf_b = _float_buffers(net), _float_buffers(model_b)
    if live.keys() != buf_b.keys() or any(live[k].shape != buf_b[k].shape for k in live):
        raise ValueError("the two models have different buffers (BatchNorm statistics): not one architecture")
    buf_a = {name: b.detach().clone() for name, b in live.items()}
    if all(torch.equal(buf_a[k], buf_b[k].to(buf_a[k])) for k in buf_a):  # no BatchNorm statistics to interpolate
        return LinearPath(t, sample(objective, direction, t[None, :], batch_size="auto", progress=progress).loss)
    # Each point has its own BatchNorm statistics, written into the objective's network in place (its loss
    # reads them), then A's are put back.
    out = np.empty(t.size)
    try:
        for i, ti in enumerate(t):
            with torch.no_grad():
                for name, b in live.items():
                    b.copy_(torch.lerp(buf_a[name], buf_b[name].to(b), float(ti)))
            out[i] = sample(objective, direction, np.array([[ti]]), batch_size=1, progress=False).loss[0]
    finally:
        with torch.no_grad():
            for name, b in live.items():
                b.copy_(buf_a[name])
    return LinearPath(t, out)


def pair_path(
    run_a: str | Path, run_b: str | Path, n_points: int, device: str = "auto", precision: str = "float64"
) -> dict[str, Any]:
    """The path between two run folders (each holding model.pt and train.json) as a JSON-able dict:
    ``t``, ``loss``, ``barrier``, end-point losses, and ``status`` (``ok``, or ``skipped`` with
    ``reason`` when a model's parameters are not finite, e.g. after diverged training)."""
    device = resolve_device(device)
    t = path_coordinates(n_points)
    fam_a, model_a, hp_a, seed_a, info_a = load_trained(run_a, device)
    _, model_b, hp_b, seed_b, info_b = load_trained(run_b, device)
    if hp_a != hp_b:
        differ = sorted(k for k in hp_a.keys() | hp_b.keys() if hp_a.get(k) != hp_b.get(k))
        raise ValueError(f"{run_a} and {run_b} differ in hyperparameters {differ}: not seeds of one setting")
    out: dict[str, Any] = {
        "run_a": str(run_a),
        "run_b": str(run_b),
        "seed_a": seed_a,
        "seed_b": seed_b,
        "train_status_a": info_a.get("status"),
        "train_status_b": info_b.get("status"),
        "objective": f"model A's (seed {seed_a})",
        "precision": precision,
        "t": t.tolist(),
    }
    bad = [str(r) for r, m in ((run_a, model_a), (run_b, model_b)) if not torch.isfinite(flat_parameters(m)).all()]
    if bad:
        reason = f"model parameters are not finite (diverged training): {', '.join(bad)}"
        log.warning("skipping the path: %s", reason)
        nan = [float("nan")] * t.size
        return out | {
            "status": "skipped",
            "reason": reason,
            "loss": nan,
            "barrier": float("nan"),
            "loss_a": float("nan"),
            "loss_b": float("nan"),
            "t_max": float("nan"),
        }
    path = linear_path(fam_a.objective(model_a, hp_a, seed_a, device, resolve_dtype(precision)), model_b, n_points)
    return out | {
        "status": "ok",
        "reason": None,
        "loss": path.loss.tolist(),
        "barrier": path.barrier,
        "loss_a": float(path.loss[0]),
        "loss_b": float(path.loss[-1]),
        "t_max": path.t_max,
    }


TABLE_COLUMNS = (
    "family",
    "setting",
    "seed_a",
    "seed_b",
    "loss_a",
    "loss_b",
    "max_loss",
    "t_max",
    "barrier",
    "status",
    "reason",
    "points",
    "path_file",
)  # plus the swept hyperparameters after "setting"


def seed_paths(
    run_b: str | Path, runs_a: list[str | Path], n_points: int, device: str = "auto", precision: str = "float64"
) -> dict[str, Any]:
    """A path file's content: ``run_b``, and ``pairs``, one :func:`pair_path` (A, B) per run A in
    ``runs_a`` (the lower seeds of B's setting), in that order. Raises ValueError when ``runs_a`` is empty
    or a run A differs from B in hyperparameters."""
    if not runs_a:
        raise ValueError(f"{run_b}: no lower seed to connect to (connectivity needs runs A)")
    pairs = []
    for run_a in runs_a:
        pair = pair_path(run_a, run_b, n_points, device, precision)
        log.info("path %s -- %s: %s, barrier %.6g", run_a, run_b, pair["status"], pair["barrier"])
        pairs.append(pair)
    return {"run_b": str(run_b), "pairs": pairs}


def table(path_files: list[str | Path]) -> pd.DataFrame:
    """One row per pair of the path files (``tables/connectivity.csv``): family, setting, the swept values,
    seeds, end-point losses, the path's maximum and where it is, the barrier height, status and reason."""
    rows = []
    for path in path_files:
        for pair in load_json(path)["pairs"]:
            info = load_json(Path(pair["run_a"]) / "run.json")
            loss = np.asarray(pair["loss"], dtype=np.float64)
            rows.append(
                {
                    "family": info["family"],
                    "setting": info["run_id"].rsplit("/", 1)[0],
                    **info["swept"],
                    "seed_a": pair["seed_a"],
                    "seed_b": pair["seed_b"],
                    "loss_a": pair["loss_a"],
                    "loss_b": pair["loss_b"],
                    "max_loss": float(np.nanmax(loss)) if np.isfinite(loss).any() else math.nan,
                    "t_max": pair["t_max"],
                    "barrier": pair["barrier"],
                    "status": pair["status"],
                    "reason": pair["reason"],
                    "points": len(loss),
                    "path_file": str(path),
                }
            )
    return pd.DataFrame(rows, columns=None if rows else list(TABLE_COLUMNS))


def main(args) -> int:
    """``losstopo connectivity``: the paths from each run A to run B -> one path file (JSON)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    result = seed_paths(args.run_b, args.runs_a, args.points, args.device, args.precision)
    save_json(args.out, result)
    print(f"wrote {args.out}: {len(result['pairs'])} paths to {args.run_b}", file=sys.stderr)
    return 0


def table_main(args) -> int:
    """``losstopo connectivity-table``: every path file -> connectivity.csv."""
    frame = table(args.path_files)
    save_csv(args.out, frame)
    print(f"wrote {args.out}: {len(frame)} pairs", file=sys.stderr)
    return 0
