"""``results/findings.md``: each claim of the two papers, per family, with this sweep's numbers for and against it.

The report opens with one table, claim x family -> verdict under the papers' persistence convention and ours,
with the effect, n (grid points), p and the smallest p the test can reach; checks that cannot be judged
follow as one line each naming what is missing; the details come after. The claims are the table of
``losstopo.summary.findings.claims``, the verdicts ``losstopo.summary.findings.checks`` (rules in
docs/findings.md). With a spans table (``--spans``) it adds the verdicts at each landscape span
(``losstopo.summary.findings.spans``). The wording never goes beyond what the numbers show.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.io import atomic_path, read_csv_table
from losstopo.summary.findings.checks import ALPHA, NOT_JUDGED, Check, Stability, evaluate
from losstopo.summary.findings.claims import BOTH, HEADLINE, OURS, PAPERS, headline
from losstopo.summary.tables import (
    TOPOLOGY_METRICS,
    curvature_metrics,
    family_performance,
    format_value,
    headline_metric,
    measured,
    read_runs,
    swept_keys,
)
from losstopo.sweep.outputs import FINDINGS_TABLES, report_spec

HEADLINE_LABELS = {
    (PAPERS, False): "papers' convention (TTK)",
    (OURS, False): "ours",
    (OURS, True): "ours, simplified",
}
SHORT = {"too few to conclude": "too few", "cannot be assessed": "cannot be assessed", "not measured": "not measured"}


def _f(value, spec: str = ".2g") -> str:
    return "NaN" if value is None or not np.isfinite(value) else format(value, spec)


def claim_rows(checks: list[Check]) -> list[list[Check]]:
    """The checks grouped by (family, claim), in order: one group per row of the findings table."""
    groups: dict = {}
    for check in checks:
        groups.setdefault((check.claim.family, check.claim), []).append(check)
    return list(groups.values())


def headline_checks(group: list[Check]) -> list[Check | str | None]:
    """The checks of a row's headline columns (HEADLINE); ``"same"`` where a column would repeat the papers'
    column (a metric without conventions), None where the metric has no such variant."""
    cells: list[Check | str | None] = []
    for convention, simplified in HEADLINE:
        variant = headline([c.variant for c in group], convention, simplified)
        if variant is None:
            cells.append(None)
        elif cells and variant.convention == BOTH and not variant.simplified:
            cells.append("same")
        else:
            cells.append(next(c for c in group if c.variant == variant))
    return cells


def _cell(check: Check | str | None) -> str:
    if check is None:
        return "—"
    if isinstance(check, str):
        return check
    if check.verdict in NOT_JUDGED:
        return SHORT[check.verdict]
    if check.set_aside:
        return f"moves ({_f(100 * check.share_moving, '.0f')}% of landscapes); {check.numbers}"
    return f"**{check.verdict}** ({check.numbers})"


def _judged(cells) -> list[Check]:
    return [c for c in cells if isinstance(c, Check) and c.verdict not in NOT_JUDGED]


def verdict_table(checks: list[Check], legend: str = "") -> list[str]:
    """The findings table (claims with at least one judged headline cell) and its ``legend``, then one line per
    claim without."""
    lines = [
        "| family | claim (paper) | n | smallest p | " + " | ".join(HEADLINE_LABELS.values()) + " |",
        "| --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    missing = []
    for group in claim_rows(checks):
        cells = headline_checks(group)
        claim = group[0].claim
        judged = _judged(cells)
        if not judged:
            first = next(c for c in cells if isinstance(c, Check))
            missing.append(f"- **{claim.family}**: {claim.statement} ({claim.paper}): {first.verdict}: {first.why}.")
            continue
        lines.append(
            f"| {claim.family} | {claim.statement} ({claim.paper}) | {judged[0].n} | {_f(judged[0].min_p)} | "
            + " | ".join(_cell(c) for c in cells)
            + " |"
        )
    if len(lines) == 2:
        lines = ["No claim could be judged on this sweep."]
    elif legend:
        lines += ["", legend]
    if missing:
        lines += ["", "Not judged (what is missing):", "", *missing]
    return lines


def effect_legend(runs: pd.DataFrame) -> str:
    """What the sign of rho means: each family's headline metric and its better direction."""
    parts = []
    for family, frame in runs.groupby("family", sort=True):
        directions = family_performance(frame)
        headline_name = next(iter(directions))
        parts.append(f"{family}: {headline_name}, {directions[headline_name]} is better")
    return (
        "ρ: Spearman's rank correlation over grid points of the metric with what the claim names, the "
        f'hyperparameter or the headline performance metric as recorded ({"; ".join(parts)}); so "fewer minima '
        'in better models" is a positive ρ with an error and a negative one with an accuracy. Ratio: across-seed '
        "s.d. in the transition zone over that elsewhere. p: permutation p-value."
    )


