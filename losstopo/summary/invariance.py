"""How much each topology metric moves under choices that should not matter: ``tables/invariance.csv``.

A sampled landscape is a k-dimensional grid; its topology is computed on a stencil (``axis``,
``freudenthal``, ``full``) in the sweep order (value, flat C-order index). Three choices are arbitrary:

- **orientation**: which grid axis is stored first and which way each axis runs. The Freudenthal
  stencil has one diagonal per cell, whose direction flips with the axes, and ties are broken by the
  flat index, so counts can change (TTK's own cube counts change the same way: docs/invariance.md).
  Variants: the k! axis permutations and the k single-axis reflections (9 in 3-D; the workflow), or
  with ``full`` all 2^k k! symmetries of the grid (48 in 3-D; the measurement on TTK's cubes).
- **stencil**: the configured one against the other two of ``GRAPHS``, in the stored orientation.
- **resolution**: every ``stride``-th sample along each axis (``STRIDES``; the centre stays for an odd
  resolution), in the stored orientation and on the configured stencil.

For each metric and factor the *relative spread* is ``(max - min) / |reference|`` over the variants
(the reference, i.e. the landscape as stored on its configured stencil, included): 0 when every variant
agrees, inf when the reference is 0 and a variant is not. A landscape *moves* when its orientation or
stencil spread exceeds ``TOLERANCE``; a metric *holds still* when at most ``MAX_SHARE`` of a family's
landscapes move (a gate on the share, not on the median: a median of 0 can hide 40% of landscapes that
move). Resolution is reported, not required (a coarser grid may truly lose small basins). Scattered
(k-NN) landscapes have no grid: their rows carry a note. docs/invariance.md defines the columns.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from losstopo.io import InputFileError, load_json, save_csv
from losstopo.landscape.files import load_landscape
from losstopo.summary.tables import topology_metrics
from losstopo.topology import GRAPHS, compute_topology, summarize
from losstopo.topology.records import check_same_landscape, read_summary

FACTORS = ("orientation", "stencil", "resolution")
STRIDES = (2,)
TOLERANCE = 0.1  # relative spread beyond which a landscape "moves"
MAX_SHARE = 0.1  # share of a family's landscapes that may move while the metric still "holds still"
STABILITY_FACTORS = ("orientation", "stencil")  # the factors that decide it
SPREAD_COLUMNS = ["family", "run_id", "metric", "factor", "n_variants", "reference", "min", "max", "rel_spread", "note"]
SUMMARY_COLUMNS = [
    "family",
    "metric",
    "n_landscapes",
    *[f"median_{f}" for f in FACTORS],
    *[f"max_{f}" for f in FACTORS],
    "n_moving",
    "share_moving",
    "tolerance",
    "max_share",
    "holds_still",
]


def orientations(k: int, full: bool = False) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(axis permutation, reflected axes) pairs, the identity first: the k! permutations and the k single-axis
    reflections; with ``full``, every permutation combined with every set of
    reflected axes (the 2^k k! symmetries of the grid, 48 in 3-D)."""
    perms = list(itertools.permutations(range(k)))
    if full:
        flips = [tuple(a for a, f in enumerate(bits) if f) for bits in itertools.product((0, 1), repeat=k)]
        return [(p, f) for p in perms for f in flips]
    return [(p, ()) for p in perms] + [(tuple(range(k)), (a,)) for a in range(k)]


def variants(field: np.ndarray, graph: str, full: bool = False) -> Iterator[tuple[str, str, np.ndarray, str]]:
    """(factor, variant label, field, stencil) of every variant of ``field`` (k-D grid) on ``graph``;
    ``full`` as in ``orientations``."""
    for perm, flips in orientations(field.ndim, full):
        oriented = np.flip(field.transpose(perm), axis=flips) if flips else field.transpose(perm)
        yield "orientation", f"axes {perm} flipped {flips}", np.ascontiguousarray(oriented), graph
    for other in GRAPHS:
        yield "stencil", other, field, other
    yield "resolution", "stride 1", field, graph
    for stride in STRIDES:
        if min(field.shape) > stride:
            yield (
                "resolution",
                f"stride {stride}",
                np.ascontiguousarray(field[(slice(None, None, stride),) * field.ndim]),
                graph,
            )


def measure(field: np.ndarray, graph: str, threshold: float, full: bool = False) -> pd.DataFrame:
    """One row per variant: ``factor``, ``variant`` and every topology metric of its ``summarize``.

    ``field``: (n_1, ..., n_k) array of losses (non-finite samples allowed, as in ``compute_topology``).
    """
    rows = []
    for factor, label, values, stencil in variants(np.asarray(field, dtype=float), graph, full):
        summary = summarize(compute_topology(values, stencil), threshold)
        metrics = {m: summary[m] for m in topology_metrics(summary)}
        rows.append({"factor": factor, "variant": label, **{m: np.nan if v is None else v for m, v in metrics.items()}})
    return pd.DataFrame(rows)


