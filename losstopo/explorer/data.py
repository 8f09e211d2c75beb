"""Everything the explorer page shows, read from a results folder into one JSON-able dict.

The page needs, per analysed model (unit: a run's final model or a checkpoint), a light record for the
sweep map and the scatter (identity, swept values, status, scalar metrics) and the heavier detail
views (loss slices, persistence diagram, merge tree, Hessian spectral density, training history,
profile SVG). Files are read directly from ``runs/`` so a folder with missing or failed stages still
gives a page: a unit whose files are absent gets ``status = "failed"`` and the stage that did not
finish, with the last line of its log (``incomplete`` where the stage left no log: not run yet); a
diverged run keeps train.json's reason.

Arrays travel as base64 of little-endian float32, or of 16-bit codes for arrays that are only drawn
(:func:`packed`), decoded in the page.
"""

from __future__ import annotations

import base64
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from losstopo.curvature.spectral_density import ZERO_TOL_REL, signed_log_density
from losstopo.io import InputFileError, load_json, load_npz, read_csv_table
from losstopo.landscape.files import load_landscape
from losstopo.summary.aggregate import hessian_columns
from losstopo.sweep.families import performance_metrics
from losstopo.topology import PersistencePairs, Topology, load_topology
from losstopo.topology.profile import profile_geometry
from losstopo.topology.records import read_summary
from losstopo.topology.tree import branch_decomposition

# The stages of one unit, in order, and the file each one leaves (the first one absent is the failing stage).
STAGES = (
    ("train", "train.json"),
    ("directions", "directions.npz"),
    ("sample", "landscape.npz"),
    ("topology", "topology/topology.json"),
)
SLICE_CAP = 2**17  # loss values kept per unit for the slice view (slider positions are thinned above it)
MAX_PAIRS = 500  # persistence pairs kept per diagram (the most persistent)
MAX_BRANCHES = 200  # merge tree branches drawn (the most persistent; closed under their parents)
QMAX = 65532  # the largest code of a finite value in a quantised array
MAX_CURVE = 200  # points of each sign's spectral density curve, rows kept of a training-history column
PROFILE = {"threshold": 0.01, "max_basins": 30, "levels": 32}  # the page's profiles: coarser than profile.svg


def packed(array: np.ndarray, quantize: bool = False, log: bool = False) -> dict[str, Any]:
    """An array for the page: ``{"b64": base64 of little-endian float32, "shape": [...]}`` (NaN and inf
    kept), or with ``quantize`` 16-bit codes of the finite values between ``lo`` and ``hi`` (in log10
    when ``log``; code 65535 = NaN, 65534 = +inf, 65533 = -inf): half the size, 1/65532 of the range
    resolution, for arrays that are only drawn."""
    a = np.asarray(array, dtype=np.float64)
    if not quantize:
        return {
            "b64": base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii"),
            "shape": list(a.shape),
        }
    finite = np.isfinite(a) & ((a > 0) if log else True)
    values = np.log10(np.where(finite, a, 1.0)) if log else a
    lo = float(values[finite].min()) if finite.any() else 0.0
    hi = float(values[finite].max()) if finite.any() else 1.0
    codes = np.round((values - lo) / ((hi - lo) or 1.0) * QMAX)
    codes = np.where(finite, codes, np.where(np.isnan(a), 65535, np.where(a > 0, 65534, 65533)))
    return {
        "q": base64.b64encode(np.ascontiguousarray(codes, dtype="<u2").tobytes()).decode("ascii"),
        "shape": list(a.shape),
        "lo": lo,
        "hi": hi,
        "log": log,
    }


def _finite(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _thin(n: int, cap: int) -> np.ndarray:
    """Indices of at most ``cap`` evenly spread items of ``n``, the first and last included."""
    return np.arange(n) if n <= cap else np.unique(np.linspace(0, n - 1, cap).round().astype(int))


def log_tail(results: Path, unit_id: str, stage: str) -> str | None:
    """The last non-empty line of ``logs/<unit>/<stage>.log`` (at most 300 characters), if there is one."""
    path = results / "logs" / unit_id / f"{stage}.log"
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][-300:] if lines else None


