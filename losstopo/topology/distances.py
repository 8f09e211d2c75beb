"""Shape distances between landscapes: bottleneck and Wasserstein distances of 0-dim diagrams.

Paper 1 claims that the landscape's shape varies most across seeds near the transition from low to
high error. ``distance_table`` makes that checkable: for every family it compares the persistence
diagrams (``topology/persistence.csv``) of the seeds of each hyperparameter setting, and of
neighbouring settings of the sweep (one swept value one step apart, same seed).

Distances: exact bottleneck and q-Wasserstein distances (Cohen-Steiner, Edelsbrunner & Harer 2007; Kerber,
Morozov & Nigmanov 2017) as assignment problems on the augmented cost matrix, solved with scipy: a minimum-cost
perfect matching (``linear_sum_assignment``) for Wasserstein, and the smallest candidate cost that admits a perfect
matching (``maximum_bipartite_matching``, binary search) for bottleneck. Both are polynomial and terminate on every
input by construction; Hera (``gudhi.hera``) was dropped because its auction loops on diagonal points
(gudhi-devel#477). Defaults: order 1, L-infinity ground metric. Both are computed on the raw
diagrams (loss units) and on diagrams rescaled to the landscape's loss range ((x - min) / (max - min),
``*_rel``), which compares shapes across settings whose losses differ by orders of magnitude.

Essential classes (death = inf): ``essential="drop"`` (default) leaves them out, so the distance
compares the finite (minimum, saddle) pairs, i.e. the basin structure; ``"max"`` closes each one at
the landscape's largest finite loss, TTK's (global minimum, global maximum) convention. See
docs/profile.md.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from losstopo.io import InputFileError, save_csv

ESSENTIAL = ("drop", "max")


def diagram(birth, death, essential: str = "drop", loss_max: float | None = None) -> np.ndarray:
    """(m, 2) finite diagram from pairs; infinite deaths dropped or replaced by ``loss_max``."""
    if essential not in ESSENTIAL:
        raise ValueError(f"essential must be one of {', '.join(ESSENTIAL)}, got {essential!r}")
    points = np.stack([np.asarray(birth, np.float64), np.asarray(death, np.float64)], axis=1).reshape(-1, 2)
    infinite = ~np.isfinite(points[:, 1])
    if essential == "drop":
        return points[~infinite]
    if infinite.any() and (loss_max is None or not np.isfinite(loss_max)):
        raise ValueError("essential='max' needs the landscape's finite maximum loss")
    points[infinite, 1] = loss_max
    return points


def _split(points, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(finite off-diagonal points (k, 2), births of the essential classes (e,)) of one diagram.

    Points on the diagonal (zero persistence) are at distance 0 from it and change no distance: dropped.
    Raises ValueError on a wrong shape, NaN, a non-finite birth or a death of -inf."""
    d = np.asarray(points, np.float64)
    d = d.reshape(0, 2) if d.size == 0 else d
    if d.ndim != 2 or d.shape[1] != 2:
        raise ValueError(f"diagram {name}: expected an (n, 2) array of (birth, death), got shape {d.shape}")
    bad = np.flatnonzero(np.isnan(d).any(axis=1) | ~np.isfinite(d[:, 0]) | (d[:, 1] == -np.inf))
    if len(bad):
        raise ValueError(f"diagram {name}: point {d[bad[0]].tolist()} (row {bad[0]}); births must be finite, "
                         "deaths finite or +inf, no NaN")
    essential = np.isposinf(d[:, 1])
    finite = d[~essential]
    return finite[finite[:, 0] != finite[:, 1]], d[essential, 0]


