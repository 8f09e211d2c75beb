"""``results/findings.md``: each claim of the two papers, with this sweep's numbers for and against it.

Reads the tables of ``losstopo.findings`` and words every check by fixed rules (docs/findings.md):
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

from losstopo.findings import (TABLES, curvature_metrics, format_value, higher_is_better, performance_metrics,
                               read_runs, topology_metrics)
from losstopo.findings_figures import report_spec
from losstopo.aggregate import swept_keys
from losstopo.io import atomic_path, read_csv_table

ALPHA = 0.05
MIN_RUNS = 20  # fewer runs than this: "too few to conclude", whatever the p-value

VERDICTS = ("supported", "contradicted", "inconclusive", "too few to conclude", "cannot be assessed",
            "not measured")

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

    def line(self) -> str:
        return f"- **{self.subject}**: {self.text}"


NAMES = {"n_minima": "minima", "n_saddles": "saddles", "avg_persistence": "average persistence",
         "total_persistence": "total persistence", "max_persistence": "maximum persistence",
         "rel_l2_error": "relative L2 error", "hessian_top_eigenvalue": "top Hessian eigenvalue",
         "hessian_trace": "Hessian trace"}


def name(column: str) -> str:
    return NAMES.get(column, column.replace("_", " "))


def _f(value, spec: str = ".2f") -> str:
    return "NaN" if value is None or not np.isfinite(value) else format(value, spec)


def _association_numbers(row) -> str:
    return (f"Spearman ρ = {_f(row['spearman_rho'], '+.2f')} (95% CI {_f(row['spearman_ci_low'], '+.2f')} to "
            f"{_f(row['spearman_ci_high'], '+.2f')}, p = {_f(row['spearman_p'], '.2g')}), Kendall τ = "
            f"{_f(row['kendall_tau'], '+.2f')} (p = {_f(row['kendall_p'], '.2g')}), n = {row['n']} runs")


def judge_association(row, expected_sign: int, alpha: float = ALPHA, min_runs: int = MIN_RUNS) -> tuple[str, str]:
    """Verdict and sentence (which starts with the verdict) for one row of correlations.csv or trends.csv.

    ``expected_sign`` is the sign of the correlation the claim predicts. Supported / contradicted need
    n >= min_runs, both p-values below alpha and a bootstrap interval that excludes 0.
    """
    n = int(row["n"])
    if not np.isfinite(row["spearman_rho"]):
        count = "" if "(n = " in str(row["note"]) else f" (n = {n} runs)"
        return "cannot be assessed", f"cannot be assessed: {row['note']}{count}."
    agrees = np.sign(row["spearman_rho"]) == expected_sign
    direction = "agrees with" if agrees else "goes against"
    numbers = _association_numbers(row)
    if n < min_runs:
        return "too few to conclude", (f"n = {n} runs: too few to conclude (this report asks for at least "
                                       f"{min_runs}). The observed direction {direction} the claim: {numbers}.")
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
    numbers = (f"mean s.d. across seeds next to the transition {_f(row['mean_near'], '.3g')} against "
               f"{_f(row['mean_far'], '.3g')} elsewhere (ratio {_f(row['ratio'])}), permutation p = "
               f"{_f(row['p_value'], '.2g')}, {row['n_near']} of {row['n_grid_points']} grid points next to it")
    direction = "agrees with" if row["ratio"] > 1 else "goes against"
    if row["min_p"] >= alpha:
        return "too few to conclude", (f"{row['n_grid_points']} grid points: too few to conclude (the smallest "
                                       f"p-value this test can give is {_f(row['min_p'], '.2g')}). The observed "
                                       f"direction {direction} the claim: {numbers}.")
    if row["p_value"] < alpha and row["ratio"] > 1:
        return "supported", f"supported in this sweep: {numbers}."
    return "inconclusive", f"inconclusive; the observed direction {direction} the claim: {numbers}."


def _measured(runs: pd.DataFrame, column: str) -> bool:
    return column in runs.columns and pd.to_numeric(runs[column], errors="coerce").replace(
        [np.inf, -np.inf], np.nan).notna().any()


def _row(table: pd.DataFrame, **match):
    if not len(table):
        return None
    hit = table
    for column, value in match.items():
        hit = hit[hit[column] == value]
    return hit.iloc[0] if len(hit) else None


def _not_measured(family: str, subject: str, why: str) -> Check:
    return Check(family, subject, "not measured", f"not measured in this sweep ({why}).")


def _absent(column: str) -> str:
    return f"runs.csv has no finite {column}"


def simpler_topology_checks(runs, correlations, alpha=ALPHA, min_runs=MIN_RUNS) -> list[Check]:
    """Claim 1 per family: better headline performance goes with fewer minima and saddles, higher avg persistence."""
    checks = []
    for family, frame in runs.groupby("family", sort=True):
        performance = performance_metrics(family)[0]
        better = higher_is_better(performance)
        for metric, worse_sign in SIMPLER_TOPOLOGY:
            wanted = "fewer" if worse_sign > 0 else "higher"
            subject = f"{family}: better {name(performance)} with {wanted} {name(metric)}"
            row = _row(correlations, family=family, metric=metric, performance=performance)
            if not _measured(frame, metric) or row is None:
                checks.append(_not_measured(family, subject, _absent(metric)))
            elif better is None:
                checks.append(Check(family, subject, "cannot be assessed",
                                    f"cannot be assessed: whether a higher {performance} is better is unknown."))
            else:
                expected = -worse_sign if better else worse_sign
                checks.append(Check(family, subject, *judge_association(row, expected, alpha, min_runs)))
    return checks


def transition_checks(runs, transition, variability, alpha=ALPHA) -> list[Check]:
    """Claim 2 per family and numeric swept key: topology varies most across seeds next to the transition."""
    checks = []
    for family, frame in runs.groupby("family", sort=True):
        keys = [k for k in swept_keys(frame) if pd.api.types.is_numeric_dtype(frame[k])]
        if not keys:
            checks.append(_not_measured(family, f"{family}: variability near the transition",
                                        "no numeric hyperparameter is swept"))
            continue
        var = variability[variability["family"] == family] if len(variability) else variability
        seeds = int(var["n_seeds"].max()) if len(var) else 0
        for key in keys:
            for metric in TRANSITION_METRICS:
                subject = f"{family}: across-seed s.d. of {name(metric)} highest next to the {key} transition"
                row = _row(transition, family=family, key=key, metric=metric, statistic="std")
                if row is None or not _measured(frame, metric):
                    checks.append(_not_measured(family, subject, _absent(metric)))
                elif seeds < 2:
                    checks.append(_not_measured(family, subject, "variability across seeds needs at least 2 seeds "
                                                "with status ok per grid point"))
                else:
                    verdict, text = judge_transition(row, alpha)
                    cv = _row(transition, family=family, key=key, metric=metric, statistic="cv")
                    if cv is not None and np.isfinite(cv["p_value"]):
                        text += (f" With the coefficient of variation instead of the s.d.: ratio {_f(cv['ratio'])}, "
                                 f"p = {_f(cv['p_value'], '.2g')}.")
                    checks.append(Check(family, subject, verdict, text))
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
        lines.append(f"- {family}, {key}: the largest change of the mean {row['performance']} between neighbouring "
                     f"values lies between {key} = {format_value(row['low'])} and {format_value(row['high'])} "
                     f"({_f(row['performance_low'], '.3g')} → {_f(row['performance_high'], '.3g')}).")
    return lines


def pinn_beta_checks(runs, trends, alpha=ALPHA, min_runs=MIN_RUNS) -> list[Check]:
    """Claim 3: for PINNs, saddles, avg persistence, error, top eigenvalue and trace all rise with beta."""
    frame = runs[runs["family"] == "pinn"]
    if not len(frame):
        return [_not_measured("pinn", "PINN metrics rising with beta", "no PINN runs")]
    if "beta" not in swept_keys(frame):
        return [_not_measured("pinn", "PINN metrics rising with beta", "beta is not swept")]
    checks = []
    for metric in PINN_RISE_WITH_BETA:
        subject = f"pinn: {name(metric)} rising with beta"
        row = _row(trends, family="pinn", key="beta", metric=metric)
        if row is None or not _measured(frame, metric):
            checks.append(_not_measured("pinn", subject, _absent(metric)))
        else:
            checks.append(Check("pinn", subject, *judge_association(row, +1, alpha, min_runs)))
    return checks


def sweep_summary(runs: pd.DataFrame) -> list[str]:
    lines = []
    for family, frame in runs.groupby("family", sort=True):
        keys = swept_keys(frame)
        status = ", ".join(f"{count} {name}" for name, count in frame["status"].astype(str).value_counts().items())
        grid = "; ".join(f"{k} ∈ {{{', '.join(format_value(v) for v in sorted(frame[k].unique()))}}}" for k in keys)
        ok = frame[frame["status"].astype(str) == "ok"]
        per_point = ok.groupby(keys).size() if keys and len(ok) else pd.Series([len(ok)])
        metrics = [m for m in topology_metrics(frame.columns) + curvature_metrics(frame.columns)
                   if _measured(frame, m)]
        low, high = per_point.min(), per_point.max()
        spread = f"{low}" if low == high else f"{low}–{high}"
        lines.append(f"- **{family}**: {len(frame)} runs ({status}); swept {grid or 'nothing (seeds only)'}; "
                     f"{spread} runs with status ok per grid point; headline metric "
                     f"{performance_metrics(family)[0]}; measured: {', '.join(metrics) or 'no topology metric'}.")
    return lines


def _section(title: str, intro: str, checks: list[Check], extra: list[str] = ()) -> list[str]:
    counts = Counter(c.verdict for c in checks)
    tally = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
    return [f"## {title}", "", intro, "", *extra, *([""] if extra else []), f"Checks: {tally}.", "",
            *[c.line() for c in checks], ""]


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


def render(runs: pd.DataFrame, tables: dict[str, pd.DataFrame], figures: list[str], out: Path,
           alpha: float = ALPHA, min_runs: int = MIN_RUNS) -> str:
    """The text of findings.md."""
    claim1 = simpler_topology_checks(runs, tables["correlations"], alpha, min_runs)
    claim2 = transition_checks(runs, tables["transition"], tables["variability"], alpha)
    claim3 = pinn_beta_checks(runs, tables["trends"], alpha, min_runs)
    lines = [
        "# Findings of this sweep", "",
        "Generated by `losstopo findings-report` from `results/tables/` (correlations, trends, variability, "
        "transition). Only runs with status ok and finite values enter any statistic. How each verdict is "
        "decided is at the end; every column is defined in docs/findings.md.", "",
        "## The sweep", "", *sweep_summary(runs), "",
        *_section("Claim 1: better-performing models have simpler topology (papers 1 and 2)",
                  "Papers 1 and 2: better models have fewer minima and saddles and a higher average persistence "
                  "(fewer, wider basins). Tested as the rank correlation, over runs, between each topology metric "
                  "and the family's headline performance metric.", claim1),
        *_section("Claim 2: the shape varies most across seeds near the transition (paper 1)",
                  "Paper 1: the topology varies most across seeds near the transition from low to high error. "
                  "Tested by comparing the across-seed standard deviation of each topology metric at the grid "
                  "points on either side of the largest performance change with that at all other grid points.",
                  claim2, transition_locations(runs, tables["transition"])),
        *_section("Claim 3: for PINNs, saddles, average persistence, error, top eigenvalue and trace rise with beta "
                  "(paper 2)", "Paper 2: along the convection coefficient beta all five quantities increase. Tested "
                  "as the rank correlation, over runs, of each quantity with beta.", claim3),
        "## How to read this", "",
        f"- **supported** / **contradicted**: at least {min_runs} runs, Spearman and Kendall p-values both below "
        f"{alpha:g} and a 95% bootstrap interval that excludes 0, in (or against) the claimed direction. For "
        f"claim 2: a one-sided permutation p-value below {alpha:g} with more variability next to the transition.",
        f"- **too few to conclude**: fewer than {min_runs} runs (claim 2: so few grid points that the "
        f"permutation test cannot reach p < {alpha:g}); the observed direction is reported but proves nothing.",
        "- **inconclusive**: enough data, but not significant. This is not evidence against the claim.",
        "- **cannot be assessed**: the statistic is undefined here (the reason is given, e.g. a constant metric).",
        "- **not measured**: the metric, family or hyperparameter is not part of this sweep.",
        "- Runs at one grid point share their hyperparameters, so runs are not independent draws and p-values "
        "are optimistic; no correction for the number of checks is applied here (correlations.csv has "
        "Benjamini-Hochberg q-values). A rank correlation is an association, not a cause.", "",
    ]
    if figures:
        lines += ["## Figures", "", *figure_lines(figures, out)]
    return "\n".join(lines).rstrip() + "\n"


def main(args) -> int:
    runs = read_runs(args.runs)
    tables = {name: read_csv_table(Path(args.tables_dir) / f"{name}.csv") for name in TABLES}
    out = Path(args.out)
    text = render(runs, tables, list(args.figures or []), out, args.alpha, args.min_runs)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    print(f"wrote {out}", flush=True)
    return 0
