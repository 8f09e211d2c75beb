"""A synthetic results folder in the workflow's file formats, for testing and measuring the explorer
without training anything: ``python -m losstopo.explorer.synthetic OUT --runs 1000``.

Runs form a PINN-like grid (``beta`` x ``width``) times seeds. Landscapes are seeded random fields
(a quadratic bowl plus wells whose number grows with beta), their topology is computed by the real
engine and written by the real writer; train.json, history.csv, hessian.json / density.npz (an SLQ
measure with a near-zero bulk, negative nodes for beta > 10, none for a diverged run) and the
connectivity path files hold seeded made-up numbers in the real layouts (no profile.svg: the page
draws profiles itself from the topology). Optional flaws: runs whose training diverged
(``--diverged``), runs whose sampling failed (no landscape.npz, with a log line) and grid points with
no run folder at all (``--missing``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.curvature.hessian import DensityResult
from losstopo.io import save_csv, save_json, save_npz
from losstopo.landscape.sampling import grid_axes
from losstopo.topology import compute_topology, write_topology


def grid_shape(n_runs: int, seeds: int) -> tuple[int, int]:
    """(n_beta, n_width) with n_beta * n_width * seeds >= n_runs, as square as possible."""
    settings = math.ceil(n_runs / seeds)
    n_beta = math.ceil(math.sqrt(settings))
    return n_beta, math.ceil(settings / n_beta)


def field(rng: np.random.Generator, beta: float, resolution: int, dim: int) -> np.ndarray:
    axes = grid_axes(dim, resolution, 1.0)
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"))
    loss = 0.5 * (mesh**2).sum(0)
    for _ in range(int(2 + beta / 5)):
        centre = rng.uniform(-1, 1, (dim,) + (1,) * dim)
        loss -= rng.uniform(0.05, 0.3) * np.exp(-((mesh - centre) ** 2).sum(0) / rng.uniform(0.01, 0.1))
    return np.exp(loss + 0.01 * beta * rng.standard_normal(loss.shape))  # positive, rougher for large beta


def _unit(
    unit_dir: Path,
    rng: np.random.Generator,
    beta: float,
    width: int,
    info: dict,
    status: str,
    resolution: int,
    dim: int,
    epoch: int | None = None,
) -> None:
    error = float(np.clip(0.02 * beta / math.sqrt(width) * rng.lognormal(0, 0.3), 1e-4, 2))
    reason = "non-finite training loss in epoch 7 (lr=1.0)" if status == "diverged" else None
    metrics = {"rel_l2_error": math.nan if reason else error, "final_loss": error**2}
    train = {
        "family": info["family"],
        "seed": info["seed"],
        "hp": info["hp"],
        "status": status,
        "reason": reason,
        "metrics": metrics,
    }
    if epoch is not None:
        train["epoch"] = epoch
    save_json(unit_dir / "train.json", train)
    epochs = np.arange(1, 21)
    save_csv(
        unit_dir / "history.csv",
        pd.DataFrame({"epoch": epochs, "loss": error * (1 + 10 / epochs), "rel_l2_error": error * (1 + 3 / epochs)}),
    )
    save_npz(unit_dir / "directions.npz", directions=np.zeros((dim, 1)), metadata={"kind": "synthetic"})
    loss = field(rng, beta, resolution, dim)
    save_npz(
        unit_dir / "landscape.npz",
        loss=loss,
        axes=grid_axes(dim, resolution, 1.0),
        center_loss=np.float64(loss[(resolution // 2,) * dim]),
        metadata={"synthetic": True},
    )
    write_topology(compute_topology(loss, graph="freudenthal"), unit_dir / "topology", 0.01)
    top = sorted(rng.lognormal(math.log(10 * beta + 1), 0.3, 2), reverse=True)
    if status == "diverged":  # as losstopo.curvature.hessian.analyze at a non-finite loss: no analysis, empty arrays
        save_json(
            unit_dir / "hessian" / "hessian.json", {"status": "nonfinite", "top": None, "trace": None, "density": None}
        )
        save_npz(unit_dir / "hessian" / "density.npz", **{k: np.zeros(0) for k in DensityResult.ARRAYS})
        return
    dens = _quadrature(rng, top, negative=beta > 10)
    save_json(
        unit_dir / "hessian" / "hessian.json",
        {
            "status": "ok",
            "top": {"eigenvalues": top, "converged": True},
            "trace": {"value": float(sum(top) * 3), "stderr": 0.1},
            "density": dens.summary(),
        },
    )
    save_npz(unit_dir / "hessian" / "density.npz", **dens.arrays())


def _quadrature(
    rng: np.random.Generator, top: list[float], negative: bool, probes: int = 4, steps: int = 20
) -> DensityResult:
    """A made-up SLQ measure of ``probes`` x ``steps`` nodes: ~70% of the weight on a near-zero bulk of both
    signs (|lambda| < 1e-3 top[0]), positive nodes spread over two decades up to the top eigenvalues and,
    when ``negative``, three negative ones between -5% and -0.5% of top[0]; ``density`` the SLQ curve's
    broadening (one Gaussian of 1% of the node range)."""
    n = probes * steps
    n_neg = 3 if negative else 0
    n_pos = (n - n_neg) // 4
    bulk = rng.uniform(-9e-4, 9e-4, n - n_neg - n_pos) * top[0]
    positive = np.concatenate([top, 10 ** rng.uniform(-2, 0, n_pos - 2) * top[1]])
    nodes = np.concatenate([bulk, positive, -(10 ** rng.uniform(-2.3, -1.3, n_neg)) * top[0]])
    weights = np.concatenate(
        [rng.uniform(0.5, 1.5, bulk.size) * 7 / bulk.size, rng.uniform(0.5, 1.5, n - bulk.size) * 3 / (n - bulk.size)]
    )
    weights /= weights.sum()
    sigma = 0.01 * np.ptp(nodes)
    grid = np.linspace(nodes.min() - 5 * sigma, nodes.max() + 5 * sigma, 200)
    curve = (weights * np.exp(-0.5 * ((grid[:, None] - nodes) / sigma) ** 2)).sum(axis=1)
    return DensityResult(
        grid=grid,
        density=curve / np.trapezoid(curve, grid),
        nodes=nodes,
        weights=weights,
        probe=np.repeat(np.arange(probes), steps),
        steps=np.full(probes, steps),
        sigma=sigma,
        n_params=1000,
        n_hvp=n,
    )


def make_results(
    out: str | Path,
    n_runs: int = 24,
    seeds: int = 2,
    resolution: int = 31,
    dim: int = 2,
    diverged: int = 0,
    failed: int = 0,
    missing: int = 0,
    checkpoints: tuple[int, ...] = (),
    pair_points: int = 11,
    seed: int = 0,
) -> dict:
    """Write a results folder with ``n_runs`` run folders (minus ``missing``) under ``out``; returns
    {"runs": [...run ids], "diverged": [...], "failed": [...], "missing": [...], "units": count}.

    The first ``diverged`` runs (in id order, seed 0 of each setting first) get ``status = diverged``;
    the next ``failed`` lose their landscape and later outputs (sampling failed, with a log); the last
    ``missing`` have no folder at all."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    n_beta, n_width = grid_shape(n_runs, seeds)
    betas, widths = [float(b) for b in np.round(np.geomspace(1, 50, n_beta), 2)], [8 * (i + 1) for i in range(n_width)]
    ids = [(b, w, s) for b in betas for w in widths for s in range(seeds)][:n_runs]
    made = {"runs": [], "diverged": [], "failed": [], "missing": [], "units": 0}
    for i, (beta, width, s) in enumerate(ids):
        run_id = f"pinn/beta~{beta:g}/width~{width}/seed~{s}"
        if i >= len(ids) - missing:
            made["missing"].append(run_id)
            continue
        run_dir = out / "runs" / run_id
        hp = {"beta": beta, "width": width}
        info = {
            "run_id": run_id,
            "family": "pinn",
            "seed": s,
            "swept": hp,
            "hp": hp,
            "landscape": {"dim": dim, "resolution": resolution},
            "topology": {"graph": "freudenthal"},
            "checkpoints": list(checkpoints),
        }
        save_json(run_dir / "run.json", info)
        status = "diverged" if i < diverged else "ok"
        _unit(run_dir, rng, beta, width, info, status, resolution, dim)
        for epoch in checkpoints:
            _unit(run_dir / f"epoch~{epoch}", rng, beta, width, info, status, resolution, dim, epoch)
            made["units"] += 1
        if diverged <= i < diverged + failed:
            for name in ("landscape.npz", "topology"):
                target = run_dir / name
                if target.is_dir():
                    for f in target.iterdir():
                        f.unlink()
                    target.rmdir()
                elif target.exists():
                    target.unlink()
            (out / "logs" / run_id).mkdir(parents=True, exist_ok=True)
            (out / "logs" / run_id / "sample.log").write_text("RuntimeError: CUDA out of memory (synthetic)\n")
            made["failed"].append(run_id)
        made["runs"].append(run_id)
        made["units"] += 1
        if status == "diverged":
            made["diverged"].append(run_id)
    for beta in betas:
        for width in widths:
            setting = f"pinn/beta~{beta:g}/width~{width}"
            present = [s for s in range(seeds) if f"{setting}/seed~{s}" in made["runs"]]
            for b in present[1:]:
                pairs = []
                for a in [a for a in present if a < b]:
                    t = np.linspace(0, 1, pair_points)
                    loss = 0.1 + 0.05 * beta * np.sin(np.pi * t) * rng.uniform(0.5, 1.5) + 0.01 * t
                    pairs.append(
                        {
                            "seed_a": a,
                            "seed_b": b,
                            "t": t.tolist(),
                            "loss": loss.tolist(),
                            "status": "ok",
                            "reason": None,
                            "barrier": float(loss.max() - (loss[0] + loss[-1]) / 2),
                            "loss_a": float(loss[0]),
                            "loss_b": float(loss[-1]),
                            "run_a": "",
                            "run_b": "",
                        }
                    )
                save_json(out / "connectivity" / setting / f"seed~{b}.json", {"run_b": "", "pairs": pairs})
    return made


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--resolution", type=int, default=31)
    p.add_argument("--dim", type=int, default=2)
    args = p.parse_args(argv)
    made = make_results(args.out, args.runs, args.seeds, args.resolution, args.dim)
    print(f"wrote {len(made['runs'])} runs to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