def _prepare(a, b, p: float):
    """Both diagrams scaled by one power of two (exact) so that every coordinate is below 1 in magnitude: no cost
    overflows near +-1e308 or underflows near 1e-320. Returns (point-to-point costs (n, m), each point's distance
    to the diagonal (n,) and (m,), sorted essential births of a and b, the exponent of the scale)."""
    if not p >= 1:
        raise ValueError(f"internal_p must be >= 1 (a norm), got {p}")
    (fa, ea), (fb, eb) = _split(a, "a"), _split(b, "b")
    values = np.concatenate([fa.ravel(), fb.ravel(), ea, eb])
    exponent = int(np.frexp(np.abs(values).max())[1]) if len(values) else 0
    fa, fb, ea, eb = (np.ldexp(x, -exponent) for x in (fa, fb, ea, eb))
    cost = np.linalg.norm(fa[:, None, :] - fb[None, :, :], ord=p, axis=2).reshape(len(fa), len(fb))
    to_diagonal = [np.abs(f[:, 1] - f[:, 0]) / 2 * 2 ** (1 / p) for f in (fa, fb)]  # nearest: ((b+d)/2, (b+d)/2)
    return cost, *to_diagonal, np.sort(ea), np.sort(eb), exponent


def _saturates(graph: np.ndarray) -> bool:
    """Whether the bipartite graph (rows x columns, boolean) has a matching covering every row."""
    if not graph.shape[0]:
        return True
    return bool((maximum_bipartite_matching(csr_matrix(graph), perm_type="column") >= 0).all())


def bottleneck(a: np.ndarray, b: np.ndarray, internal_p: float = np.inf) -> float:
    """Exact bottleneck distance between two persistence diagrams ((n, 2) and (m, 2) arrays of (birth, death)).

    The smallest candidate cost c (point to point, L-``internal_p``, or point to diagonal) at which the points
    farther than c from the diagonal can all be matched to points at most c away; binary search over the
    candidates. By the Mendelsohn-Dulmage theorem such a matching exists iff one covers those of a and one covers
    those of b (two Hopcroft-Karp matchings, scipy). Essential classes (death = +inf) match each other by sorted
    birth; a different number of them gives inf. Raises ValueError on malformed diagrams (``_split``)."""
    cost, diag_a, diag_b, ea, eb, exponent = _prepare(a, b, internal_p)
    if len(ea) != len(eb):
        return np.inf
    candidates = np.unique(np.concatenate([cost.ravel(), diag_a, diag_b, np.abs(ea - eb), [0.0]]))
    lo, hi = 0, len(candidates) - 1  # feasible at the largest candidate: every point may go to the diagonal
    while lo < hi:
        mid = (lo + hi) // 2
        c = candidates[mid]
        feasible = (_saturates(cost[diag_a > c] <= c) and _saturates((cost[:, diag_b > c] <= c).T)
                    and (np.abs(ea - eb) <= c).all())
        lo, hi = (lo, mid) if feasible else (mid + 1, hi)
    return float(np.ldexp(candidates[lo], exponent))


def wasserstein(a: np.ndarray, b: np.ndarray, order: float = 1.0, internal_p: float = np.inf) -> float:
    """Exact q-Wasserstein distance (q = ``order`` >= 1) between two persistence diagrams ((n, 2), (m, 2)).

    (min over matchings of the sum of cost^q)^(1/q), L-``internal_p`` ground metric, unmatched points go to the
    diagonal: a minimum-cost perfect matching (scipy ``linear_sum_assignment``) on the augmented (n + m) square
    matrix (point to point; point to any diagonal slot at its distance to the diagonal; diagonal to diagonal 0).
    ``order=inf`` is the bottleneck distance. Essential classes (death = +inf) match each other by sorted birth
    (optimal in one dimension); a different number of them gives inf. Raises ValueError on malformed diagrams or
    order < 1."""
    if not order >= 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if order == np.inf:
        return bottleneck(a, b, internal_p)
    cost, diag_a, diag_b, ea, eb, exponent = _prepare(a, b, internal_p)
    if len(ea) != len(eb):
        return np.inf
    n, m = cost.shape
    augmented = np.zeros((n + m, m + n))
    augmented[:n, :m], augmented[:n, m:], augmented[n:, :m] = cost, diag_a[:, None], diag_b[None, :]
    augmented **= order
    rows, cols = linear_sum_assignment(augmented)
    total = augmented[rows, cols].sum() + (np.abs(ea - eb) ** order).sum()
    return float(np.ldexp(total ** (1 / order), exponent))


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
            out.append({"kind": "seed", "hyperparameter": "", "values": values, "other_values": values,
                        "a": seeds[s_a], "b": seeds[s_b]})
    for i, key in enumerate(keys):
        axis = sorted({v[i] for v in settings}, key=_sort_key)
        step = {v: w for v, w in zip(axis, axis[1:])}
        for values, seeds in sorted(settings.items(), key=lambda kv: [_sort_key(v) for v in kv[0]]):
            if values[i] not in step:
                continue
            other = values[:i] + (step[values[i]],) + values[i + 1:]
            for seed in sorted(set(seeds) & set(settings.get(other, {}))):
                out.append({"kind": "neighbour", "hyperparameter": key, "values": values, "other_values": other,
                            "a": seeds[seed], "b": settings[other][seed]})
    return out


