"""Statistics of topology against performance over a sweep: the tables behind ``results/findings.md``.

From ``runs.csv`` (one row per run) this computes, per model family and using only runs with
``status == "ok"`` and finite values:

- ``correlations.csv``: rank correlation of every (topology or curvature metric, performance metric) pair
  over grid points (each grid point's mean over its seeds: the seeds of one setting are not independent
  evidence about the setting, so n counts grid points), with the smallest p-value the test can reach;
- ``trends.csv``: the same of every metric with every numeric swept hyperparameter;
- ``variability.csv``: mean, s.d. and coefficient of variation of every metric across seeds, per grid point;
- ``transition.csv``: is the across-seed variability of topology higher in the transition zone of the
  performance curve along a hyperparameter than elsewhere (paper 1's transition claim)?

Every statistic that cannot be computed (too few runs, a constant column, ...) is NaN with the reason in
the ``note`` column; nothing here raises on degenerate data. docs/findings.md defines each column.
"""

from __future__ import annotations

import itertools
import math
import zlib
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from losstopo.io import save_csv
from losstopo.summary.tables import (
    curvature_metrics,
    family_performance,
    format_value,
    grid_label,
    measured,
    numeric,
    ok_runs,
    read_runs,
    swept_keys,
    topology_metrics,
)

MIN_PAIRS = 3  # below this a rank correlation has no usable p-value
PLATEAU = 0.1  # share of the performance range within which a value of a key counts as on a plateau
MIN_VALID_BOOT = 0.5  # share of bootstrap resamples that must be non-degenerate for an interval
STATISTICS = ("std", "cv")  # variability measures tested in transition.csv
TRANSITION_COLUMNS = [
    "family",
    "key",
    "performance",
    "n_values",
    "low",
    "high",
    "performance_low",
    "performance_high",
    "jump",
    "metric",
    "statistic",
    "n_grid_points",
    "n_near",
    "mean_near",
    "mean_far",
    "ratio",
    "p_value",
    "min_p",
    "n_permutations",
    "exact",
    "note",
]


# ---------------------------------------------------------------------------------------------------------
# Which columns are what


def _family_metrics(
    frame: pd.DataFrame, performance: Mapping[str, Iterable[str]] | None, only: Iterable[str] | None = None
):
    """The family's measured topology, curvature and performance columns (topology and curvature limited to
    ``only`` when given), and its performance metrics, headline first."""
    family = str(frame["family"].iloc[0])
    perf = list(performance[family] if performance is not None else family_performance(frame))
    wanted = None if only is None else set(only)

    def pick(columns: list[str]) -> list[str]:
        return measured(frame, [c for c in columns if wanted is None or c in wanted])

    return {
        "topology": pick(topology_metrics(frame.columns)),
        "curvature": pick(curvature_metrics(frame.columns)),
        "performance": measured(frame, perf),
    }, list(perf)


def _rng(seed: int, *labels: str) -> np.random.Generator:
    """A generator per (seed, labels): a pair's interval does not depend on which other pairs exist."""
    return np.random.default_rng([seed, zlib.crc32("|".join(labels).encode())])


# ---------------------------------------------------------------------------------------------------------
# Rank correlation with a bootstrap interval