def differences(checks: list[Check]) -> list[str]:
    """One line per claim whose verdict under our convention (or after simplification) differs from the papers'."""
    lines = []
    for group in claim_rows(checks):
        cells = headline_checks(group)
        verdicts = [c.verdict if isinstance(c, Check) else c for c in cells]
        papers = verdicts[0]
        if any(v not in (None, "same", papers) for v in verdicts[1:]):
            claim = group[0].claim
            said = "; ".join(
                f"{label}: {v}" for label, v in zip(HEADLINE_LABELS.values(), verdicts) if v not in (None, "same")
            )
            lines.append(f"- {claim.family}, {claim.statement} ({claim.paper}): {said}.")
    return lines


def details(checks: list[Check]) -> list[str]:
    """Per family and claim, every variant's sentence: conventions, simplification, raw and scale-free loss."""
    lines = []
    family = None
    for group in claim_rows(checks):
        claim = group[0].claim
        if claim.family != family:
            family = claim.family
            lines += [f"### {family}", ""]
        lines.append(f"**{claim.statement}** ({claim.paper}; {claim.metric} against {claim.against}):")
        lines.append("")
        lines += [f"- {c.variant.label} (`{c.variant.column}`): {c.text}" for c in group]
        lines.append("")
    return lines


def transition_locations(transition: pd.DataFrame) -> list[str]:
    """One sentence per family and key: where the transition zone of the headline metric lies."""
    lines = []
    if not len(transition):
        return lines
    for (family, key), rows in transition.groupby(["family", "key"], sort=True):
        row = rows.iloc[0]
        if not np.isfinite(row["low"]):
            lines.append(f"- {family}, {key}: no transition located ({row['note']}).")
            continue
        lines.append(
            f"- {family}, {key}: the mean {row['performance']} changes level between {key} = "
            f"{format_value(row['low'])} and {format_value(row['high'])} ({_f(row['performance_low'], '.3g')} → "
            f"{_f(row['performance_high'], '.3g')}, {row['n_values']} values of {key})."
        )
    return lines


def stability_lines(runs: pd.DataFrame, stability: Stability) -> list[str]:
    """The section saying which topology metrics hold still, per family, with the share that moves."""
    lines = ["## Which topology metrics hold still", ""]
    if stability.table is None:
        return lines + [
            "Not measured (no tables/invariance_summary.csv): every topology metric is judged as "
            "measured, whether or not it depends on the grid's axis order or the stencil.",
            "",
        ]
    row = stability.table.iloc[0]
    gate = (
        f"at most {_f(100 * row['max_share'], '.0f')}% of a family's landscapes move by more than "
        f"{row['tolerance']:g} (relative spread)"
        if "max_share" in stability.table.columns
        else "few of a family's landscapes move"
    )
    lines += [
        "Each landscape's topology was recomputed with its grid axes permuted and reflected, on the other "
        f"stencils, and at half resolution (tables/invariance.csv). A metric holds still when {gate} under axis "
        "order and reflections or under the stencil; only those carry verdicts.",
        "",
    ]
    for family, _ in runs.groupby("family", sort=True):
        rows = stability.table[stability.table["family"] == family]
        if not len(rows):
            lines.append(f"- **{family}**: not measured (its landscapes are not grids, or none was sampled).")
            continue
        still = rows["holds_still"].astype(str).str.lower() == "true"
        holding, moving = (", ".join(rows.loc[m, "metric"]) or "none" for m in (still, ~still))
        lines.append(
            f"- **{family}** ({rows['n_landscapes'].max()} landscapes): hold still: {holding}; move: {moving}."
        )
        for metric in ("n_minima", "n_minima_simplified", "avg_persistence", "avg_persistence_ttk"):
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
        topology = [
            base
            for base in TOPOLOGY_METRICS
            if measured(frame, [c for c in frame.columns if c == base or c.startswith(base + "_")])
        ]
        variants = " (with their variants: simplified, TTK's convention, scale-free)" if topology else ""
        metrics = [", ".join(topology) + variants] * bool(topology) + measured(frame, curvature_metrics(frame.columns))
        low, high = per_point.min(), per_point.max()
        spread = f"{low}" if low == high else f"{low}–{high}"
        lines.append(
            f"- **{family}**: {len(frame)} runs ({status}); swept {grid or 'nothing (seeds only)'}; "
            f"{len(per_point) if keys else 1} grid point(s), {spread} run(s) with status ok each; headline metric "
            f"{headline_metric(frame)}; measured: {', '.join(metrics) or 'no topology metric'}."
        )
    return lines


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


