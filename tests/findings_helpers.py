"""Synthetic sweeps for the findings tests: a PINN-like runs.csv with planted correlations and transitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PERF = {"pinn": ("rel_l2_error", "final_loss")}


def make_runs(
    betas=range(1, 11), seeds=range(4), lrs=(1.0,), jump_after=5, near_spread=6, far_spread=1, hessian=True, seed=0
) -> pd.DataFrame:
    """A PINN-like sweep: error jumps after ``jump_after``; n_minima rises with beta and alternates across
    seeds by ``near_spread`` at the two betas around the jump and by ``far_spread`` elsewhere (plus 0/1 noise)."""
    rng = np.random.default_rng(seed)
    betas = list(betas)
    near = {jump_after, betas[betas.index(jump_after) + 1]} if jump_after in betas[:-1] else set()
    rows = []
    for beta in betas:
        for lr in lrs:
            for s in seeds:
                error = (0.01 if beta <= jump_after else 0.9) * np.exp(rng.normal(0, 0.05))
                spread = near_spread if beta in near else far_spread
                n_minima = 3 + 2 * beta + spread * (s % 2) + int(rng.integers(0, 2))
                run_id = f"pinn/beta~{beta}/" + (f"lr~{lr:g}/" if len(lrs) > 1 else "") + f"seed~{s}"
                row = {
                    "family": "pinn",
                    "run_id": run_id,
                    "seed": s,
                    "status": "ok",
                    "train_reason": None,
                    "beta": beta,
                    "rel_l2_error": error,
                    "final_loss": error**2,
                    "n_minima": n_minima,
                    "n_saddles": n_minima - 1,
                    "avg_persistence": 0.1 * beta + rng.normal(0, 0.01),
                    "landscape_dim": 2,
                    "run_dir": "unused",
                }
                if len(lrs) > 1:
                    row["lr"] = lr
                if hessian:
                    row |= {"hessian_top_eigenvalue": 10.0 * beta + rng.normal(), "hessian_trace_stderr": 0.1}
                rows.append(row)
    return pd.DataFrame(rows)
