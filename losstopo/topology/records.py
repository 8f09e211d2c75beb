"""The topology stage's summary and diagram read back and checked against their sibling files (numba-free,
so the summary commands read them cheaply): ``topology.json`` counts the pairs in ``persistence.csv`` and
the nodes and arcs of the merge tree, and records the shape of the landscape it was computed from.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.io import InputFileError, load_json, read_csv_table

# The columns of each table write_topology writes (all numbers)
COLUMNS = {
    "persistence.csv": ("birth", "death", "persistence", "birth_vertex", "death_vertex", "basin_size"),
    "merge_tree_nodes.csv": ("node", "vertex", "value", "type"),
    "merge_tree_arcs.csv": ("arc", "down_node", "up_node", "down_vertex", "up_vertex", "region_size"),
}
SUMMARY_COUNTS = ("n_pairs", "n_components", "n_nodes", "shape")  # what the checks below compare against


def read_table(out_dir: Path, name: str) -> pd.DataFrame:
    return read_csv_table(out_dir / name, columns=COLUMNS[name], numeric=COLUMNS[name])


def mismatch(path: Path, found: str, expected: str) -> InputFileError:
    return InputFileError(
        f"{path}: {found}, but {path.parent / 'topology.json'} says {expected}: the files are not from one run of "
        f"'losstopo topology' (a file cut short or replaced); rerun it (delete {path.parent})"
    )


def read_summary(out_dir: str | os.PathLike) -> dict:
    """``topology.json`` of a topology folder; InputFileError naming it when it lacks the counts the
    other files are checked against."""
    path = Path(out_dir) / "topology.json"
    summary = load_json(path)
    missing = [key for key in SUMMARY_COUNTS if not isinstance(summary, dict) or key not in summary]
    if missing:
        raise InputFileError(f"{path}: missing {', '.join(missing)}: not a topology summary")
    return summary


def read_pairs(out_dir: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """(``persistence.csv``, ``topology.json``) of a topology folder, checked against each other: one row
    per pair, n_pairs finite ones plus n_components essential ones (death ``inf``). InputFileError naming
    the file when either is missing, cut short or unreadable, or when the counts disagree."""
    out_dir = Path(out_dir)
    summary = read_summary(out_dir)
    pairs = read_table(out_dir, "persistence.csv")
    essential = int(np.isinf(pairs["death"].to_numpy(np.float64)).sum())
    if (len(pairs) - essential, essential) != (summary["n_pairs"], summary["n_components"]):
        raise mismatch(
            out_dir / "persistence.csv",
            f"{len(pairs)} pair(s), {essential} of them essential",
            f"{summary['n_pairs']} finite and {summary['n_components']} essential",
        )
    return pairs, summary


def check_same_landscape(summary: dict, loss: np.ndarray, run_dir: str | os.PathLike) -> None:
    """InputFileError when a run folder's topology.json (``summary``) was computed from a landscape of
    another shape than its landscape.npz's ``loss``: one of the two is stale or cut short."""
    if list(summary["shape"]) != list(np.shape(loss)):
        run_dir = Path(run_dir)
        raise InputFileError(
            f"{run_dir / 'topology' / 'topology.json'}: computed on a landscape of shape {tuple(summary['shape'])}, "
            f"but {run_dir / 'landscape.npz'} has shape {np.shape(loss)}: rerun the topology job"
        )
