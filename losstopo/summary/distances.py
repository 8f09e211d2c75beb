"""The sweep's shape distances (``tables/distances.csv``): bottleneck and Wasserstein distances between the
persistence diagrams (``topology/persistence.csv``) of runs.

Paper 1 claims that the landscape's shape varies most across seeds near the transition from low to
high error. ``distance_table`` makes that checkable: for every family it compares the diagrams of the
seeds of each hyperparameter setting, and of neighbouring settings of the sweep (one swept value one
step apart, same seed). Both distances are computed on the raw diagrams (loss units) and on diagrams
rescaled to the landscape's loss range ((x - min) / (max - min), ``*_rel``), which compares shapes
across settings whose losses differ by orders of magnitude. The distances themselves:
``losstopo.topology.distances``; docs/profile.md.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.io import InputFileError, read_csv_table, save_csv
from losstopo.summary.tables import swept_keys
from losstopo.topology.distances import bottleneck, diagram, split_diagram, wasserstein
from losstopo.topology.records import read_pairs


def _sort_key(value):
    return (0, float(value), "") if isinstance(value, (int, float, np.number)) else (1, 0.0, str(value))


def _label(keys: list[str], values: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values)) or "all runs"


def comparisons(frame: pd.DataFrame, keys: list[str]) -> list[dict]:
    """The run pairs of one family: every seed pair of a setting, and per swept key the settings one
    value apart (all other keys equal) with the same seed."""
    settings = {}
    for idx, row in frame.iterrows():
        settings.setdefault(tuple(row[k] for k in keys), {})[int(row["seed"])] = idx
    out = []
    for values, seeds in sorted(settings.items(), key=lambda kv: [_sort_key(v) for v in kv[0]]):
        for s_a, s_b in itertools.combinations(sorted(seeds), 2):
            out.append(
                {
                    "kind": "seed",
                    "hyperparameter": "",
                    "values": values,
                    "other_values": values,
                    "a": seeds[s_a],
                    "b": seeds[s_b],
                }
            )
    for i, key in enumerate(keys):
        axis = sorted({v[i] for v in settings}, key=_sort_key)
        step = {v: w for v, w in zip(axis, axis[1:])}
        for values, seeds in sorted(settings.items(), key=lambda kv: [_sort_key(v) for v in kv[0]]):
            if values[i] not in step:
                continue
            other = values[:i] + (step[values[i]],) + values[i + 1 :]
            for seed in sorted(set(seeds) & set(settings.get(other, {}))):
                out.append(
                    {
                        "kind": "neighbour",
                        "hyperparameter": key,
                        "values": values,
                        "other_values": other,
                        "a": seeds[seed],
                        "b": settings[other][seed],
                    }
                )
    return out


def _diagrams(row: pd.Series, essential: str) -> tuple[np.ndarray, np.ndarray]:
    path = Path(row["run_dir"]) / "topology" / "persistence.csv"
    pairs, _ = read_pairs(path.parent)  # checked against topology.json's counts
    raw = diagram(pairs["birth"], pairs["death"], essential, row["loss_max"])
    try:
        split_diagram(raw, str(path))
    except ValueError as exc:
        raise InputFileError(str(exc)) from None
    lo, hi = row["loss_min"], row["loss_max"]
    rel = (raw - lo) / (hi - lo) if np.isfinite(lo) and np.isfinite(hi) and hi > lo else np.full_like(raw, np.nan)
    return raw, rel


def distance_table(runs: pd.DataFrame, essential: str = "drop") -> pd.DataFrame:
    """One row per compared pair of runs (see ``comparisons``); runs without finite samples are skipped."""
    for column in ("family", "run_id", "seed", "run_dir", "loss_min", "loss_max", "n_vertices"):
        if column not in runs.columns:
            raise InputFileError(f"runs table: missing column {column!r}")
    rows = []
    for family, frame in runs[runs["n_vertices"] > 0].groupby("family", sort=True):
        keys = swept_keys(frame)
        cache = {}
        for pair in comparisons(frame, keys):
            for side in "ab":
                if pair[side] not in cache:
                    cache[pair[side]] = _diagrams(frame.loc[pair[side]], essential)
            (raw_a, rel_a), (raw_b, rel_b) = cache[pair["a"]], cache[pair["b"]]
            ra, rb = frame.loc[pair["a"]], frame.loc[pair["b"]]
            rel_ok = np.isfinite(rel_a).all() and np.isfinite(rel_b).all()
            rows.append(
                {
                    "family": family,
                    "kind": pair["kind"],
                    "hyperparameter": pair["hyperparameter"],
                    "setting": _label(keys, pair["values"]),
                    "other_setting": _label(keys, pair["other_values"]),
                    **dict(zip(keys, pair["values"])),
                    "seed_a": int(ra["seed"]),
                    "seed_b": int(rb["seed"]),
                    "run_a": ra["run_id"],
                    "run_b": rb["run_id"],
                    "n_points_a": len(raw_a),
                    "n_points_b": len(raw_b),
                    "bottleneck": bottleneck(raw_a, raw_b),
                    "wasserstein": wasserstein(raw_a, raw_b),
                    "bottleneck_rel": bottleneck(rel_a, rel_b) if rel_ok else np.nan,
                    "wasserstein_rel": wasserstein(rel_a, rel_b) if rel_ok else np.nan,
                    "essential": essential,
                }
            )
    columns = [
        "family",
        "kind",
        "hyperparameter",
        "setting",
        "other_setting",
        "seed_a",
        "seed_b",
        "run_a",
        "run_b",
        "n_points_a",
        "n_points_b",
        "bottleneck",
        "wasserstein",
        "bottleneck_rel",
        "wasserstein_rel",
        "essential",
    ]
    table = pd.DataFrame(rows)
    return table if len(table) else pd.DataFrame(columns=columns)


def main(args) -> int:
    """``losstopo distances``: results/tables/distances.csv from runs.csv."""
    table = distance_table(read_csv_table(args.runs), args.essential)  # it checks the columns it needs
    save_csv(args.out, table)
    kinds = table["kind"].value_counts().to_dict() if len(table) else {}
    print(f"losstopo distances: {len(table)} comparisons {kinds} -> {args.out}", flush=True)
    if len(table):
        seeds = table[table["kind"] == "seed"].groupby(["family", "setting"], sort=False)["wasserstein_rel"].mean()
        for (family, setting), value in seeds.items():
            print(f"  {family} {setting}: mean relative W1 between seeds {value:.4g}", flush=True)
    return 0