def spreads(measured: pd.DataFrame) -> pd.DataFrame:
    """Per metric and factor of one landscape: reference value, min, max over variants and relative spread.

    The reference is the first orientation variant (the identity: the field as stored, configured stencil).
    """
    metrics = [c for c in measured.columns if c not in ("factor", "variant")]
    reference = measured[measured["factor"] == "orientation"].iloc[0]
    rows = []
    for metric in metrics:
        ref = float(reference[metric])
        for factor in FACTORS:
            values = measured.loc[measured["factor"] == factor, metric].to_numpy(float)
            values = values[np.isfinite(values)]
            row = {
                "metric": metric,
                "factor": factor,
                "n_variants": len(values),
                "reference": ref,
                "min": values.min() if len(values) else np.nan,
                "max": values.max() if len(values) else np.nan,
                "rel_spread": np.nan,
                "note": "",
            }
            if not (np.isfinite(ref) and len(values)):
                row["note"] = f"{metric} is undefined for this landscape"
            elif row["max"] == row["min"]:
                row["rel_spread"] = 0.0
            else:
                row["rel_spread"] = (row["max"] - row["min"]) / abs(ref) if ref != 0 else np.inf
            rows.append(row)
    return pd.DataFrame(rows)


def landscape_spreads(run_dir: str | Path) -> pd.DataFrame:
    """spreads() of one run folder's landscape.npz on its topology.json's stencil and threshold."""
    run_dir = Path(run_dir)
    info = load_json(run_dir / "run.json")
    summary = read_summary(run_dir / "topology")
    landscape = load_landscape(run_dir / "landscape.npz")
    check_same_landscape(summary, landscape["loss"], run_dir)
    head = {"family": info["family"], "run_id": info["run_id"]}
    loss = landscape["loss"]
    if "points" in landscape or "axes" not in landscape or loss.size == 0:
        why = (
            "scattered samples (k-NN graph) have no grid axes to permute"
            if "points" in landscape
            else "the landscape was not sampled on a grid"
        )
        return pd.DataFrame(
            [
                {
                    **head,
                    "metric": "",
                    "factor": "",
                    "n_variants": 0,
                    "reference": np.nan,
                    "min": np.nan,
                    "max": np.nan,
                    "rel_spread": np.nan,
                    "note": why,
                }
            ]
        )
    graph = summary.get("graph")
    if graph not in ("axis", "freudenthal", "full"):
        raise InputFileError(f"{run_dir}/topology/topology.json: graph {graph!r} is not a grid stencil")
    table = spreads(measure(loss, graph, float(summary.get("threshold", 0.0))))
    return pd.concat([pd.DataFrame([head] * len(table)), table], axis=1)[SPREAD_COLUMNS]


def summarize_spreads(table: pd.DataFrame, tolerance: float = TOLERANCE, max_share: float = MAX_SHARE) -> pd.DataFrame:
    """Per family and metric: median and max relative spread over landscapes per factor; ``n_moving`` and
    ``share_moving``, the number and share of landscapes whose orientation or stencil spread exceeds
    ``tolerance`` (among those where the metric is defined); ``holds_still``: ``share_moving <= max_share``
    (False when the metric is defined on no landscape). ``tolerance`` and ``max_share`` are repeated in every
    row so that the table states its own gate."""
    rows = []
    usable = table[table["metric"].astype(str) != ""] if len(table) else table
    for (family, metric), group in usable.groupby(["family", "metric"], sort=True) if len(usable) else []:
        row = {"family": family, "metric": metric, "n_landscapes": group["run_id"].nunique()}
        for factor in FACTORS:
            spread = group.loc[group["factor"] == factor, "rel_spread"].astype(float).dropna()
            row[f"median_{factor}"] = float(spread.median()) if len(spread) else np.nan
            row[f"max_{factor}"] = float(spread.max()) if len(spread) else np.nan
        stability = group[group["factor"].isin(STABILITY_FACTORS)]
        worst = stability.groupby("run_id")["rel_spread"].max().dropna()  # max skips NaN; all NaN: undefined
        row["n_moving"] = int((worst > tolerance).sum())
        row["share_moving"] = row["n_moving"] / len(worst) if len(worst) else np.nan
        row["tolerance"], row["max_share"] = tolerance, max_share
        row["holds_still"] = bool(len(worst) and row["share_moving"] <= max_share)
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def main(args) -> int:
    blocks = [landscape_spreads(d) for d in args.run_dirs]
    table = pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=SPREAD_COLUMNS)
    save_csv(args.out, table)
    summary = summarize_spreads(table, args.tolerance, args.max_share)
    save_csv(args.summary_out, summary)
    print(f"wrote {args.out} ({len(blocks)} landscapes) and {args.summary_out}", flush=True)
    for family, rows in summary.groupby("family", sort=True):
        print(
            f"{family}: metrics that hold still: {', '.join(rows.loc[rows['holds_still'], 'metric']) or 'none'}",
            flush=True,
        )
    return 0