def _diagrams(row: pd.Series, essential: str) -> tuple[np.ndarray, np.ndarray]:
    path = Path(row["run_dir"]) / "topology" / "persistence.csv"
    try:
        pairs = pd.read_csv(path)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    raw = diagram(pairs["birth"], pairs["death"], essential, row["loss_max"])
    try:
        _split(raw, str(path))
    except ValueError as exc:
        raise InputFileError(str(exc)) from None
    lo, hi = row["loss_min"], row["loss_max"]
    rel = (raw - lo) / (hi - lo) if np.isfinite(lo) and np.isfinite(hi) and hi > lo else np.full_like(raw, np.nan)
    return raw, rel


def distance_table(runs: pd.DataFrame, essential: str = "drop") -> pd.DataFrame:
    """One row per compared pair of runs (see ``comparisons``); runs without finite samples are skipped."""
    from losstopo.aggregate import swept_keys

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
            rows.append({
                "family": family, "kind": pair["kind"], "hyperparameter": pair["hyperparameter"],
                "setting": _label(keys, pair["values"]), "other_setting": _label(keys, pair["other_values"]),
                **dict(zip(keys, pair["values"])),
                "seed_a": int(ra["seed"]), "seed_b": int(rb["seed"]), "run_a": ra["run_id"], "run_b": rb["run_id"],
                "n_points_a": len(raw_a), "n_points_b": len(raw_b),
                "bottleneck": bottleneck(raw_a, raw_b), "wasserstein": wasserstein(raw_a, raw_b),
                "bottleneck_rel": bottleneck(rel_a, rel_b) if rel_ok else np.nan,
                "wasserstein_rel": wasserstein(rel_a, rel_b) if rel_ok else np.nan,
                "essential": essential,
            })
    columns = ["family", "kind", "hyperparameter", "setting", "other_setting", "seed_a", "seed_b", "run_a", "run_b",
               "n_points_a", "n_points_b", "bottleneck", "wasserstein", "bottleneck_rel", "wasserstein_rel",
               "essential"]
    table = pd.DataFrame(rows)
    return table if len(table) else pd.DataFrame(columns=columns)


def main(args) -> int:
    """``losstopo distances``: results/tables/distances.csv from runs.csv."""
    try:
        runs = pd.read_csv(args.runs)
    except FileNotFoundError:
        raise InputFileError(f"{args.runs}: file not found") from None
    table = distance_table(runs, args.essential)
    save_csv(args.out, table)
    kinds = table["kind"].value_counts().to_dict() if len(table) else {}
    print(f"losstopo distances: {len(table)} comparisons {kinds} -> {args.out}", flush=True)
    if len(table):
        seeds = table[table["kind"] == "seed"].groupby(["family", "setting"], sort=False)["wasserstein_rel"].mean()
        for (family, setting), value in seeds.items():
            print(f"  {family} {setting}: mean relative W1 between seeds {value:.4g}", flush=True)
    return 0