def reading_rules(alpha: float) -> list[str]:
    return [
        "## How to read this",
        "",
        "- **n** counts grid points (settings of the swept hyperparameters): the seeds of one grid point share "
        "their setting, so they are averaged into one value per grid point (the transition test uses their "
        "spread) and every test runs over grid points. **smallest p** is the smallest p-value the test can return "
        f"on these grid points, whatever the data: where it is not below {alpha:g}, the sweep cannot support the "
        "claim and the check is **too few to conclude**.",
        f"- **supported** / **contradicted**: Spearman and Kendall permutation p-values both below {alpha:g} and "
        "a 95% bootstrap interval (grid points resampled) that excludes 0, in (or against) the direction the "
        f"paper states for this family. The transition claim: a one-sided permutation p below {alpha:g} with "
        "more spread across seeds in the transition zone (it cannot contradict).",
        "- **inconclusive**: the test could reach significance but did not. This is not evidence against the claim.",
        "- **moves**: the metric changes with the grid's axis order, reflections or the stencil on more "
        "landscapes than the invariance gate allows (tables/invariance_summary.csv); its numbers are quoted, "
        "not judged.",
        "- **cannot be assessed**: the statistic is undefined here (the reason is given, e.g. a constant metric); "
        "**not measured**: the metric or hyperparameter is not part of this sweep.",
        "- **papers' convention (TTK)**: persistence as the papers computed it with TTK, the global minimum paired "
        "with the global maximum (`*_persistence_ttk`); **ours**: the finite (minimum, saddle) pairs only "
        "(docs/topology.md); **simplified**: pairs with persistence below `topology.threshold` of the loss range "
        "removed. Minimum and saddle counts are the same in both conventions. Each claim is tested only for "
        "the family and in the direction its paper states; a family the papers do not cover gets the generic "
        "checks (fewer minima and saddles with better performance, in its declared direction).",
        "- The checks are a handful of pre-specified tests, reported without a correction for their number. A rank "
        "correlation is an association, not a cause.",
        "",
    ]


def render(
    runs: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    figures: list[str],
    out: Path,
    alpha: float = ALPHA,
    spans: list[str] = (),
) -> str:
    """The text of findings.md. ``tables`` holds FINDINGS_TABLES and, optionally, ``invariance_summary``;
    ``spans`` the lines of the verdicts-across-spans section (``losstopo.summary.findings.spans``), if any."""
    stability = Stability(tables.get("invariance_summary"))
    checks = evaluate(runs, tables, stability, alpha)
    differ = differences(checks)
    lines = [
        "# Findings of this sweep",
        "",
        "Each claim of the two papers, for the family the paper made it about, against this sweep "
        "(`losstopo findings-report`; tables in `results/tables/`, every column defined in docs/findings.md). "
        "Only runs with status ok and finite values enter.",
        "",
        "## Verdicts",
        "",
        *verdict_table(checks, effect_legend(runs)),
        "",
        "Where our convention or the simplification gives another verdict than the papers' convention:",
        "",
        *(differ or ["- nowhere."]),
        "",
        *spans,
        "## The sweep",
        "",
        *sweep_summary(runs),
        "",
        *stability_lines(runs, stability),
        "## Where the transition lies",
        "",
        *(transition_locations(tables["transition"]) or ["- no numeric hyperparameter is swept."]),
        "",
        "## Details",
        "",
        *details(checks),
        *reading_rules(alpha),
    ]
    if figures:
        lines += ["## Figures", "", *figure_lines(figures, out)]
    return "\n".join(lines).rstrip() + "\n"


def main(args) -> int:
    from losstopo.summary.findings import spans

    runs = read_runs(args.runs)
    span_runs = spans.read_spans(args.spans) if args.spans else None  # bad input fails before any statistic
    tables = {name: read_csv_table(Path(args.tables_dir) / f"{name}.csv") for name in FINDINGS_TABLES}
    summary = Path(args.tables_dir) / "invariance_summary.csv"
    tables["invariance_summary"] = read_csv_table(summary) if summary.exists() else None
    span_lines = (
        [] if span_runs is None else spans.section(span_runs, args.alpha, args.seed, args.bootstrap, args.permutations)
    )
    out = Path(args.out)
    text = render(runs, tables, list(args.figures or []), out, args.alpha, span_lines)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    print(f"wrote {out}", flush=True)
    return 0
