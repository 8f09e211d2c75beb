"""``results/findings.md``: each claim of the two papers, with this sweep's numbers for and against it.

Reads the tables of ``losstopo.summary.findings.statistics`` and words every check by fixed rules (docs/findings.md):
a check is "supported" or "contradicted" only when it is significant at ``alpha`` with enough data;
otherwise it is "too few to conclude", "inconclusive", "cannot be assessed" (with the reason) or
"not measured in this sweep". The wording never goes beyond what the numbers show.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.io import atomic_path, read_csv_table
from losstopo.summary.tables import (
    curvature_metrics,
    family_performance,
    format_value,
    headline_metric,
    measured,
    read_runs,
    swept_keys,
    topology_metrics,
)
from losstopo.sweep.outputs import FINDINGS_TABLES, report_spec

ALPHA = 0.05
MIN_RUNS = 20  # fewer runs than this: "too few to conclude", whatever the p-value

VERDICTS = (
    "supported",
    "contradicted",
    "inconclusive",
    "too few to conclude",
    "cannot be assessed",
    "moves under arbitrary choices",
    "not measured",
)
# Variants of a topology metric that the checks read beside the raw one (topology.json; docs/topology.md)
VARIANT_SUFFIXES = {
    "": "",
    "_simplified": "after simplification",
    "_log": "of log10 loss",
    "_rel": "relative to the loss range",
    "_simplified_log": "of log10 loss, after simplification",
    "_simplified_rel": "relative to the loss range, after simplification",
}
SCALE_FREE = {"": "raw", "_log": "log10 loss", "_rel": "relative"}

# Claim 1: (topology metric, +1 if the claim says worse models have more of it, -1 if less)
SIMPLER_TOPOLOGY = (("n_minima", +1), ("n_saddles", +1), ("avg_persistence", -1))
TRANSITION_METRICS = ("n_minima", "n_saddles", "total_persistence", "avg_persistence")
PINN_RISE_WITH_BETA = ("n_saddles", "avg_persistence", "rel_l2_error", "hessian_top_eigenvalue", "hessian_trace")


@dataclass
class Check:
    """One tested statement and its verdict, worded for findings.md."""

    family: str
    subject: str
    verdict: str
    text: str
    metric: str = ""  # the column checked, when there is one
    set_aside: str = ""  # the verdict the numbers give, for a check not judged because its metric moves

    def line(self) -> str:
        return f"- **{self.subject}**: {self.text}"


NAMES = {
    "n_minima": "minima",
    "n_saddles": "saddles",
    "avg_persistence": "average persistence",
    "total_persistence": "total persistence",
    "max_persistence": "maximum persistence",
    "rel_l2_error": "relative L2 error",
    "hessian_top_eigenvalue": "top Hessian eigenvalue",
    "hessian_trace": "Hessian trace",
}


def name(column: str) -> str:
    """Readable name of a column: ``avg_persistence_log`` -> ``average persistence of log10 loss``."""
    for suffix in sorted(VARIANT_SUFFIXES, key=len, reverse=True):
        base = column[: len(column) - len(suffix)] if suffix else column
        if suffix and column.endswith(suffix) and base in NAMES:
            return f"{NAMES[base]} {VARIANT_SUFFIXES[suffix]}"
    return NAMES.get(column, column.replace("_", " "))


def metric_variants(base: str, columns) -> list[str]:
    """``base`` and those of its variants (VARIANT_SUFFIXES) that are columns, raw first."""
    columns = set(columns)
    return [base + suffix for suffix in VARIANT_SUFFIXES if base + suffix in columns or not suffix]


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
        row = self.row(family, metric)
        moving = row.get("share_moving", np.nan)
        share = f", {100 * moving:.0f}% of which move beyond the tolerance" if np.isfinite(moving) else ""
        return (
            f"median relative spread {_f(row['median_orientation'], '.2g')} under axis order and reflections, "
            f"{_f(row['median_stencil'], '.2g')} under the stencil, {_f(row['median_resolution'], '.2g')} "
            f"at half resolution, over {row['n_landscapes']} landscapes{share}"
        )

    def apply(self, check: "Check", metric: str) -> "Check":
        """A check on a metric that moves under arbitrary choices is not judged; its numbers stay."""
        if self.holds_still(check.family, metric) is not False or check.verdict == "not measured":
            return check
        if check.verdict == "cannot be assessed":  # undefined anyway: say so first, then that it moves
            return Check(
                check.family,
                check.subject,
                check.verdict,
                f"{check.text} Besides, {metric} moves under arbitrary choices ({self.spreads(check.family, metric)}).",
                metric,
            )
        return Check(
            check.family,
            check.subject,
            "moves under arbitrary choices",
            f"not judged: {metric} moves under arbitrary choices ({self.spreads(check.family, metric)}; "
            f"tables/invariance_summary.csv). For reference, {check.text}",
            metric,
            check.verdict,
        )


def _f(value, spec: str = ".2f") -> str:
    return "NaN" if value is None or not np.isfinite(value) else format(value, spec)


def _association_numbers(row) -> str:
    return (
        f"Spearman ρ = {_f(row['spearman_rho'], '+.2f')} (95% CI {_f(row['spearman_ci_low'], '+.2f')} to "
        f"{_f(row['spearman_ci_high'], '+.2f')}, p = {_f(row['spearman_p'], '.2g')}), Kendall τ = "
        f"{_f(row['kendall_tau'], '+.2f')} (p = {_f(row['kendall_p'], '.2g')}), n = {row['n']} runs"
    )


def judge_association(row, expected_sign: int, alpha: float = ALPHA, min_runs: int = MIN_RUNS) -> tuple[str, str]:
    """Verdict and sentence (which starts with the verdict) for one row of correlations.csv or trends.csv.

    ``expected_sign`` is the sign of the correlation the claim predicts. Supported / contradicted need
    n >= min_runs, both p-values below alpha and a bootstrap interval that excludes 0.
    """
    n = int(row["n"])
    if not np.isfinite(row["spearman_rho"]):
        count = "" if "run" in str(row["note"]) else f" (n = {n} runs)"
        return "cannot be assessed", f"cannot be assessed: {row['note']}{count}."
    agrees = np.sign(row["spearman_rho"]) == expected_sign
    direction = "agrees with" if agrees else "goes against"
    numbers = _association_numbers(row)
    if n < min_runs:
        return "too few to conclude", (
            f"n = {n} runs: too few to conclude (this report asks for at least "
            f"{min_runs}). The observed direction {direction} the claim: {numbers}."
        )
    low, high = row["spearman_ci_low"], row["spearman_ci_high"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", f"inconclusive (no bootstrap interval: {row['note']}); {numbers}."
    significant = row["spearman_p"] < alpha and row["kendall_p"] < alpha and (low > 0 or high < 0)
    if significant:
        verdict = "supported" if agrees else "contradicted"
        return verdict, f"{verdict} in this sweep: {numbers}."
    reason = "the 95% interval includes 0" if low <= 0 <= high else f"a p-value is at least {alpha:g}"
    return "inconclusive", f"inconclusive ({reason}); the observed direction {direction} the claim: {numbers}."


def judge_transition(row, alpha: float = ALPHA) -> tuple[str, str]:
    """Verdict and sentence (which starts with the verdict) for one row of transition.csv."""
    if not np.isfinite(row["p_value"]):
        return "cannot be assessed", f"cannot be assessed: {row['note']}."
    numbers = (
        f"mean s.d. across seeds next to the transition {_f(row['mean_near'], '.3g')} against "
        f"{_f(row['mean_far'], '.3g')} elsewhere (ratio {_f(row['ratio'])}), permutation p = "
        f"{_f(row['p_value'], '.2g')}, {row['n_near']} of {row['n_grid_points']} grid points next to it"
    )
    direction = "agrees with" if row["ratio"] > 1 else "goes against"
    if row["min_p"] >= alpha:
        return "too few to conclude", (
            f"{row['n_grid_points']} grid points: too few to conclude (the smallest "
            f"p-value this test can give is {_f(row['min_p'], '.2g')}). The observed "
            f"direction {direction} the claim: {numbers}."
        )
    if row["p_value"] < alpha and row["ratio"] > 1:
        return "supported", f"supported in this sweep: {numbers}."
    return "inconclusive", f"inconclusive; the observed direction {direction} the claim: {numbers}."


def _row(table: pd.DataFrame, **match):
    if not len(table):
        return None
    hit = table
    for column, value in match.items():
        hit = hit[hit[column] == value]
    return hit.iloc[0] if len(hit) else None


def _not_measured(family: str, subject: str, why: str) -> Check:
    return Check(family, subject, "not measured", f"not measured in this sweep ({why}).")


def _absent(frame: pd.DataFrame, column: str) -> str:
    """Why a family has no value of ``column``: no run with status ok (their statuses), or none finite."""
    ok = frame["status"].astype(str) == "ok"
    if not ok.any():
        statuses = ", ".join(f"{n} {s}" for s, n in frame["status"].astype(str).value_counts().items())
        return f"no run of {frame['family'].iloc[0]} has status ok ({statuses}), so no {column}"
    return f"runs.csv has no finite {column}"


def simpler_topology_checks(
    runs, correlations, alpha=ALPHA, min_runs=MIN_RUNS, stability: Stability | None = None
) -> list[Check]:
    """Claim 1 per family: better headline performance goes with fewer minima and saddles, higher avg persistence;
    each metric raw and in its variants (simplified, scale-free), judged only where it holds still."""
    stability = stability or Stability(None)
    checks = []
    for family, frame in runs.groupby("family", sort=True):
        directions = family_performance(frame)
        performance = next(iter(directions))
        better = directions[performance] == "higher"
        for base, worse_sign in SIMPLER_TOPOLOGY:
            for metric in metric_variants(base, frame.columns):
                wanted = "fewer" if worse_sign > 0 else "higher"
                subject = f"{family}: better {name(performance)} with {wanted} {name(metric)}"
                row = _row(correlations, family=family, metric=metric, performance=performance)
                if not measured(frame, [metric]) or row is None:
                    checks.append(_not_measured(family, subject, _absent(frame, metric)))
                else:
                    expected = -worse_sign if better else worse_sign
                    check = Check(family, subject, *judge_association(row, expected, alpha, min_runs), metric)
                    checks.append(stability.apply(check, metric))
    return checks


def transition_checks(runs, transition, variability, alpha=ALPHA, stability: Stability | None = None) -> list[Check]:
    """Claim 2 per family and numeric swept key: topology varies most across seeds next to the transition."""
    stability = stability or Stability(None)
    checks = []
    for family, frame in runs.groupby("family", sort=True):
        keys = [k for k in swept_keys(frame) if pd.api.types.is_numeric_dtype(frame[k])]
        if not keys:
            checks.append(
                _not_measured(
                    family, f"{family}: variability near the transition", "no numeric hyperparameter is swept"
                )
            )
            continue
        for key in keys:
            for metric in [m for base in TRANSITION_METRICS for m in metric_variants(base, frame.columns)]:
                subject = f"{family}: across-seed s.d. of {name(metric)} highest next to the {key} transition"
                row = _row(transition, family=family, key=key, metric=metric, statistic="std")
                if row is None or not measured(frame, [metric]):
                    checks.append(_not_measured(family, subject, _absent(frame, metric)))
                    continue
                verdict, text = judge_transition(row, alpha)
                cv = _row(transition, family=family, key=key, metric=metric, statistic="cv")
                if cv is not None and np.isfinite(cv["p_value"]):
                    text += (
                        f" With the coefficient of variation instead of the s.d.: ratio {_f(cv['ratio'])}, "
                        f"p = {_f(cv['p_value'], '.2g')}."
                    )
                checks.append(stability.apply(Check(family, subject, verdict, text, metric), metric))
    return checks


def transition_locations(runs, transition) -> list[str]:
    """One sentence per family and key: where the largest performance change lies."""
    lines = []
    if not len(transition):
        return lines
    for (family, key), rows in transition.groupby(["family", "key"], sort=True):
        row = rows.iloc[0]
        if not np.isfinite(row["low"]):
            lines.append(f"- {family}, {key}: no transition located ({row['note']}).")
            continue
        lines.append(
            f"- {family}, {key}: the largest change of the mean {row['performance']} between neighbouring "
            f"values lies between {key} = {format_value(row['low'])} and {format_value(row['high'])} "
            f"({_f(row['performance_low'], '.3g')} → {_f(row['performance_high'], '.3g')})."
        )
    return lines


def pinn_beta_checks(runs, trends, alpha=ALPHA, min_runs=MIN_RUNS, stability: Stability | None = None) -> list[Check]:
    """Claim 3: for PINNs, saddles, avg persistence, error, top eigenvalue and trace all rise with beta."""
    stability = stability or Stability(None)
    frame = runs[runs["family"] == "pinn"]
    if not len(frame):
        return [_not_measured("pinn", "PINN metrics rising with beta", "no PINN runs")]
    if "beta" not in swept_keys(frame):
        return [_not_measured("pinn", "PINN metrics rising with beta", "beta is not swept")]
    checks = []
    for metric in [m for base in PINN_RISE_WITH_BETA for m in metric_variants(base, frame.columns)]:
        subject = f"pinn: {name(metric)} rising with beta"
        row = _row(trends, family="pinn", key="beta", metric=metric)
        if row is None or not measured(frame, [metric]):
            checks.append(_not_measured("pinn", subject, _absent(frame, metric)))
        else:
            checks.append(
                stability.apply(Check("pinn", subject, *judge_association(row, +1, alpha, min_runs), metric), metric)
            )
    return checks


def split_variant(metric: str) -> tuple[str, str, str]:
    """(base metric, ``"_simplified"`` or ``""``, scale suffix ``""``/``"_log"``/``"_rel"``) of a column."""
    for suffix in sorted(VARIANT_SUFFIXES, key=len, reverse=True):
        if suffix and metric.endswith(suffix) and metric[: -len(suffix)] in NAMES:
            scale = next((s for s in ("_log", "_rel") if suffix.endswith(s)), "")
            return metric[: -len(suffix)], suffix[: len(suffix) - len(scale)], scale
    return metric, "", ""


def scale_free_lines(checks: list[Check]) -> list[str]:
    """One line per persistence check: its verdict on raw persistence, of log10 loss and relative to the range."""
    table: dict[str, dict[str, str]] = {}
    for check in checks:
        base, simplified, scale = split_variant(check.metric)
        if "persistence" not in base:
            continue
        subject = check.subject.replace(name(check.metric), name(base + simplified))
        verdict = f"{check.set_aside}, but the metric moves" if check.set_aside else check.verdict
        table.setdefault(subject, {})[SCALE_FREE[scale]] = verdict
    return [
        f"- {subject}: " + "; ".join(f"{label}: {verdicts.get(label, 'not measured')}" for label in SCALE_FREE.values())
        for subject, verdicts in table.items()
    ]


def stability_lines(runs: pd.DataFrame, stability: Stability) -> list[str]:
    """The section saying which topology metrics hold still, per family, with their spreads."""
    lines = ["## Which topology metrics hold still", ""]
    if stability.table is None:
        return lines + [
            "Not measured (no tables/invariance_summary.csv): every topology metric is judged as "
            "measured, whether or not it depends on the grid's axis order or the stencil.",
            "",
        ]
    lines += [
        "Each landscape's topology was recomputed with its grid axes permuted and reflected, on the other "
        "stencils, and at half resolution (tables/invariance.csv). A metric holds still when the median "
        "relative spread over a family's landscapes under axis order and reflections and under the stencil "
        "are both within the tolerance; only those carry verdicts below.",
        "",
    ]
    for family, frame in runs.groupby("family", sort=True):
        rows = stability.table[stability.table["family"] == family]
        if not len(rows):
            lines.append(f"- **{family}**: not measured (its landscapes are not grids, or none was sampled).")
            continue
        still = rows.loc[rows["holds_still"].astype(str).str.lower() == "true", "metric"].tolist()
        moving = rows.loc[rows["holds_still"].astype(str).str.lower() != "true", "metric"].tolist()
        lines.append(
            f"- **{family}** ({rows['n_landscapes'].max()} landscapes): hold still: "
            f"{', '.join(still) or 'none'}; move: {', '.join(moving) or 'none'}."
        )
        for metric in ("n_minima", "n_minima_simplified", "avg_persistence", "avg_persistence_simplified"):
            if stability.row(family, metric) is not None:
                lines.append(f"  - {metric}: {stability.spreads(family, metric)}.")
    return lines + [""]


def sweep_summary(runs: pd.DataFrame) -> list[str]:
    lines = []
    for family, frame in runs.groupby("family", sort=True):
        keys = swept_keys(frame)
        status = ", ".join(f"{count} {name}" for name, count in frame["status"].astype(str).value_counts().items())
        grid = "; ".join(f"{k} ∈ {{{', '.join(format_value(v) for v in sorted(frame[k].unique()))}}}" for k in keys)
        ok = frame[frame["status"].astype(str) == "ok"]
        per_point = ok.groupby(keys).size() if keys and len(ok) else pd.Series([len(ok)])
        metrics = [
            m for m in topology_metrics(frame.columns) + curvature_metrics(frame.columns) if bool(measured(frame, [m]))
        ]
        low, high = per_point.min(), per_point.max()
        spread = f"{low}" if low == high else f"{low}–{high}"
        lines.append(
            f"- **{family}**: {len(frame)} runs ({status}); swept {grid or 'nothing (seeds only)'}; "
            f"{spread} run(s) with status ok per grid point; headline metric "
            f"{headline_metric(frame)}; measured: {', '.join(metrics) or 'no topology metric'}."
        )
    return lines


def _section(title: str, intro: str, checks: list[Check], extra: list[str] = ()) -> list[str]:
    counts = Counter(c.verdict for c in checks)
    tally = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
    return [
        f"## {title}",
        "",
        intro,
        "",
        *extra,
        *([""] if extra else []),
        f"Checks: {tally}.",
        "",
        *[c.line() for c in checks],
        "",
    ]


def figure_lines(figures: list[str], out: Path) -> list[str]:
    """Links to the figures, relative to findings.md, grouped by family folder."""
    lines = []
    by_family: dict[str, list[str]] = {}
    for path in figures:
        by_family.setdefault(Path(path).parent.name, []).append(path)
    for family, paths in sorted(by_family.items()):
        lines.append(f"### {family}")
        for path in sorted(paths):
            spec = report_spec(path) or {}
            rel = os.path.relpath(path, out.parent)
            lines.append(f"- [{Path(path).stem.replace('_', ' ')}]({rel}) ({spec.get('subcategory', 'figure')})")
        lines.append("")
    return lines


def render(
    runs: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    figures: list[str],
    out: Path,
    alpha: float = ALPHA,
    min_runs: int = MIN_RUNS,
) -> str:
    """The text of findings.md. ``tables`` holds FINDINGS_TABLES and, optionally, ``invariance_summary``."""
    stability = Stability(tables.get("invariance_summary"))
    claim1 = simpler_topology_checks(runs, tables["correlations"], alpha, min_runs, stability)
    claim2 = transition_checks(runs, tables["transition"], tables["variability"], alpha, stability)
    pinn = bool((runs["family"] == "pinn").any())  # claim 3 is about PINNs: a sweep without them gets no section
    claim3 = pinn_beta_checks(runs, tables["trends"], alpha, min_runs, stability) if pinn else []
    lines = [
        "# Findings of this sweep",
        "",
        "Generated by `losstopo findings-report` from `results/tables/` (correlations, trends, variability, "
        "transition). Only runs with status ok and finite values enter any statistic. How each verdict is "
        "decided is at the end; every column is defined in docs/findings.md.",
        "",
        "## The sweep",
        "",
        *sweep_summary(runs),
        "",
        *stability_lines(runs, stability),
        *_section(
            "Claim 1: better-performing models have simpler topology (papers 1 and 2)",
            "Papers 1 and 2: better models have fewer minima and saddles and a higher average persistence "
            "(fewer, wider basins). Tested as the rank correlation, over runs, between each topology metric "
            "and the family's headline performance metric.",
            claim1,
        ),
        *_section(
            "Claim 2: the shape varies most across seeds near the transition (paper 1)",
            "Paper 1: the topology varies most across seeds near the transition from low to high error. "
            "Tested by comparing the across-seed standard deviation of each topology metric at the grid "
            "points on either side of the largest performance change with that at all other grid points.",
            claim2,
            transition_locations(runs, tables["transition"]),
        ),
        *(
            _section(
                "Claim 3: for PINNs, saddles, average persistence, error, top eigenvalue and trace rise with beta "
                "(paper 2)",
                "Paper 2: along the convection coefficient beta all five quantities increase. Tested "
                "as the rank correlation, over runs, of each quantity with beta.",
                claim3,
            )
            if pinn
            else []
        ),
        "## Raw against scale-free persistence",
        "",
        "Raw persistence is in loss units and grows with the loss scale; the same check on the persistence of "
        "log10 loss and on persistence relative to the landscape's loss range (max - min) shows whether a "
        "verdict is about shape or only about scale.",
        "",
        *(scale_free_lines(claim1 + claim2 + claim3) or ["- no persistence check in this sweep."]),
        "",
        "## How to read this",
        "",
        f"- **supported** / **contradicted**: at least {min_runs} runs, Spearman and Kendall p-values both below "
        f"{alpha:g} and a 95% bootstrap interval that excludes 0, in (or against) the claimed direction. For "
        f"claim 2: a one-sided permutation p-value below {alpha:g} with more variability next to the transition.",
        f"- **too few to conclude**: fewer than {min_runs} runs (claim 2: so few grid points that the "
        f"permutation test cannot reach p < {alpha:g}); the observed direction is reported but proves nothing.",
        "- **inconclusive**: enough data, but not significant. This is not evidence against the claim.",
        "- **cannot be assessed**: the statistic is undefined here (the reason is given, e.g. a constant metric).",
        "- **moves under arbitrary choices**: the metric changes with the grid's axis order or reflections or "
        "with the stencil by more than the tolerance (tables/invariance_summary.csv); its numbers are quoted but "
        "not judged. Only the metrics that hold still carry verdicts.",
        "- **not measured**: the metric, family or hyperparameter is not part of this sweep.",
        "- Runs at one grid point share their hyperparameters, so runs are not independent draws and p-values "
        "are optimistic; no correction for the number of checks is applied here (correlations.csv has "
        "Benjamini-Hochberg q-values). A rank correlation is an association, not a cause.",
        "",
    ]
    if figures:
        lines += ["## Figures", "", *figure_lines(figures, out)]
    return "\n".join(lines).rstrip() + "\n"


def main(args) -> int:
    runs = read_runs(args.runs)
    tables = {name: read_csv_table(Path(args.tables_dir) / f"{name}.csv") for name in FINDINGS_TABLES}
    summary = Path(args.tables_dir) / "invariance_summary.csv"
    tables["invariance_summary"] = read_csv_table(summary) if summary.exists() else None
    out = Path(args.out)
    text = render(runs, tables, list(args.figures or []), out, args.alpha, args.min_runs)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    print(f"wrote {out}", flush=True)
    return 0