def _bootstrap_rank_correlations(x: np.ndarray, y: np.ndarray, weights: np.ndarray):
    """Spearman rho and Kendall tau-b of every bootstrap resample, each given by its multiplicity ``weights``.

    A resample that repeats run i w_i times has, for every copy of i, the average rank
    ``sum_j w_j [x_j < x_i] + (sum_j w_j [x_j == x_i] + 1) / 2``; Kendall's tau-b is
    ``w' (Sx * Sy) w / sqrt((w' |Sx| w)(w' |Sy| w))`` with ``S[i, j] = sign(x_i - x_j)`` (copies of one run
    are tied pairs, sign 0). Both are matrix products over runs, so B resamples cost O(B n^2) BLAS work.
    Degenerate resamples (one variable constant) give NaN.
    """
    w = weights.astype(float)
    n = w.sum(axis=1, keepdims=True)
    rho_parts = []
    for v in (x, y):
        less = (v[None, :] < v[:, None]).astype(float)  # less[i, j] = v_j < v_i
        equal = (v[None, :] == v[:, None]).astype(float)
        ranks = w @ less.T + (w @ equal.T + 1) / 2
        mean = (w * ranks).sum(axis=1, keepdims=True) / n
        rho_parts.append(ranks - mean)
    dx, dy = rho_parts
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (w * dx * dy).sum(1) / np.sqrt((w * dx * dx).sum(1) * (w * dy * dy).sum(1))
        sx, sy = np.sign(x[:, None] - x[None, :]), np.sign(y[:, None] - y[None, :])
        concord = ((w @ (sx * sy)) * w).sum(1)
        tau = concord / np.sqrt(((w @ np.abs(sx)) * w).sum(1) * ((w @ np.abs(sy)) * w).sum(1))
    # rounding can push a perfect correlation a hair past 1
    return np.clip(rho, -1, 1), np.clip(tau, -1, 1)


def _no_association(n: int, n_boot: int, note: str) -> dict:
    return {
        "n": n,
        "spearman_rho": np.nan,
        "spearman_p": np.nan,
        "spearman_ci_low": np.nan,
        "spearman_ci_high": np.nan,
        "kendall_tau": np.nan,
        "kendall_p": np.nan,
        "kendall_ci_low": np.nan,
        "kendall_ci_high": np.nan,
        "spearman_min_p": np.nan,
        "kendall_min_p": np.nan,
        "p_exact": False,
        "n_permutations": 0,
        "n_boot": n_boot,
        "n_boot_valid": 0,
        "note": note,
    }


_ASSOCIATION_COLUMNS = list(_no_association(0, 0, ""))
_ASSOCIATION_COLUMNS.insert(_ASSOCIATION_COLUMNS.index("spearman_p") + 1, "spearman_q")
_BATCH_ELEMENTS = 2_000_000  # permutations per batch times n^2 (Kendall's pair signs), at most about 8 MB


