"""Topology engine vs gudhi's cubical persistence on smooth random fields (peer timed in the same run).

    python benchmarks/bench_topology.py [--quick] [--repeat N]

``ours`` is everything ``losstopo topology`` computes (merge tree, pairs, segmentation, summary)
on the freudenthal stencil, median of ``--repeat`` runs after a numba warm-up on tiny arrays.
``gudhi`` is ``CubicalComplex(vertices=f).persistence()`` including construction, one run (it
computes every homology dimension, as in the TTK timing anchor of ../shared/conformance/ttk3d).
Prints ``BENCH <name> ours=<s> gudhi=<s> ratio=<gudhi/ours>``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import gudhi
import numpy as np
from scipy.ndimage import gaussian_filter

from losstopo.topology import compute_topology, summarize

ANCHOR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "ttk3d" / "timing_anchor.json"


def smooth_field(n: int, k: int) -> np.ndarray:
    return gaussian_filter(np.random.default_rng(n).standard_normal((n,) * k), 2)


def ours(field: np.ndarray) -> dict:
    return summarize(compute_topology(field, "freudenthal"))


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def gudhi_persistence(field: np.ndarray):
    cc = gudhi.CubicalComplex(vertices=field)
    return cc.persistence()


def bench(name: str, field: np.ndarray, repeat: int) -> None:
    times = []
    for _ in range(repeat):
        t, summary = timed(ours, field)
        times.append(t)
    t_ours = statistics.median(times)
    t_gudhi, _ = timed(gudhi_persistence, field)
    print(f"INFO {name}: shape {field.shape}, {summary['n_minima']} minima, {summary['n_saddles']} saddles; "
          f"ours runs {', '.join(f'{t:.3f}' for t in times)} s", flush=True)
    print(f"BENCH {name} ours={t_ours:.3f} gudhi={t_gudhi:.3f} ratio={t_gudhi / t_ours:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids (21^4, 64^3) for a fast check")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for k in (3, 4):  # numba: load or compile the kernels outside the timings
        ours(np.random.default_rng(0).standard_normal((5,) * k))
    n4, n3 = (21, 64) if args.quick else (41, 160)
    bench(f"topology_{n4}x4", smooth_field(n4, 4), args.repeat)
    bench(f"topology_{n3}x3", smooth_field(n3, 3), args.repeat)
    if ANCHOR.exists():
        for row in json.loads(ANCHOR.read_text()):
            if row["N"] == n3:
                ttk = row["order_1t"] + row["ftm1"]
                print(f"INFO TTK anchor (other session, same machine type) N={n3}: order+FTM join tree "
                      f"{ttk:.3f} s, gudhi {row['gudhi_total']:.3f} s, ratio {row['gudhi_total'] / ttk:.1f}")


if __name__ == "__main__":
    main()
