"""Everything the explorer page shows, read from a results folder into one JSON-able dict.

The page needs, per analysed model (unit: a run's final model or a checkpoint), a light record for the
sweep map and the scatter (identity, swept values, status, scalar metrics) and the heavier detail
views (loss slices, persistence diagram, merge tree, Hessian spectral density, training history,
profile SVG). Files are read directly from ``runs/`` so a folder with missing or failed stages still
gives a page: a unit whose files are absent gets ``status = "failed"`` and the stage that did not
finish, with the last line of its log; a diverged run keeps train.json's reason.

Arrays travel as base64 of little-endian float32 (``{"b64": ..., "shape": [...]}``), decoded in the page.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from losstopo.aggregate import hessian_columns
from losstopo.io import InputFileError, load_json, load_npz, read_csv_table
from losstopo.topology.knn import branch_decomposition

# The stages of one unit, in order, and the file each one leaves (the first one absent is the failing stage).
STAGES = (("train", "train.json"), ("directions", "directions.npz"), ("sample", "landscape.npz"),
          ("topology", "topology/topology.json"))
SLICE_CAP = 2**17  # loss values kept per unit for the slice view (slider positions are thinned above it)
MAX_PAIRS = 1000  # persistence pairs kept per diagram (the most persistent)
MAX_BRANCHES = 200  # merge tree branches drawn (the most persistent; closed under their parents)
MAX_CURVE = 400  # points kept of a spectral density or a training-history column
PROFILE = {"threshold": 0.01, "max_basins": 30, "levels": 32}  # the page's profiles: coarser than profile.svg


def packed(array: np.ndarray) -> dict[str, Any]:
    """An array as ``{"b64": base64 of float32 little-endian, "shape": [...]}`` (NaN and inf kept)."""
    a = np.ascontiguousarray(array, dtype="<f4")
    return {"b64": base64.b64encode(a.tobytes()).decode("ascii"), "shape": list(a.shape)}


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
        return {"kind": "scattered", "points": packed(pts[:, :2] if pts.shape[1] >= 2 else
                                                        np.c_[pts[:, 0], np.zeros(len(pts))]),
                "values": packed(loss[keep]), "dim": int(pts.shape[1])}
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
    return {"kind": "grid", "planes": packed(np.stack(planes)), "slider": slider, "axes": packed(axes),
            "dim": int(loss.ndim)}


def diagram(pairs: pd.DataFrame) -> dict[str, Any]:
    """Persistence diagram: the MAX_PAIRS most persistent (birth, death) pairs; essential deaths are inf."""
    birth, death = pairs["birth"].to_numpy(float), pairs["death"].to_numpy(float)
    order = np.argsort(-(death - birth), kind="stable")[:MAX_PAIRS]
    return {"pairs": packed(np.c_[birth[order], death[order]]), "n_pairs": int(len(pairs))}


def merge_tree(topology_dir: Path) -> dict[str, Any]:
    """The merge tree as its elder-rule branches (one per persistence pair): birth, death (inf for an
    essential class), parent branch and a drawing position ``x`` (depth-first order from the roots,
    children by decreasing death). Only the MAX_BRANCHES most persistent branches and their ancestors."""
    nodes = pd.read_csv(topology_dir / "merge_tree_nodes.csv")
    arcs = pd.read_csv(topology_dir / "merge_tree_arcs.csv")
    pairs = pd.read_csv(topology_dir / "persistence.csv")
    if not len(pairs):
        return {"branches": 0}
    node_of = pd.Series(nodes["node"].to_numpy(), index=nodes["vertex"].to_numpy())
    birth_node = node_of.reindex(pairs["birth_vertex"]).to_numpy()
    death_vertex = pairs["death_vertex"].to_numpy()
    death_node = np.where(death_vertex >= 0, node_of.reindex(np.where(death_vertex >= 0, death_vertex,
                                                                        nodes["vertex"].iloc[0])).to_numpy(), -1)
    parent = branch_decomposition(len(nodes), arcs["down_node"].to_numpy(), arcs["up_node"].to_numpy(),
                                  birth_node.astype(np.int64), death_node.astype(np.int64)).parent
    birth, death = pairs["birth"].to_numpy(float), pairs["death"].to_numpy(float)
    keep = set(np.argsort(-(death - birth), kind="stable")[:MAX_BRANCHES].tolist())
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
    return {"branches": len(order), "n_pairs": int(len(pairs)),
            "birth": packed(birth[order]), "death": packed(death[order]), "parent": par}


def profile(topology_dir: Path, landscape_path: Path) -> dict[str, Any]:
    """The topological landscape profile's valleys (:func:`losstopo.topology.profile.profile_geometry`,
    the geometry of profile.svg at PROFILE's coarser settings; log loss axis when every loss is positive):
    per valley its parent, mean loss and outline; outlines concatenated as (levels, left, right) rows."""
    from losstopo.topology.profile import profile_of_run

    loss = np.asarray(load_npz(landscape_path, required=("loss",))["loss"])
    finite = loss[np.isfinite(loss)]
    scale = "log" if finite.size and finite.min() > 0 else "linear"
    prof = profile_of_run(topology_dir, landscape_path, scale=scale, **PROFILE)
    if not prof.valleys:
        return {"valleys": 0}
    outline = np.concatenate([np.stack([v.levels, v.left, v.right]) for v in prof.valleys], axis=1)
    return {"valleys": len(prof.valleys), "n_basins": prof.n_basins, "scale": scale, "width": prof.width,
            "loss_min": prof.loss_min, "loss_max": prof.loss_max,
            "offsets": np.cumsum([0] + [v.levels.size for v in prof.valleys]).tolist(),
            "parent": [v.parent for v in prof.valleys], "mean": [_finite(v.mean_loss) for v in prof.valleys],
            "outline": packed(outline)}


def density(path: Path, report: dict[str, Any]) -> dict[str, Any]:
    """Hessian spectral density curve (grid, density) thinned to MAX_CURVE points, and the top eigenvalues."""
    arrays = load_npz(path, required=("grid", "density"))
    keep = _thin(len(arrays["grid"]), MAX_CURVE)
    top = (report.get("top") or {}).get("eigenvalues") or []
    return {"grid": packed(arrays["grid"][keep]), "density": packed(arrays["density"][keep]),
            "eigenvalues": [_finite(v) for v in top]}


def history(path: Path) -> dict[str, Any]:
    """Numeric columns of history.csv, rows thinned to MAX_CURVE."""
    frame = read_csv_table(path)
    numeric = frame.select_dtypes("number")
    keep = _thin(len(numeric), MAX_CURVE)
    return {"columns": list(numeric.columns), "values": packed(numeric.to_numpy(float)[keep].T)}


def numeric_metrics(*mappings: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for mapping in mappings:
        for key, value in mapping.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = _finite(value)
    return out


def unit_data(results: Path, unit_dir: Path, info: dict[str, Any], epoch: int | None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(light record, details) of one unit folder. Never raises for missing or unreadable files: the
    record's ``status`` becomes ``failed`` with the stage and the reason instead."""
    unit_id = str(unit_dir.relative_to(results / "runs"))
    record: dict[str, Any] = {"id": unit_id, "run": info["run_id"], "family": info["family"], "seed": info["seed"],
                              "epoch": epoch, "swept": info.get("swept", {}), "status": "ok", "reason": None,
                              "stage": None, "metrics": {}}
    details: dict[str, Any] = {}
    for stage, name in STAGES:
        if not (unit_dir / name).exists():
            tail = log_tail(results, unit_id, stage)
            record.update(status="failed", stage=stage,
                          reason=f"stage '{stage}' did not finish ({name} missing)" + (f": {tail}" if tail else ""))
            break
    try:
        if (unit_dir / "train.json").exists():
            train = load_json(unit_dir / "train.json")
            record["metrics"] = numeric_metrics(train.get("metrics") or {})
            if train.get("status") != "ok" and record["status"] == "ok":
                record["status"] = train.get("status") or "failed"
            if train.get("status") != "ok":
                record["reason"] = train.get("reason") or record["reason"]
        if (unit_dir / "history.csv").exists():
            details["history"] = history(unit_dir / "history.csv")
        if (unit_dir / "landscape.npz").exists():
            landscape = load_npz(unit_dir / "landscape.npz", required=("loss",))
            details["slices"] = slices(landscape)
            skipped = (landscape.get("metadata") or {}).get("skipped_reason")
            if skipped:
                details["slices"]["skipped"] = skipped
        topo_dir = unit_dir / "topology"
        if (topo_dir / "topology.json").exists():
            record["metrics"] |= numeric_metrics(load_json(topo_dir / "topology.json"))
            details["diagram"] = diagram(pd.read_csv(topo_dir / "persistence.csv"))
            details["tree"] = merge_tree(topo_dir)
        if (unit_dir / "hessian" / "hessian.json").exists():
            report = load_json(unit_dir / "hessian" / "hessian.json")
            record["metrics"] |= numeric_metrics(hessian_columns(report))
            if (unit_dir / "hessian" / "density.npz").exists():
                details["density"] = density(unit_dir / "hessian" / "density.npz", report)
            if (unit_dir / "landscape.npz").exists():
                details["profile"] = profile(topo_dir, unit_dir / "landscape.npz")
        if (unit_dir / "profile.svg").exists():
            details["profile_svg"] = str((unit_dir / "profile.svg").relative_to(results))
    except (InputFileError, OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        record.update(status="failed", reason=f"unreadable output: {exc}", stage=record["stage"] or "read")
    return record, details


def connectivity(results: Path) -> list[dict[str, Any]]:
    """Every pair file under ``connectivity/``: setting, seeds, path (t, loss), barrier, status, reason."""
    out = []
    for path in sorted((results / "connectivity").rglob("*.json")):
        try:
            pair = load_json(path)
            setting = str(path.parent.relative_to(results / "connectivity"))
            out.append({"setting": setting, "family": setting.split("/", 1)[0], "seed_a": pair["seed_a"],
                        "seed_b": pair["seed_b"], "t": [_finite(v) for v in pair["t"]],
                        "loss": [_finite(v) for v in pair["loss"]], "barrier": _finite(pair["barrier"]),
                        "status": pair["status"], "reason": pair.get("reason")})
        except (InputFileError, KeyError) as exc:
            out.append({"setting": str(path.parent.relative_to(results / "connectivity")), "status": "failed",
                        "reason": f"unreadable pair file: {exc}", "file": str(path)})
    return out


LEADING = ("n_minima", "n_saddles", "total_persistence", "avg_persistence", "max_persistence", "n_minima_simplified",
           "hessian_top_eigenvalue", "hessian_trace", "hessian_negative_mass", "connectivity_barrier_mean")


def metric_order(family: str, names: list[str]) -> list[str]:
    """The family's performance metrics first, then the main topology, Hessian and connectivity
    metrics, then every other numeric column alphabetically."""
    from losstopo.families import get_family  # imports torch

    try:
        performance = list(get_family(family).PERFORMANCE_METRICS)
    except ValueError:  # a family this version does not know: no performance metrics to put first
        performance = []
    lead = [n for n in performance + list(LEADING) if n in names]
    return lead + sorted(n for n in names if n not in lead)


def _sort_key(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))


