"""How each topology metric moves under orientation, stencil and resolution on the seeds' 3-D PINN cubes.

Reads the 31 LossLens loss cubes (40 x 40 x 40) listed in ``../shared/conformance/ttk3d/index.csv``,
first checks that our engine reproduces TTK's minimum and saddle counts in both of TTK's vertex layouts
(the cube as stored = TTK's ``layoutC``; axes reversed = TTK's primary layout), then measures every cube
with ``losstopo.summary.invariance`` and writes per-cube spreads and the per-metric summary (docs/invariance.md).

    PYTHONPATH=. python benchmarks/invariance_ttk3d.py [--graph freudenthal] [--threshold 0.01] --out-dir DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.summary.invariance import measure, spreads, summarize_spreads
from losstopo.topology import compute_topology, summarize

ROOT = Path(__file__).resolve().parents[2] / "shared" / "conformance"


def check_against_ttk(cube: np.ndarray, name: str) -> list[str]:
    """Our freudenthal counts against TTK's summary.json in both layouts; mismatches as text."""
    problems = []
    for folder, field in (("", cube.transpose(2, 1, 0)), ("layoutC", cube)):
        ttk = json.loads((ROOT / "ttk3d" / name / folder / "summary.json").read_text())
        ours = summarize(compute_topology(np.ascontiguousarray(field), "freudenthal"))
        for key in ("n_minima", "n_saddles"):
            if ours[key] != ttk[key]:
                problems.append(f"{name}/{folder or 'primary'}: {key} ours {ours[key]} TTK {ttk[key]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="freudenthal")
    parser.add_argument("--threshold", type=float, default=0.01)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument(
        "--axes-only",
        action="store_true",
        help="the workflow's 9 orientations (permutations, single reflections) instead of all 48",
    )
    args = parser.parse_args()
    names = pd.read_csv(ROOT / "ttk3d" / "index.csv")["cube"].unique()
    blocks, problems = [], []
    for name in names:
        cube = np.load(ROOT / "losslens" / "3d" / "pinn_hessian" / f"{name}.npy").reshape(40, 40, 40)
        problems += check_against_ttk(cube, name)
        table = spreads(measure(cube, args.graph, args.threshold, full=not args.axes_only))
        blocks.append(table.assign(family="pinn_losslens", run_id=name))
        row = table[(table["metric"] == "n_minima")].set_index("factor")
        print(
            name,
            "n_minima:",
            ", ".join(f"{f} {row.at[f, 'min']:g}-{row.at[f, 'max']:g}" for f in row.index),
            flush=True,
        )
    table = pd.concat(blocks, ignore_index=True)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "invariance_ttk3d.csv", index=False)
    summary = summarize_spreads(table)
    summary.to_csv(out / "invariance_ttk3d_summary.csv", index=False)
    print("TTK agreement:", "all counts equal" if not problems else "; ".join(problems))
    print(summary.drop(columns=["family"]).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
