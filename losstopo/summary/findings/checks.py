"""Every claim of ``claims.py`` judged on this sweep's tables: one ``Check`` per family, claim and variant.

The verdict rules (docs/findings.md): a check is "supported" or "contradicted" only when its permutation
p-values are below ``alpha`` and its bootstrap interval excludes 0 (the transition test: p < alpha with more
spread in the transition zone); "too few to conclude" when the smallest p-value the test can reach on these grid
points is at least ``alpha``; "inconclusive" otherwise; "cannot be assessed" when the statistic is undefined;
"not measured" when the sweep lacks the column or the hyperparameter; "moves under arbitrary choices" when the
topology metric does not hold still (tables/invariance_summary.csv), whatever its numbers say.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from losstopo.summary.findings.claims import PERFORMANCE, SPREAD, Claim, Variant, claims_for, variants
from losstopo.summary.tables import family_performance, measured, swept_keys, topology_metrics

ALPHA = 0.05
VERDICTS = (
    "supported",
    "contradicted",
    "inconclusive",
    "moves under arbitrary choices",
    "too few to conclude",
    "cannot be assessed",
    "not measured",
)
NOT_JUDGED = ("too few to conclude", "cannot be assessed", "not measured")  # no verdict on the claim at all


@dataclass(frozen=True)
class Check:
    """One claim checked on one column (``variant``) of one family, worded for findings.md."""

    claim: Claim
    variant: Variant
    verdict: str
    text: str  # the sentence, starting with the verdict
    effect: float = np.nan  # Spearman's rho, or the near / far ratio of the transition test
    n: int = 0  # grid points
    p: float = np.nan  # Spearman's (or the transition test's) p-value
    min_p: float = np.nan  # the smallest p-value the test can return here
    set_aside: str = ""  # the verdict the numbers give, for a check not judged because its metric moves
    share_moving: float = np.nan  # for such a check: the share of landscapes that move
    why: str = ""  # for a check without a verdict (NOT_JUDGED): what is missing, in one clause

    @property
    def numbers(self) -> str:
        """The effect and p-value in a few characters, e.g. ``ρ +0.93, p 0.002``; empty without a statistic."""
        if not np.isfinite(self.p):
            return ""
        effect = f"ratio {_f(self.effect)}" if self.claim.test == SPREAD else f"ρ {_f(self.effect, '+.2f')}"
        return f"{effect}, p {_f(self.p, '.2g')}"


def _f(value, spec: str = ".2f") -> str:
    return "NaN" if value is None or not np.isfinite(value) else format(value, spec)


def _row(table: pd.DataFrame | None, **match):
    if table is None or not len(table):
        return None
    hit = table
    for column, value in match.items():
        hit = hit[hit[column] == value]
    return hit.iloc[0] if len(hit) else None


# ---------------------------------------------------------------------------------------------------------
# Verdicts of one table row


def _no_verdict(verdict: str, why: str, observed: str = "") -> dict:
    """A verdict of NOT_JUDGED: the sentence names what is missing (``why``), then what was observed, if anything."""
    return {"verdict": verdict, "text": f"{verdict}: {why}." + (f" {observed}" if observed else ""), "why": why}


def _too_few(grid: str, min_p: float, alpha: float, direction: str, numbers: str) -> dict:
    """The verdict of a test that cannot reach ``alpha`` on these ``grid`` points whatever the data."""
    why = f"with {grid} the smallest p-value this test can give is {_f(min_p, '.2g')}, not below {alpha:g}"
    return _no_verdict("too few to conclude", why, f"The observed direction {direction} the claim: {numbers}.")


def judge_association(row, expected_sign: int, alpha: float = ALPHA) -> dict:
    """Verdict of one row of correlations.csv or trends.csv (grid-point level) against ``expected_sign``.

    Returns ``verdict``, ``text`` (which starts with the verdict), ``effect`` (rho), ``n`` (grid points), ``p``
    and ``min_p`` (Spearman's). Supported / contradicted need Spearman's and Kendall's p-values below ``alpha``
    and a bootstrap interval that excludes 0; a test whose smallest attainable p is at least ``alpha`` is too
    few to conclude.
    """
    n = int(row["n"])
    out = {"effect": row["spearman_rho"], "n": n, "p": row["spearman_p"], "min_p": row["spearman_min_p"]}
    if not np.isfinite(row["spearman_rho"]):
        return out | _no_verdict("cannot be assessed", row["note"])
    direction = "agrees with" if np.sign(row["spearman_rho"]) == expected_sign else "goes against"
    numbers = (
        f"Spearman ρ = {_f(row['spearman_rho'], '+.2f')} (95% CI {_f(row['spearman_ci_low'], '+.2f')} to "
        f"{_f(row['spearman_ci_high'], '+.2f')}, p = {_f(row['spearman_p'], '.2g')}, smallest attainable "
        f"{_f(row['spearman_min_p'], '.2g')}), Kendall τ = {_f(row['kendall_tau'], '+.2f')} (p = "
        f"{_f(row['kendall_p'], '.2g')}), n = {n} grid points ({row.get('n_runs', '?')} runs)"
    )
    if row["spearman_min_p"] >= alpha:
        return out | _too_few(f"{n} grid points", row["spearman_min_p"], alpha, direction, numbers)
    low, high = row["spearman_ci_low"], row["spearman_ci_high"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return out | {
            "verdict": "inconclusive",
            "text": f"inconclusive (no bootstrap interval: {row['note']}); {numbers}.",
        }
    if row["spearman_p"] < alpha and row["kendall_p"] < alpha and (low > 0 or high < 0):
        verdict = "supported" if direction == "agrees with" else "contradicted"
        return out | {"verdict": verdict, "text": f"{verdict} in this sweep: {numbers}."}
    reason = "the 95% interval includes 0" if low <= 0 <= high else f"a p-value is at least {alpha:g}"
    return out | {
        "verdict": "inconclusive",
        "text": f"inconclusive ({reason}); the observed direction {direction} the claim: {numbers}.",
    }


def judge_transition(row, alpha: float = ALPHA) -> dict:
    """Verdict of one row of transition.csv (``statistic = std``), as ``judge_association`` returns it; the test
    is one-sided, so it cannot contradict."""
    out = {"effect": row["ratio"], "n": int(row["n_grid_points"]), "p": row["p_value"], "min_p": row["min_p"]}
    if not np.isfinite(row["p_value"]):
        return out | _no_verdict("cannot be assessed", row["note"])
    numbers = (
        f"mean s.d. across seeds in the transition zone ({row['key']} from {row['low']:g} to {row['high']:g}) "
        f"{_f(row['mean_near'], '.3g')} against {_f(row['mean_far'], '.3g')} elsewhere (ratio {_f(row['ratio'])}), "
        f"permutation p = {_f(row['p_value'], '.2g')} (smallest attainable {_f(row['min_p'], '.2g')}), "
        f"{row['n_near']} of {row['n_grid_points']} grid points in the zone"
    )
    direction = "agrees with" if row["ratio"] > 1 else "goes against"
    if row["min_p"] >= alpha:
        zone = f"{row['n_near']} of {row['n_grid_points']} grid points in the transition zone"
        return out | _too_few(zone, row["min_p"], alpha, direction, numbers)
    if row["p_value"] < alpha and row["ratio"] > 1:
        return out | {"verdict": "supported", "text": f"supported in this sweep: {numbers}."}
    return out | {
        "verdict": "inconclusive",
        "text": f"inconclusive; the observed direction {direction} the claim: {numbers}.",
    }


# ---------------------------------------------------------------------------------------------------------
# Which metrics hold still


class Stability:
    """Which topology metrics hold still under axis order, reflections and stencil (invariance_summary.csv)."""

    def __init__(self, summary: pd.DataFrame | None):
        self.table = summary if summary is not None and len(summary) else None

    def row(self, family: str, metric: str):
        if self.table is None or metric not in set(topology_metrics([metric])):
            return None
        return _row(self.table, family=family, metric=metric)

    def holds_still(self, family: str, metric: str) -> bool | None:
        """True / False from the table; None when not measured (not a topology metric, no grid, no table)."""
        row = self.row(family, metric)
        return None if row is None else bool(str(row["holds_still"]).lower() == "true")

    def spreads(self, family: str, metric: str) -> str:
        """How much ``metric`` moves: the share of landscapes beyond the tolerance, then the medians."""
        row = self.row(family, metric)
        tolerance = row.get("tolerance", np.nan)
        beyond = f"by more than {tolerance:g}" if np.isfinite(tolerance) else "beyond the tolerance"
        return (
            f"{row.get('n_moving', '?')} of {row['n_landscapes']} landscapes "
            f"({_f(100 * row['share_moving'], '.0f')}%) move {beyond} under axis order, reflections or the "
            f"stencil; median relative spreads {_f(row['median_orientation'], '.2g')} and "
            f"{_f(row['median_stencil'], '.2g')}, {_f(row['median_resolution'], '.2g')} at half resolution"
        )

    def apply(self, check: Check) -> Check:
        """A check on a metric that moves under arbitrary choices is not judged; its numbers stay."""
        metric = check.variant.column
        if self.holds_still(check.claim.family, metric) is not False or check.verdict == "not measured":
            return check
        moves = f"{metric} moves under arbitrary choices ({self.spreads(check.claim.family, metric)})"
        if check.verdict in NOT_JUDGED:  # no verdict anyway: say so first, then that it moves
            return replace(check, text=f"{check.text} Besides, {moves}.")
        return replace(
            check,
            verdict="moves under arbitrary choices",
            text=f"not judged: {moves}; tables/invariance_summary.csv. For reference, {check.text}",
            set_aside=check.verdict,
            share_moving=float(self.row(check.claim.family, metric)["share_moving"]),
        )


# ---------------------------------------------------------------------------------------------------------
# All checks of a sweep


def _absent(frame: pd.DataFrame, column: str) -> str:
    """Why a family has no value of ``column``: no run with status ok (their statuses), or none finite."""
    ok = frame["status"].astype(str) == "ok"
    if not ok.any():
        statuses = ", ".join(f"{n} {s}" for s, n in frame["status"].astype(str).value_counts().items())
        return f"no run of {frame['family'].iloc[0]} has status ok ({statuses}), so no {column}"
    return f"runs.csv has no finite {column}"


def check_claim(
    frame: pd.DataFrame, claim: Claim, variant: Variant, tables: dict[str, pd.DataFrame], alpha: float = ALPHA
) -> Check:
    """``claim`` on one column of one family's runs, read from the statistics ``tables`` (correlations, trends,
    transition)."""
    family, column = claim.family, variant.column

    def unmeasured(why: str) -> Check:
        return Check(claim, variant, "not measured", f"not measured in this sweep ({why}).", why=why)

    if not measured(frame, [column]):
        return unmeasured(_absent(frame, column))
    if claim.against == PERFORMANCE:
        directions = family_performance(frame)
        performance = next(iter(directions))
        row = _row(tables.get("correlations"), family=family, metric=column, performance=performance)
        expected = claim.sign * (1 if directions[performance] == "higher" else -1)
        judged = None if row is None else judge_association(row, expected, alpha)
    elif claim.against not in swept_keys(frame):
        return unmeasured(f"{claim.against} is not swept")
    elif claim.test == SPREAD:
        row = _row(tables.get("transition"), family=family, key=claim.against, metric=column, statistic="std")
        judged = None if row is None else judge_transition(row, alpha)
        cv = _row(tables.get("transition"), family=family, key=claim.against, metric=column, statistic="cv")
        if judged and cv is not None and np.isfinite(cv["p_value"]):
            judged["text"] += (
                f" With the coefficient of variation instead of the s.d.: ratio {_f(cv['ratio'])}, "
                f"p = {_f(cv['p_value'], '.2g')}."
            )
    else:
        row = _row(tables.get("trends"), family=family, key=claim.against, metric=column)
        judged = None if row is None else judge_association(row, claim.sign, alpha)
    if judged is None:
        return unmeasured(f"the statistics tables have no row for {column}")
    return Check(claim, variant, **judged)


def evaluate(
    runs: pd.DataFrame, tables: dict[str, pd.DataFrame], stability: Stability | None = None, alpha: float = ALPHA
) -> list[Check]:
    """Every claim of every family in ``runs`` (``claims_for``) on every variant of its metric, in claim order."""
    stability = stability or Stability(None)
    checks = []
    for family, frame in runs.groupby("family", sort=True):
        for claim in claims_for(str(family)):
            for variant in variants(claim.metric, frame.columns):
                checks.append(stability.apply(check_claim(frame, claim, variant, tables, alpha)))
    return checks