def _permutation_p_values(x: np.ndarray, y: np.ndarray, n_perm: int, seeds: tuple[int, int]) -> dict:
    """Two-sided permutation p-values of Spearman's rho and Kendall's tau-b (``spearman_p``, ``kendall_p``), each
    test drawing its pairings from its own seed of ``seeds`` (so two calls with the same seeds see the same
    pairings)."""
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    upper_i, upper_j = np.triu_indices(len(x), 1)  # each pair once: sign matrices are antisymmetric
    sy = np.sign(ry[upper_i] - ry[upper_j]).astype(np.float32)  # +-1 and 0 sum exactly in float32
    untied_x = np.count_nonzero(rx[upper_i] != rx[upper_j])  # permutation invariant, like y's
    rho_norm = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    tau_norm = np.sqrt(float(untied_x) * np.count_nonzero(sy))

    def rho(a, axis=-1):
        return (a * ry).sum(axis=-1) / rho_norm

    def tau(a, axis=-1):
        a = a.astype(np.float32)  # ranks: halves and integers, exact
        return (np.sign(a[..., upper_i] - a[..., upper_j]) @ sy) / tau_norm

    batch = max(1, _BATCH_ELEMENTS // len(x) ** 2)
    out = {}
    for (name, statistic), seed in zip((("spearman_p", rho), ("kendall_p", tau)), seeds):
        result = stats.permutation_test(
            (rx,),
            statistic,
            permutation_type="pairings",
            vectorized=True,
            n_resamples=n_perm,
            batch=batch,
            rng=np.random.default_rng(seed),
        )
        out[name] = float(result.pvalue)
    return out


def extreme_arrangements(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values of ``y`` re-paired with ``x`` in the same rank order and in the opposite one: the pairings with
    the largest and the smallest rank correlation that these two sets of values (ties included) allow."""
    order = np.argsort(x, kind="stable")
    concordant, discordant = np.empty_like(y), np.empty_like(y)
    concordant[order], discordant[order] = np.sort(y), np.sort(y)[::-1]
    return concordant, discordant


def rank_permutation_test(x: np.ndarray, y: np.ndarray, n_perm: int, rng: np.random.Generator) -> dict:
    """Two-sided permutation p-values of Spearman's rho and Kendall's tau-b for paired samples of size n, and the
    smallest p-values the same tests can return for these values.

    ``scipy.stats.permutation_test`` with ``permutation_type="pairings"`` (the pairing of x with y is
    shuffled): exact, over all n! pairings, when n! <= ``n_perm``; otherwise ``n_perm`` random pairings
    with scipy's add-one estimate ``(b + 1) / (B + 1)``. So a p-value is never 0, and at n = 3 it is at
    least 1/3. Ties are handled by average ranks (rho) and tau-b. ``spearman_min_p`` and ``kendall_min_p``
    are the p-values of the most extreme pairings (``extreme_arrangements``) over the same pairings: below
    them no data with these values can go, so a claim whose ``min_p`` is at least the significance level
    cannot be supported by this sweep whatever it shows. Returns ``spearman_p``, ``kendall_p``, both
    ``_min_p``, ``p_exact`` and ``n_permutations``.
    """
    seeds = (int(rng.integers(2**63)), int(rng.integers(2**63)))  # one per test; the extremes reuse them
    out = _permutation_p_values(x, y, n_perm, seeds)
    extremes = [_permutation_p_values(x, arranged, n_perm, seeds) for arranged in extreme_arrangements(x, y)]
    for name in ("spearman", "kendall"):
        out[f"{name}_min_p"] = min(p[f"{name}_p"] for p in extremes)
    exact = math.factorial(len(x)) <= n_perm
    out.update(p_exact=exact, n_permutations=math.factorial(len(x)) if exact else n_perm)
    return out


def rank_association(
    x: np.ndarray,
    y: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    names: tuple[str, str] = ("x", "y"),
    n_perm: int = 10000,
) -> dict:
    """Spearman and Kendall (tau-b) coefficients of paired finite samples with percentile bootstrap 95% intervals.

    p-values are permutation p-values (``rank_permutation_test``: exact for n! <= ``n_perm``, with the smallest
    attainable ones). Resamples the pairs with replacement ``n_boot`` times for the intervals. NaN with a
    ``note`` naming what is missing when n < MIN_PAIRS or a variable is constant.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    out = _no_association(n, n_boot, "")
    if n < MIN_PAIRS:
        out["note"] = f"fewer than {MIN_PAIRS} pairs of finite values (n = {n})"
        return out
    constant = [name for name, v in zip(names, (x, y)) if np.ptp(v) == 0]
    if constant:
        out["note"] = " and ".join(
            f"{name} is constant ({v[0]:g})" for name, v in zip(names, (x, y)) if name in constant
        )
        return out
    out.update(
        spearman_rho=float(stats.spearmanr(x, y).statistic),
        kendall_tau=float(stats.kendalltau(x, y).statistic),
        **rank_permutation_test(x, y, n_perm, rng),
    )
    if n_boot <= 0:
        out["note"] = "no bootstrap requested"
        return out
    weights = rng.multinomial(n, np.full(n, 1 / n), size=n_boot)
    rho, tau = _bootstrap_rank_correlations(x, y, weights)
    valid = np.isfinite(rho) & np.isfinite(tau)
    out["n_boot_valid"] = int(valid.sum())
    if valid.sum() < MIN_VALID_BOOT * n_boot:
        out["note"] = (
            f"bootstrap interval omitted: only {valid.sum()} of {n_boot} resamples had both variables non-constant"
        )
        return out
    out["spearman_ci_low"], out["spearman_ci_high"] = np.percentile(rho[valid], [2.5, 97.5])
    out["kendall_ci_low"], out["kendall_ci_high"] = np.percentile(tau[valid], [2.5, 97.5])
    return out


def grid_point_means(frame: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Each grid point's mean of ``x`` and of ``y`` over its runs with status ok and both values finite (the
    grid points in sorted order), and those runs. A swept hyperparameter as ``x`` is its own mean."""
    ok = ok_runs(frame)
    values = pd.DataFrame({"x": numeric(ok, x), "y": numeric(ok, y)}, index=ok.index)
    used = values.notna().all(axis=1)
    keys = swept_keys(frame)
    if not keys:
        means = values[used].mean().to_frame().T if used.any() else values.iloc[:0]
    else:
        means = values[used].groupby([ok.loc[used, k] for k in keys], sort=True, dropna=False).mean()
    return means["x"].to_numpy(float), means["y"].to_numpy(float), ok[used]


def design(runs: pd.DataFrame, keys: list[str]) -> str:
    """What a set of runs spans, e.g. ``1 seed × 2 grid points (beta)``: the words of a too-few note."""
    seeds = runs["seed"].nunique() if len(runs) else 0
    points = len(runs.groupby(keys, dropna=False)) if keys and len(runs) else int(len(runs) > 0)
    grid = f" ({', '.join(keys)})" if keys else " (nothing swept)"
    return f"{seeds} seed{'s' * (seeds != 1)} × {points} grid point{'s' * (points != 1)}{grid}"


def _associate(frame: pd.DataFrame, x: str, y: str, n_boot: int, n_perm: int, rng) -> dict:
    """rank_association of two columns over the family's grid points (``grid_point_means``); ``n`` counts grid
    points, ``n_runs`` the runs averaged into them; a too-few note names the design."""
    xv, yv, used = grid_point_means(frame, x, y)
    stat = rank_association(xv, yv, n_boot, rng, names=(x, y), n_perm=n_perm)
    if len(xv) < MIN_PAIRS:
        stat["note"] = (
            f"only {len(xv)} grid point(s) with runs with status ok and finite {x} and {y} "
            f"({design(used, swept_keys(frame))}); a rank correlation needs at least {MIN_PAIRS} grid points"
        )
    return {"n_excluded": len(frame) - len(used), "n_runs": len(used), **stat}


def _bh(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values of the finite entries (NaN stays NaN)."""
    out = pd.Series(np.nan, index=p.index)
    finite = p.notna()
    if finite.any():
        out[finite] = stats.false_discovery_control(p[finite].to_numpy())
    return out


def correlations(
    runs: pd.DataFrame,
    n_boot: int = 2000,
    seed: int = 0,
    performance: Mapping[str, Iterable[str]] | None = None,
    n_perm: int = 10000,
    only: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per family and (topology or curvature metric, performance metric) pair, over grid points;
    ``only`` limits the topology and curvature metrics."""
    rows = []
    for family, frame in runs.groupby("family", sort=True):
        metrics, _ = _family_metrics(frame, performance, only)
        family_rows = []
        for kind in ("topology", "curvature"):
            for x, y in itertools.product(metrics[kind], metrics["performance"]):
                family_rows.append(
                    {
                        "family": family,
                        "metric": x,
                        "metric_kind": kind,
                        "performance": y,
                        **_associate(frame, x, y, n_boot, n_perm, _rng(seed, family, x, y)),
                    }
                )
        block = pd.DataFrame(family_rows)
        if len(block):
            block.insert(block.columns.get_loc("spearman_p") + 1, "spearman_q", _bh(block["spearman_p"]))
        rows.append(block)
    return _concat(
        rows, ["family", "metric", "metric_kind", "performance", "n_excluded", "n_runs", *_ASSOCIATION_COLUMNS]
    )


def trends(
    runs: pd.DataFrame,
    n_boot: int = 2000,
    seed: int = 0,
    performance: Mapping[str, Iterable[str]] | None = None,
    n_perm: int = 10000,
    only: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per family, numeric swept hyperparameter and metric: does the metric rise or fall with it (over
    grid points)? ``only`` limits the topology and curvature metrics."""
    rows = []
    for family, frame in runs.groupby("family", sort=True):
        metrics, _ = _family_metrics(frame, performance, only)
        for key in swept_keys(frame):
            numeric = pd.api.types.is_numeric_dtype(frame[key])
            for kind in ("topology", "curvature", "performance"):
                for metric in metrics[kind]:
                    row = {"family": family, "key": key, "metric": metric, "metric_kind": kind}
                    if not numeric:
                        rows.append(
                            {
                                **row,
                                "n_excluded": len(frame),
                                "n_runs": 0,
                                **_no_association(0, n_boot, f"{key} is not numeric: no order to correlate with"),
                            }
                        )
                        continue
                    rows.append(
                        {**row, **_associate(frame, key, metric, n_boot, n_perm, _rng(seed, family, key, metric))}
                    )
    columns = ["family", "key", "metric", "metric_kind", "n_excluded", "n_runs", *_ASSOCIATION_COLUMNS]
    return _concat([pd.DataFrame(rows)], [c for c in columns if c != "spearman_q"])


def _concat(blocks: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The blocks stacked; with no rows at all, an empty table that still has its columns (a CSV header)."""
    blocks = [b for b in blocks if len(b)]
    return pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=columns)


# ---------------------------------------------------------------------------------------------------------
# Across-seed variability and the transition test


def variability(
    runs: pd.DataFrame, performance: Mapping[str, Iterable[str]] | None = None, only: Iterable[str] | None = None
) -> pd.DataFrame:
    """Mean, s.d. (ddof 1) and coefficient of variation across seeds of every metric at every grid point;
    ``only`` limits the topology and curvature metrics."""
    rows = []
    for family, frame in runs.groupby("family", sort=True):
        metrics, _ = _family_metrics(frame, performance, only)
        keys = swept_keys(frame)
        ok = ok_runs(frame)
        groups = ok.groupby(keys, sort=True, dropna=False) if keys else [((), ok)]
        for values, point in groups:
            values = values if isinstance(values, tuple) else (values,)
            for kind in ("topology", "curvature", "performance"):
                for metric in metrics[kind]:
                    v = numeric(point, metric)
                    v = v[np.isfinite(v)]
                    mean = float(v.mean()) if len(v) else np.nan
                    # equal values give exactly 0, not rounding noise that a ratio would magnify
                    std = (0.0 if np.ptp(v) == 0 else float(v.std(ddof=1))) if len(v) >= 2 else np.nan
                    note = ""
                    if len(v) < 2:
                        note = f"fewer than 2 seeds with status ok and a finite value (n = {len(v)})"
                        cv = np.nan
                    elif mean == 0:
                        note, cv = "mean is 0: coefficient of variation undefined", np.nan
                    else:
                        cv = std / abs(mean)
                    rows.append(
                        {
                            "family": family,
                            "grid_point": grid_label(keys, values),
                            **dict(zip(keys, values)),
                            "metric": metric,
                            "metric_kind": kind,
                            "n_seeds": len(v),
                            "mean": mean,
                            "std": std,
                            "cv": cv,
                            "note": note,
                        }
                    )
    fixed = ["family", "grid_point"]
    tail = ["metric", "metric_kind", "n_seeds", "mean", "std", "cv", "note"]
    table = pd.DataFrame(rows, columns=None if rows else fixed + tail)
    return table[fixed + [c for c in table.columns if c not in fixed + tail] + tail]


def locate_transition(frame: pd.DataFrame, key: str, metric: str) -> dict:
    """The transition zone of ``metric`` along ``key``: where the mean over seeds and other keys changes level.

    Uses runs with status ok and a finite metric; m_1..m_K are the means at the sorted values of the key and R
    their range. The zone starts from the neighbouring pair with the largest change |m_{i+1} - m_i| (the lower
    pair on ties) and grows over every neighbouring value whose mean lies off both plateaus, i.e. more than
    ``PLATEAU`` * R from the smallest and from the largest mean; it ends at the first value on a plateau on each
    side. So a step between two values gives those two values, a gradual change every value on its slope and the
    two plateau values that bound it. Returns ``n_values`` (values of the key with a finite mean), ``low`` and
    ``high`` (the zone's first and last value), ``performance_low``, ``performance_high`` (the means there),
    ``near`` (the zone's values) and ``note`` (NaN and a reason when the key is not numeric, booleans included,
    or has fewer than two values).
    """
    out = {
        "n_values": 0,
        "low": np.nan,
        "high": np.nan,
        "performance_low": np.nan,
        "performance_high": np.nan,
        "near": [],
        "note": "",
    }
    if not pd.api.types.is_numeric_dtype(frame[key]) or pd.api.types.is_bool_dtype(frame[key]):  # yes/no: a category
        out["note"] = f"{key} is not numeric: no order to define neighbouring grid points"
        return out
    ok = ok_runs(frame)
    perf = pd.Series(numeric(ok, metric), index=ok.index)
    means = perf.groupby(pd.to_numeric(ok[key])).mean().dropna().sort_index()
    out["n_values"] = len(means)
    if len(means) < 2:
        out["note"] = f"fewer than 2 values of {key} with a finite {metric}"
        return out
    m = means.to_numpy()
    margin = PLATEAU * (m.max() - m.min())
    sloped = (m > m.min() + margin) & (m < m.max() - margin)
    low = high = int(np.argmax(np.abs(np.diff(m))))
    high += 1
    while low > 0 and sloped[low]:
        low -= 1
    while high < len(m) - 1 and sloped[high]:
        high += 1
    out.update(
        low=means.index[low],
        high=means.index[high],
        performance_low=m[low],
        performance_high=m[high],
        near=means.index[low : high + 1].tolist(),
    )
    return out


def permutation_test(values: np.ndarray, near: np.ndarray, n_perm: int, rng: np.random.Generator) -> dict:
    """One-sided test that ``values[near]`` have a higher mean than a random subset of the same size.

    Exact (all subsets enumerated) when there are at most ``n_perm`` subsets, otherwise ``n_perm`` random
    subsets with the add-one estimate ``(1 + hits) / (1 + n_perm)``. ``min_p`` is the smallest p-value the
    test can return: with few grid points it can exceed any useful significance level.
    """
    values = np.asarray(values, float)
    near = np.asarray(near, bool)
    n, m = len(values), int(near.sum())
    observed = values[near].mean()
    tolerance = 1e-9 * float(np.abs(values).max())  # subset means equal up to rounding count as ties
    total = math.comb(n, m)
    if total <= n_perm:
        subsets = np.array(list(itertools.combinations(range(n), m)), dtype=int)
        means = values[subsets].mean(axis=1)
        hits = int((means >= observed - tolerance).sum())
        return {"p_value": hits / total, "min_p": 1 / total, "n_permutations": total, "exact": True}
    subsets = rng.random((n_perm, n)).argsort(axis=1)[:, :m]
    means = values[subsets].mean(axis=1)
    hits = int((means >= observed - tolerance).sum())
    return {"p_value": (1 + hits) / (1 + n_perm), "min_p": 1 / (1 + n_perm), "n_permutations": n_perm, "exact": False}


def transition(
    runs: pd.DataFrame,
    variability_table: pd.DataFrame,
    n_perm: int = 10000,
    seed: int = 0,
    performance: Mapping[str, Iterable[str]] | None = None,
    only: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Paper 1's claim: topology varies most across seeds at the grid points near the performance transition.

    Per family, swept key, topology or curvature metric and variability statistic (s.d., c.v.): the
    transition zone is where the headline performance metric changes level along the key
    (``locate_transition``); grid points whose key lies in it are "near", all others "far".
    Reports mean variability near and far, their ratio, and a permutation p-value (``permutation_test``)
    over grid points with a finite statistic.
    """
    rows = []
    for family, frame in runs.groupby("family", sort=True):
        metrics, perf = _family_metrics(frame, performance, only)
        headline = perf[0]
        table = variability_table[variability_table["family"] == family] if len(variability_table) else None
        for key in swept_keys(frame):
            where = locate_transition(frame, key, headline)
            for metric in metrics["topology"] + metrics["curvature"]:
                for statistic in STATISTICS:
                    row = {
                        "family": family,
                        "key": key,
                        "performance": headline,
                        **{k: where[k] for k in ("n_values", "low", "high", "performance_low", "performance_high")},
                        "jump": where["performance_high"] - where["performance_low"],
                        "metric": metric,
                        "statistic": statistic,
                    }
                    rows.append(
                        {
                            **row,
                            **_near_far(
                                table, key, metric, statistic, where, n_perm, _rng(seed, family, key, metric, statistic)
                            ),
                        }
                    )
    return _concat([pd.DataFrame(rows)], TRANSITION_COLUMNS)


def _near_far(table, key, metric, statistic, where, n_perm, rng) -> dict:
    out = {
        "n_grid_points": 0,
        "n_near": 0,
        "mean_near": np.nan,
        "mean_far": np.nan,
        "ratio": np.nan,
        "p_value": np.nan,
        "min_p": np.nan,
        "n_permutations": 0,
        "exact": False,
        "note": where["note"],
    }
    if where["note"] or table is None:
        return out
    points = table[table["metric"] == metric]
    values = points[statistic].to_numpy(dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        seeds = points["n_seeds"].to_numpy(dtype=int)
        spread = (
            f"{seeds.max()}"
            if len(seeds) and seeds.min() == seeds.max()
            else f"{seeds.min() if len(seeds) else 0} to {seeds.max() if len(seeds) else 0}"
        )
        why = (
            "the across-seed spread needs at least 2 seeds per grid point"
            if not len(seeds) or seeds.max() < 2
            else f"the mean of {metric} is 0 wherever it has 2 seeds, so {statistic} is undefined"
        )
        out["note"] = (
            f"no grid point has a finite {statistic} of {metric}: {len(points)} grid point(s) with "
            f"{spread} seed(s) with status ok each; {why}"
        )
        return out
    values = values[finite]
    near = np.isin(points[key].to_numpy(dtype=float)[finite], where["near"])
    skipped = int((~finite).sum())
    out.update(n_grid_points=len(values), n_near=int(near.sum()))
    reason = f" ({skipped} grid point(s) without a finite {statistic} left out)" if skipped else ""
    if near.all():
        if where["n_values"] == 2:
            out["note"] = (
                f"{key} has only 2 values, so every grid point is next to the transition and there is "
                f"nothing to compare with: the test needs at least 3 values of {key}{reason}"
            )
        else:
            out["note"] = (
                f"every grid point with a finite {statistic} is in the transition zone ({key} from "
                f"{format_value(where['low'])} to {format_value(where['high'])}): nothing to compare with{reason}"
            )
        return out
    if not near.any():
        out["note"] = f"no grid point in the transition zone has a finite {statistic}{reason}"
        return out
    out["mean_near"], out["mean_far"] = values[near].mean(), values[~near].mean()
    if out["mean_far"] > 0:
        out["ratio"] = out["mean_near"] / out["mean_far"]
    elif out["mean_near"] > 0:
        out["ratio"] = np.inf
    else:
        out["note"] = f"{statistic} of {metric} is 0 at every grid point: it does not vary across seeds{reason}"
        return out
    out.update(permutation_test(values, near, n_perm, rng))
    out["note"] = reason.strip(" ()")
    return out


# ---------------------------------------------------------------------------------------------------------
# Command line


def compute_all(
    runs: pd.DataFrame,
    n_boot: int = 2000,
    n_perm: int = 10000,
    seed: int = 0,
    performance: Mapping[str, Iterable[str]] | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table of ``losstopo.sweep.outputs.FINDINGS_TABLES``, by name; ``only`` limits the topology and
    curvature metrics (the verdicts across spans compute just the columns the claims read)."""
    var = variability(runs, performance, only)
    return {
        "correlations": correlations(runs, n_boot, seed, performance, n_perm, only),
        "trends": trends(runs, n_boot, seed, performance, n_perm, only),
        "variability": var,
        "transition": transition(runs, var, n_perm, seed, performance, only),
    }


def main(args) -> int:
    runs = read_runs(args.runs)
    tables = compute_all(runs, args.bootstrap, args.permutations, args.seed)
    for name, table in tables.items():
        save_csv(Path(args.out_dir) / f"{name}.csv", table)
    sizes = ", ".join(f"{name} {len(table)} rows" for name, table in tables.items())
    print(f"wrote {sizes} under {args.out_dir} from {len(runs)} runs", flush=True)
    return 0
