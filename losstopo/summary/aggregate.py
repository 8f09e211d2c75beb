"""Collect every run's settings, training outcome and topology into one table (``runs.csv``).

One row per run. Columns: identity (``family``, ``run_id``, ``seed``, ``status``), one column per swept
hyperparameter under its own name, the family's performance metrics, the topology metrics, and the
landscape settings (``landscape_*``, ``topology_*``). A run whose landscape was skipped keeps its row,
with the reason in ``landscape_skipped_reason``.

``spans.csv`` has the same columns plus ``span`` and ``resolution``, one row per run and span: the run's
own landscape, then each further span it was sampled at (``landscape.extra_spans``), with the topology
columns of that span; ``landscape_span`` stays the run's own span (``span`` is the one sampled).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from losstopo.io import load_json, save_csv
from losstopo.landscape.files import load_landscape
from losstopo.sweep.families import performance_metrics
from losstopo.topology.records import check_same_landscape, read_summary

LANDSCAPE_KEYS = ("directions", "dim", "sampling", "resolution", "n_samples", "span", "precision")
# the columns of every row, whatever the family (the header of an empty table)
COMMON_COLUMNS = [
    "family",
    "run_id",
    "seed",
    "status",
    "train_reason",
    *[f"landscape_{k}" for k in LANDSCAPE_KEYS],
    "landscape_skipped_reason",
    "topology_graph",
    "topology_threshold",
    "topology_backend",
    "topology_knn",
    "run_dir",
]


def _scalars(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if isinstance(v, (bool, int, float, str)) or v is None}


def topology_columns(summary: dict[str, Any]) -> dict[str, Any]:
    """The topology columns of a row: the scalar entries of a topology summary (topology.json, or one of
    its ``extra_spans``), less the settings that have ``topology_*`` columns of their own."""
    return {k: v for k, v in _scalars(summary).items() if k not in ("graph", "threshold", "span")}


def hessian_columns(report: dict[str, Any]) -> dict[str, Any]:
    """The ``hessian_*`` columns of one run's hessian.json (NaN where a part was not computed)."""
    nan = float("nan")
    top = report.get("top") or {}
    eigenvalues = top.get("eigenvalues") or []
    trace = report.get("trace") or {}
    density = report.get("density") or {}
    row = {
        "hessian_status": report.get("status"),
        "hessian_top_eigenvalue": eigenvalues[0] if eigenvalues else nan,
        **{f"hessian_eigenvalue_{i + 1}": value for i, value in enumerate(eigenvalues[1:], start=1)},
        "hessian_eigen_converged": top.get("converged"),
        "hessian_trace": trace.get("value", nan),
        "hessian_trace_stderr": trace.get("stderr", nan),
        "hessian_negative_mass": density.get("negative_mass_significant", nan),
    }
    return row


def run_row(run_dir: str | Path) -> dict[str, Any]:
    """The ``runs.csv`` row of one run folder (run.json, train.json, landscape.npz, topology/, hessian/).

    A checkpoint folder (``<run>/epoch~<e>``) takes run.json from its run and adds an ``epoch`` column.
    """
    run_dir = Path(run_dir)
    is_checkpoint = run_dir.name.startswith("epoch~")
    info = load_json((run_dir.parent if is_checkpoint else run_dir) / "run.json")
    train = load_json(run_dir / "train.json")
    landscape = load_landscape(run_dir / "landscape.npz")
    landscape_meta = landscape.get("metadata", {})
    topo = read_summary(run_dir / "topology")
    check_same_landscape(topo, landscape["loss"], run_dir)
    # the headline first, as the run recorded it (run.json's keys are sorted; performance_order keeps the order)
    performance = info.get("performance_order") or list(performance_metrics(info["family"]))
    row: dict[str, Any] = {
        "family": info["family"],
        "run_id": info["run_id"],
        "seed": info["seed"],
        "status": train["status"],
        "train_reason": train.get("reason"),
    }
    row.update(info["swept"])
    if is_checkpoint:
        row["epoch"] = train["epoch"]
    row.update({m: train["metrics"].get(m) for m in performance})
    row.update(topology_columns(topo))
    if (run_dir / "hessian" / "hessian.json").exists():
        row.update(hessian_columns(load_json(run_dir / "hessian" / "hessian.json")))
    # the settings the stages used, as their outputs record them
    row.update({f"landscape_{k}": landscape_meta.get("landscape", {}).get(k) for k in LANDSCAPE_KEYS})
    row["landscape_skipped_reason"] = landscape_meta.get("skipped_reason")
    row["topology_graph"] = topo.get("graph")
    row["topology_threshold"] = topo.get("threshold")
    row["topology_backend"] = topo.get("backend", "native")
    row["topology_knn"] = topo.get("knn_k")  # k of a scattered landscape's k-NN graph; none on a grid
    row["run_dir"] = str(run_dir)
    return row


def span_rows(run_dir: str | Path, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``spans.csv`` rows of one run folder: its ``runs.csv`` row (``row``, :func:`run_row`'s) with
    ``span`` and ``resolution`` (the landscape's own), then one per further span in topology.json's
    ``extra_spans``, whose topology columns replace the row's (a column that span's summary lacks is left
    empty)."""
    summary = load_json(Path(run_dir) / "topology" / "topology.json")
    own = dict.fromkeys(topology_columns(summary))
    head = {"family": row["family"], "run_id": row["run_id"]}
    rows = [head | {"span": row["landscape_span"], "resolution": row["landscape_resolution"]} | row]
    for entry in summary.get("extra_spans", []):
        at_span = own | topology_columns(entry)
        rows.append(head | {"span": entry["span"], "resolution": row["landscape_resolution"]} | row | at_span)
    return rows


def _table(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """The rows as a table; with no row, a table of ``columns`` (a CSV header, so an empty table still reads)."""
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


SPAN_COLUMNS = ["family", "run_id", "span", "resolution", *COMMON_COLUMNS[2:]]


def collect(run_dirs: list[str | Path]) -> pd.DataFrame:
    """One ``run_row`` per folder (an empty table of the columns every row has when there is none)."""
    return _table([run_row(d) for d in run_dirs], COMMON_COLUMNS)


def collect_spans(run_dirs: list[str | Path], rows: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Every ``span_rows`` of the folders (run folders: checkpoints are sampled at one span); ``rows``: their
    ``run_row``s when already read."""
    rows = [run_row(d) for d in run_dirs] if rows is None else rows
    return _table([span for d, row in zip(run_dirs, rows) for span in span_rows(d, row)], SPAN_COLUMNS)


def main(args) -> int:
    runs = [run_row(d) for d in args.run_dirs]  # each run's files read once, for runs.csv and spans.csv
    for out, what, build in (
        (args.out, "runs", lambda: _table(runs, COMMON_COLUMNS)),
        (args.checkpoints_out, "checkpoints", lambda: collect(args.checkpoint_dirs)),
        (args.spans_out, "rows (run, span)", lambda: collect_spans(args.run_dirs, runs)),
    ):
        if out is None:
            continue
        table = build()
        save_csv(out, table)
        counts = table["status"].value_counts().to_dict() if len(table) else {}
        print(f"wrote {out}: {len(table)} {what}, status {counts}", flush=True)
    return 0
