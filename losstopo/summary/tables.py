"""What the summaries share about ``runs.csv``: which columns are what, the usable runs, value spelling.

One row per run (``losstopo.summary.aggregate``); the swept hyperparameters are read from the run ids
(``pinn/beta~30/seed~0``), the topology and curvature metrics from the column names. Torch- and
numba-free, so every summary job imports it cheaply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from losstopo.io import load_json, read_csv_table
from losstopo.sweep.families import performance_metrics

# topology.json's summary metrics (docs/topology.md); their variants share the prefix (n_minima_simplified)
TOPOLOGY_METRICS = ("n_minima", "n_saddles", "total_persistence", "avg_persistence", "max_persistence")
CURVATURE_PREFIX = "hessian_"


def swept_keys(frame: pd.DataFrame) -> list[str]:
    """Swept hyperparameters of one family, from the ``key~value`` parts of its run ids (in path order)."""
    parts = str(frame["run_id"].iloc[0]).split("/")[1:-1]
    return [part.split("~", 1)[0] for part in parts]


def topology_metrics(columns: Iterable[str]) -> list[str]:
    """Topology summary columns: each base metric of TOPOLOGY_METRICS and its variants (``n_minima_simplified``)."""
    columns = list(columns)
    return [c for base in TOPOLOGY_METRICS for c in columns if c == base or c.startswith(base + "_")]


def curvature_metrics(columns: Iterable[str]) -> list[str]:
    """Hessian summary columns (``hessian_*``), except standard errors and status flags, which are not curvature."""
    return [
        c for c in columns if c.startswith(CURVATURE_PREFIX) and not c.endswith(("_stderr", "_status", "_converged"))
    ]


def numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64, with text, infinities and missing values as NaN."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def measured(frame: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """The columns that exist and hold at least one finite value for this family."""
    return [c for c in columns if c in frame.columns and np.isfinite(numeric(frame, c)).any()]


def ok_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs with status ok, infinities as missing: the runs every statistic and figure uses."""
    return frame[frame["status"].astype(str) == "ok"].replace([np.inf, -np.inf], np.nan)


def format_value(value) -> str:
    """A hyperparameter value as the run ids spell numbers (``30``, ``0.001``), anything else as text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return f"{value:g}"
    return str(value)


def grid_label(keys: list[str], values: Iterable) -> str:
    """A grid point as ``beta=30, lr=0.001``."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in zip(keys, values)) or "(no swept keys)"


def family_performance(frame: pd.DataFrame) -> dict[str, str]:
    """``{metric: "higher" | "lower"}`` of one family's rows, the headline metric first: as its runs recorded it
    (``run.json``'s ``performance`` in the order of ``performance_order``, found through the ``run_dir`` column; a
    checkpoint's run.json is its run's), else the family registry's (``losstopo.sweep.families``). A run.json
    without ``performance_order`` (written before it existed) holds the metrics in sorted order, so the
    registry's order is used when it lists the same metrics. ValueError for a family neither knows."""
    family = str(frame["family"].iloc[0])
    for run_dir in frame["run_dir"].dropna().astype(str) if "run_dir" in frame.columns else ():
        run_dir = Path(run_dir)
        path = (run_dir.parent if run_dir.name.startswith("epoch~") else run_dir) / "run.json"
        if path.exists():
            info = load_json(path)
            recorded = info.get("performance")
            if recorded:
                order = info.get("performance_order") or _registry_order(family, recorded)
                return {metric: recorded[metric] for metric in order}
            break
    return performance_metrics(family)


def _registry_order(family: str, recorded: dict[str, str]) -> list[str]:
    """The registry's order of ``recorded``'s metrics when it knows the family with the same metrics, else
    ``recorded``'s own."""
    try:
        known = list(performance_metrics(family))
    except ValueError:  # not a built-in family
        return list(recorded)
    return known if set(known) == set(recorded) else list(recorded)


def headline_metric(frame: pd.DataFrame) -> str:
    """The headline performance metric of one family's rows (``family_performance``'s first)."""
    return next(iter(family_performance(frame)))


def read_runs(path: str | Path) -> pd.DataFrame:
    """runs.csv, checked for the columns every statistic needs."""
    return read_csv_table(path, columns=("family", "run_id", "seed", "status"))