def slices(landscape: dict[str, np.ndarray]) -> dict[str, Any]:
    """What the slice view draws of one landscape.npz.

    Grid (k >= 2): ``planes`` (n, r0, r1): the (axis 0, axis 1) plane through the centre, and for each
    further axis j the planes at its positions (every other axis at its centre), ``slider`` the axis and
    index of each plane. k = 1: ``line``. Scattered samples: ``points`` (N, 2) (the first two
    coordinates) and ``values`` (N,).
    """
    loss = np.asarray(landscape["loss"], dtype=np.float64)
    if "points" in landscape:
        keep = _thin(len(loss), 4096)
        pts = np.asarray(landscape["points"])[keep]
        return {
            "kind": "scattered",
            "points": packed(pts[:, :2] if pts.shape[1] >= 2 else np.c_[pts[:, 0], np.zeros(len(pts))]),
            "values": packed(loss[keep]),
            "dim": int(pts.shape[1]),
        }
    axes = np.asarray(landscape["axes"])
    if loss.ndim == 1:
        return {"kind": "line", "line": packed(loss), "axes": packed(axes[:1]), "dim": 1}
    centre = tuple(s // 2 for s in loss.shape)
    planes, slider = [loss[(slice(None), slice(None), *centre[2:])]], [[-1, -1]]
    per_plane = loss.shape[0] * loss.shape[1]
    budget = max(1, SLICE_CAP // per_plane - 1) // max(1, loss.ndim - 2)
    for j in range(2, loss.ndim):
        for i in _thin(loss.shape[j], max(budget, 1)):
            index = list(centre)
            index[0], index[1], index[j] = slice(None), slice(None), int(i)
            planes.append(loss[tuple(index)])
            slider.append([j, int(i)])
    return {
        "kind": "grid",
        "planes": packed(np.stack(planes), quantize=True),
        "slider": slider,
        "axes": packed(axes),
        "dim": int(loss.ndim),
    }


def diagram(pairs: PersistencePairs) -> dict[str, Any]:
    """Persistence diagram: the MAX_PAIRS most persistent (birth, death) pairs; essential deaths are inf."""
    order = np.argsort(-pairs.persistence, kind="stable")[:MAX_PAIRS]
    return {"pairs": packed(np.c_[pairs.birth[order], pairs.death[order]]), "n_pairs": int(pairs.birth.size)}


def merge_tree(topo: Topology) -> dict[str, Any]:
    """The merge tree as its elder-rule branches (one per persistence pair): birth, death (inf for an
    essential class), parent branch, in drawing order (depth first from the roots, children by
    decreasing death). Only the MAX_BRANCHES most persistent branches and their ancestors."""
    tree, pairs = topo.tree, topo.pairs
    if not pairs.birth.size:
        return {"branches": 0}
    node_of = np.full(topo.field.size, -1, np.int64)
    node_of[tree.node_vertex] = np.arange(tree.n_nodes)
    death_node = np.where(pairs.essential, -1, node_of[np.maximum(pairs.death_vertex, 0)])
    parent = branch_decomposition(
        tree.n_nodes, tree.arc_down, tree.arc_up, node_of[pairs.birth_vertex], death_node
    ).parent
    birth, death = pairs.birth, pairs.death
    keep = set(np.argsort(-pairs.persistence, kind="stable")[:MAX_BRANCHES].tolist())
    for b in list(keep):  # ancestors too (a parent is at least as persistent, but ties may cut it)
        while parent[b] >= 0 and parent[b] not in keep:
            b = int(parent[b])
            keep.add(b)
    children: dict[int, list[int]] = {}
    for b in sorted(keep):
        children.setdefault(int(parent[b]), []).append(b)
    order: list[int] = []
    stack = sorted(children.get(-1, []), key=lambda b: birth[b], reverse=True)
    while stack:  # depth first: a branch, then its children (latest death first)
        b = stack.pop()
        order.append(b)
        stack += sorted(children.get(b, []), key=lambda c: death[c])
    index = {b: i for i, b in enumerate(order)}
    par = [index.get(int(parent[b]), -1) for b in order]
    return {
        "branches": len(order),
        "n_pairs": int(birth.size),
        "birth": packed(birth[order]),
        "death": packed(death[order]),
        "parent": par,
    }


def profile(topo: Topology) -> dict[str, Any]:
    """The topological landscape profile's valleys (:func:`losstopo.topology.profile.profile_geometry`,
    the geometry of profile.svg at PROFILE's coarser settings; log loss axis when every loss is positive):
    per valley its parent, mean loss and outline; outlines concatenated as (levels, left, right) rows."""
    finite = topo.field[np.isfinite(topo.field)]
    scale = "log" if finite.size and finite.min() > 0 else "linear"
    prof = profile_geometry(topo, scale=scale, **PROFILE)
    if not prof.valleys:
        return {"valleys": 0}
    outline = np.concatenate([np.stack([v.levels, v.left, v.right]) for v in prof.valleys], axis=1)
    return {
        "valleys": len(prof.valleys),
        "n_basins": prof.n_basins,
        "scale": scale,
        "width": prof.width,
        "loss_min": prof.loss_min,
        "loss_max": prof.loss_max,
        "offsets": np.cumsum([0] + [v.levels.size for v in prof.valleys]).tolist(),
        "parent": [v.parent for v in prof.valleys],
        "mean": [_finite(v.mean_loss) for v in prof.valleys],
        "outline": {
            "levels": packed(outline[0], quantize=True, log=scale == "log"),
            "sides": packed(outline[1:], quantize=True),
        },
    }


def density(path: Path, report: dict[str, Any]) -> dict[str, Any]:
    """Hessian spectral density of density.npz's SLQ quadrature (``nodes``, ``weights``) as the figures draw
    it (:func:`losstopo.curvature.spectral_density.signed_log_density`): per sign, ``positive`` / ``negative`` is None
    (no node beyond the near-zero threshold) or ``{"abs_eigenvalue", "density"}``, MAX_CURVE points of
    |lambda| (log-spaced; the curve is computed at that many points: at most 3 decades of nodes plus the
    kernels' tails, so 0.025 decades apart, half the narrowest kernel width) and density per decade; the
    masses ``mass_positive``, ``mass_negative``, ``near_zero``, the ``threshold`` (eigenvalue units) and
    ``zero_tol_rel``. Always ``n_nodes`` and ``eigenvalues`` (hessian.json's top eigenvalues); with
    ``n_nodes`` = 0 (empty arrays: the density was off or the loss not finite) nothing else.

    Raises InputFileError when the file lacks ``nodes`` or ``weights``, ValueError when they do not
    form a quadrature measure (see ``signed_log_density``)."""
    arrays = load_npz(path, required=("nodes", "weights"))
    top = (report.get("top") or {}).get("eigenvalues") or []
    out: dict[str, Any] = {"n_nodes": int(arrays["nodes"].size), "eigenvalues": [_finite(v) for v in top]}
    if not out["n_nodes"]:
        return out
    signed = signed_log_density(arrays["nodes"], arrays["weights"], n_grid=MAX_CURVE)
    for sign in ("positive", "negative"):
        curve = getattr(signed, sign)
        out[sign] = (
            None
            if curve is None
            else {
                "abs_eigenvalue": packed(curve[0], quantize=True, log=True),
                "density": packed(curve[1], quantize=True),
            }
        )
    return out | {
        "mass_positive": signed.mass_positive,
        "mass_negative": signed.mass_negative,
        "near_zero": signed.near_zero,
        "threshold": signed.threshold,
        "zero_tol_rel": ZERO_TOL_REL,
    }


def history(path: Path) -> dict[str, Any]:
    """Numeric columns of history.csv, rows thinned to MAX_CURVE."""
    frame = read_csv_table(path)
    numeric = frame.select_dtypes("number")
    keep = _thin(len(numeric), MAX_CURVE)
    return {"columns": list(numeric.columns), "values": packed(numeric.to_numpy(float)[keep].T, quantize=True)}


def numeric_metrics(*mappings: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for mapping in mappings:
        for key, value in mapping.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = _finite(value)
    return out


def unit_data(
    results: Path, unit_dir: Path, info: dict[str, Any], epoch: int | None, link_base: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(light record, details) of one unit folder. Never raises for missing or unreadable files: the
    record's ``status`` becomes ``failed`` with the stage and the reason instead. Links to files
    (profile.svg) are relative to ``link_base``, the page's folder."""
    unit_id = str(unit_dir.relative_to(results / "runs"))
    record: dict[str, Any] = {
        "id": unit_id,
        "run": info["run_id"],
        "family": info["family"],
        "seed": info["seed"],
        "epoch": epoch,
        "swept": info.get("swept", {}),
        "status": "ok",
        "reason": None,
        "stage": None,
        "metrics": {},
    }
    details: dict[str, Any] = {}
    for stage, name in STAGES:
        if not (unit_dir / name).exists():
            tail = log_tail(results, unit_id, stage)  # a stage that ran and failed leaves a log
            record.update(
                status="failed" if tail else "incomplete",
                stage=stage,
                reason=f"stage '{stage}' did not finish ({name} missing)" + (f": {tail}" if tail else ""),
            )
            break
    try:
        if (unit_dir / "train.json").exists():
            train = load_json(unit_dir / "train.json")
            record["metrics"] = numeric_metrics(train.get("metrics") or {})
            if train.get("status") != "ok" and record["status"] == "ok":
                record["status"] = train.get("status") or "failed"
            if train.get("status") != "ok":
                record["reason"] = train.get("reason") or record["reason"]
        run_dir = unit_dir if epoch is None else unit_dir.parent  # a checkpoint shows its run's history
        if (run_dir / "history.csv").exists():
            details["history"] = history(run_dir / "history.csv")
        if (unit_dir / "landscape.npz").exists():
            landscape = load_landscape(unit_dir / "landscape.npz")
            details["slices"] = slices(landscape)
            skipped = (landscape.get("metadata") or {}).get("skipped_reason")
            if skipped:
                details["slices"]["skipped"] = skipped
        topo_dir = unit_dir / "topology"
        if (topo_dir / "topology.json").exists():
            record["metrics"] |= numeric_metrics(read_summary(topo_dir))
            if "slices" in details:
                topo = load_topology(topo_dir, landscape["loss"])
                details |= {"diagram": diagram(topo.pairs), "tree": merge_tree(topo), "profile": profile(topo)}
        if (unit_dir / "hessian" / "hessian.json").exists():
            report = load_json(unit_dir / "hessian" / "hessian.json")
            record["metrics"] |= numeric_metrics(hessian_columns(report))
            if (unit_dir / "hessian" / "density.npz").exists():
                details["density"] = density(unit_dir / "hessian" / "density.npz", report)
        if (unit_dir / "profile.svg").exists():
            details["profile_svg"] = relative_url(unit_dir / "profile.svg", link_base)
    except (InputFileError, OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        record.update(status="failed", reason=f"unreadable output: {exc}", stage=record["stage"] or "read")
    return record, details


def relative_url(path: Path, base: Path) -> str:
    """The link from a page in ``base`` to the file ``path`` that a browser resolves as that relative path
    whatever the folder names: percent-encoded (``#``, ``?``, ``%``, ``:``, spaces) and starting with ``./``
    or ``../`` (so a first folder named like ``javascript:...`` is never read as a URL scheme)."""
    rel = Path(os.path.relpath(path, base)).as_posix()
    return quote(rel if rel.startswith("../") else f"./{rel}")


def connectivity(results: Path) -> list[dict[str, Any]]:
    """Every pair of the path files under ``connectivity/``: setting, seeds, path (t, loss), barrier,
    status, reason (a file that cannot be read: one ``failed`` entry naming it)."""
    out = []
    for path in sorted((results / "connectivity").rglob("*.json")):
        setting = str(path.parent.relative_to(results / "connectivity"))
        try:
            pairs = [
                {
                    "setting": setting,
                    "family": setting.split("/", 1)[0],
                    "seed_a": pair["seed_a"],
                    "seed_b": pair["seed_b"],
                    "t": [_finite(v) for v in pair["t"]],
                    "loss": [_finite(v) for v in pair["loss"]],
                    "barrier": _finite(pair["barrier"]),
                    "status": pair["status"],
                    "reason": pair.get("reason"),
                }
                for pair in load_json(path)["pairs"]
            ]
        except (InputFileError, KeyError, TypeError) as exc:
            pairs = [
                {"setting": setting, "status": "failed", "reason": f"unreadable path file: {exc}", "file": str(path)}
            ]
        out += pairs
    return out


LEADING = (
    "n_minima",
    "n_saddles",
    "total_persistence",
    "avg_persistence",
    "max_persistence",
    "n_minima_simplified",
    "hessian_top_eigenvalue",
    "hessian_trace",
    "hessian_negative_mass",
    "connectivity_barrier_mean",
)


def metric_order(family: str, names: list[str], recorded: list[str] | None = None) -> list[str]:
    """The family's performance metrics first (as its runs recorded them in run.json, else, for results of an
    older version, the family registry's), then the main topology, Hessian and connectivity metrics, then
    every other numeric column alphabetically."""
    performance = list(recorded or [])
    if not performance:
        try:
            performance = list(performance_metrics(family))
        except ValueError:  # a family this version does not know: no performance metrics to put first
            pass
    lead = [n for n in performance + list(LEADING) if n in names]
    return lead + sorted(n for n in names if n not in lead)


def directions_of(info: dict[str, Any]) -> dict[str, str]:
    """``{metric: "higher" | "lower"}``: the direction that is better of each performance metric, as run.json
    records it (``performance``), else, for results of an older version, the family registry's; {} for a family
    this version does not know."""
    recorded = info.get("performance")
    if isinstance(recorded, dict):
        return {str(m): str(d) for m, d in recorded.items() if d in ("higher", "lower")}
    try:
        return dict(performance_metrics(info["family"]))
    except ValueError:
        return {}


def _sort_key(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))


def collect(results: str | Path, link_base: str | Path | None = None) -> dict[str, Any]:
    """The explorer's data for one results folder: ``families`` (swept keys and their values, seeds,
    metric names, ``better``: the direction that is better of each performance metric), ``units`` (light
    records), ``details`` (per unit id), ``connectivity`` (pairs).
    File links are relative to ``link_base`` (the page's folder; default ``results``).

    Raises InputFileError when ``results/runs`` does not exist."""
    results = Path(results)
    link_base = Path(link_base) if link_base is not None else results
    if not (results / "runs").is_dir():
        raise InputFileError(f"{results}: no runs/ folder: not a losstopo results folder")
    units, details = [], {}
    performance: dict[str, list[str]] = {}  # family -> its performance metrics, from run.json (no family module)
    better: dict[str, dict[str, str]] = {}  # family -> {metric: "higher" | "lower"}, the direction that is better
    for run_json in sorted((results / "runs").rglob("run.json")):
        try:
            info = load_json(run_json)
            missing = [key for key in ("run_id", "family", "seed") if key not in info]
            if missing:
                raise KeyError(f"no {', '.join(missing)}")
        except (InputFileError, KeyError) as exc:
            units.append(
                {
                    "id": str(run_json.parent.relative_to(results / "runs")),
                    "status": "failed",
                    "reason": f"unreadable run.json: {exc}",
                    "stage": "train",
                    "family": None,
                }
            )
            continue
        performance.setdefault(info["family"], list(info.get("performance_order") or info.get("performance") or []))
        better.setdefault(info["family"], directions_of(info))
        unit_dirs = [(run_json.parent, None)] + sorted(
            ((d, int(d.name.split("~", 1)[1])) for d in run_json.parent.glob("epoch~*") if d.is_dir()),
            key=lambda item: item[1],
        )
        for unit_dir, epoch in unit_dirs:
            record, detail = unit_data(results, unit_dir, info, epoch, link_base)
            units.append(record)
            details[record["id"]] = detail
    pairs = connectivity(results)
    barriers: dict[str, list[float]] = {}
    for pair in pairs:
        if pair.get("barrier") is not None:
            for seed in (pair["seed_a"], pair["seed_b"]):
                barriers.setdefault(f"{pair['setting']}/seed~{seed}", []).append(pair["barrier"])
    families: dict[str, Any] = {}
    for record in units:
        if record.get("family") is None:
            continue
        if record["epoch"] is None and record["run"] in barriers:
            record["metrics"]["connectivity_barrier_mean"] = float(np.mean(barriers[record["run"]]))
        fam = families.setdefault(
            record["family"],
            {"swept": list(record["swept"]), "values": {}, "seeds": set(), "metrics": {}, "epochs": set()},
        )
        for key, value in record["swept"].items():
            fam["values"].setdefault(key, set()).add(value)
        fam["seeds"].add(record["seed"])
        if record["epoch"] is not None:
            fam["epochs"].add(record["epoch"])
        for name in record["metrics"]:
            fam["metrics"][name] = None
    for name, fam in families.items():
        fam["values"] = {k: sorted(v, key=_sort_key) for k, v in fam["values"].items()}
        fam["seeds"], fam["epochs"], fam["metrics"] = (
            sorted(fam["seeds"]),
            sorted(fam["epochs"]),
            metric_order(name, list(fam["metrics"]), performance.get(name)),
        )
        fam["better"] = {m: d for m, d in better.get(name, {}).items() if m in fam["metrics"]}
    return {"results": str(results), "families": families, "units": units, "details": details, "connectivity": pairs}