def collect(results: str | Path) -> dict[str, Any]:
    """The explorer's data for one results folder: ``families`` (swept keys and their values, seeds,
    metric names), ``units`` (light records), ``details`` (per unit id), ``connectivity`` (pairs).

    Raises InputFileError when ``results/runs`` does not exist."""
    results = Path(results)
    if not (results / "runs").is_dir():
        raise InputFileError(f"{results}: no runs/ folder: not a losstopo results folder")
    units, details = [], {}
    for run_json in sorted((results / "runs").rglob("run.json")):
        try:
            info = load_json(run_json)
            missing = [key for key in ("run_id", "family", "seed") if key not in info]
            if missing:
                raise KeyError(f"no {', '.join(missing)}")
        except (InputFileError, KeyError) as exc:
            units.append({"id": str(run_json.parent.relative_to(results / "runs")), "status": "failed",
                          "reason": f"unreadable run.json: {exc}", "stage": "run_info", "family": None})
            continue
        unit_dirs = [(run_json.parent, None)] + sorted(
            ((d, int(d.name.split("~", 1)[1])) for d in run_json.parent.glob("epoch~*") if d.is_dir()),
            key=lambda item: item[1])
        for unit_dir, epoch in unit_dirs:
            record, detail = unit_data(results, unit_dir, info, epoch)
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
        fam = families.setdefault(record["family"], {"swept": list(record["swept"]), "values": {}, "seeds": set(),
                                                     "metrics": {}, "epochs": set()})
        for key, value in record["swept"].items():
            fam["values"].setdefault(key, set()).add(value)
        fam["seeds"].add(record["seed"])
        if record["epoch"] is not None:
            fam["epochs"].add(record["epoch"])
        for name in record["metrics"]:
            fam["metrics"][name] = None
    for name, fam in families.items():
        fam["values"] = {k: sorted(v, key=_sort_key) for k, v in fam["values"].items()}
        fam["seeds"], fam["epochs"], fam["metrics"] = sorted(fam["seeds"]), sorted(fam["epochs"]), metric_order(
            name, list(fam["metrics"]))
    return {"results": str(results), "families": families, "units": units, "details": details,
            "connectivity": pairs}
