"""Topology engine vs cripser (CubicalRipser, 0-dim) and gudhi (every dimension) on smooth random fields.

    python benchmarks/bench_topology.py [--quick] [--threads N] [--rounds R]

Timing protocol: ``harness.py`` (same threads for every side, interleaved rounds, median and spread, no ratio on a
machine busier than its cores). Fields: ``gaussian_filter(default_rng(N).standard_normal((N,)*k), 2)``.

- ``topology_cripser_<N>x<k>``: ours = ``compute_topology(f, "axis")`` (merge tree, pairs and segmentation) vs
  cripser 0.0.37 ``computePH(f, maxdim=0, n_threads=threads)`` (the V-construction = our ``axis`` stencil, 0-dim
  pairs only). Before timing, the finite pairs and the number of essential classes are checked equal.
- ``topology_<N>x<k>``: ours = everything ``losstopo topology`` computes (tree, pairs, segmentation, summary) on
  the ``freudenthal`` stencil vs gudhi ``CubicalComplex(vertices=f).persistence()`` with construction (every
  homology dimension, as in the TTK timing anchor of ../shared/conformance/ttk3d); gudhi is 50-100x slower, so
  these lines use at most 3 rounds.

Needs ``pip install cripser==0.0.37 gudhi`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import cripser
import gudhi
import numpy as np
from harness import add_arguments, compare, limit_threads
from scipy.ndimage import gaussian_filter

from losstopo.topology import compute_topology, summarize

ANCHOR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "ttk3d" / "timing_anchor.json"


def smooth_field(n: int, k: int) -> np.ndarray:
    return gaussian_filter(np.random.default_rng(n).standard_normal((n,) * k), 2)


def ours_full(field: np.ndarray) -> dict:
    return summarize(compute_topology(field, "freudenthal"))


def gudhi_persistence(field: np.ndarray):
    return gudhi.CubicalComplex(vertices=field).persistence()


def cripser_dim0(field: np.ndarray, threads: int) -> np.ndarray:
    return cripser.computePH(field, maxdim=0, n_threads=threads)


def same_pairs(field: np.ndarray, threads: int) -> str:
    """Check that ours (axis) and cripser give the same 0-dim diagram; returns a short description."""
    p = compute_topology(field, "axis").pairs
    dgm = cripser_dim0(field, threads)
    dgm = dgm[dgm[:, 0] == 0]
    essential = dgm[:, 2] >= np.finfo(np.float64).max
    theirs = Counter(zip(dgm[~essential, 1].tolist(), dgm[~essential, 2].tolist()))
    mine = Counter(zip(p.birth[~p.essential].tolist(), p.death[~p.essential].tolist()))
    theirs = Counter({k: n for k, n in theirs.items() if k[1] > k[0]})  # zero-persistence pairs: not in cripser's
    mine = Counter({k: n for k, n in mine.items() if k[1] > k[0]})
    if theirs != mine or int(essential.sum()) != int(p.essential.sum()):
        raise SystemExit(
            f"cripser and ours disagree on {field.shape}: {sum((theirs - mine).values())} pairs only in "
            f"cripser's, {sum((mine - theirs).values())} only in ours"
        )
    return f"{sum(mine.values())}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids (21^4, 64^3) for a fast check")
    add_arguments(parser)
    args = parser.parse_args()
    limit_threads(args.threads)
    for k in (3, 4):  # numba: load or compile the kernels outside the timings
        for graph in ("axis", "freudenthal"):
            compute_topology(np.random.default_rng(0).standard_normal((5,) * k), graph)
    n4, n3 = (21, 64) if args.quick else (41, 160)
    fields = {f"{n4}x4": smooth_field(n4, 4), f"{n3}x3": smooth_field(n3, 3)}
    for name, f in fields.items():
        n_pairs = same_pairs(f, args.threads)
        compare(
            f"topology_cripser_{name}",
            {"ours": lambda f=f: compute_topology(f, "axis"), "cripser": lambda f=f: cripser_dim0(f, args.threads)},
            rounds=args.rounds,
            notes={"pairs_equal": n_pairs},
        )
    for name, f in fields.items():
        compare(
            f"topology_{name}",
            {"ours": lambda f=f: ours_full(f), "gudhi": lambda f=f: gudhi_persistence(f)},
            rounds=min(args.rounds, 3),
        )
    if ANCHOR.exists():
        for row in json.loads(ANCHOR.read_text()):
            if row["N"] == n3:
                ttk = row["order_1t"] + row["ftm1"]
                print(
                    f"INFO TTK anchor (other session, same machine type) N={n3}: order+FTM join tree "
                    f"{ttk:.3f} s, gudhi {row['gudhi_total']:.3f} s, ratio {row['gudhi_total'] / ttk:.1f}"
                )


if __name__ == "__main__":
    main()
