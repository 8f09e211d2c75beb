"""Verdicts across landscape spans: findings.md's section "Verdicts across spans", from ``tables/spans.csv``.

The span study samples each final model at several spans (and resolutions) and writes ``spans.csv``: every
column of runs.csv for each (run, span, resolution), the topology columns recomputed there, plus ``span`` and
``resolution``. For each (span, resolution) this recomputes the statistics the claims read
(``statistics.compute_all`` limited to those columns) and judges every claim as the findings table does,
under the papers' convention and ours after simplification, without the invariance gate (measured at the
sweep's own span only). A claim is *stable* when its verdict is the same at every span of its family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from losstopo.io import InputFileError
from losstopo.summary.findings.checks import NOT_JUDGED, Check, evaluate
from losstopo.summary.findings.claims import HEADLINE, OURS, PAPERS, claims_for, headline, variants
from losstopo.summary.findings.statistics import compute_all
from losstopo.summary.tables import read_runs

SETTING = ("span", "resolution")
SHOWN = ((PAPERS, False), (OURS, True))  # the two headline columns the spans table shows: papers' / ours, simplified


def read_spans(path) -> pd.DataFrame:
    """spans.csv, checked: runs.csv's required columns plus ``span`` and ``resolution`` (finite numbers), one
    row per (run, span, resolution). InputFileError naming the file and what is wrong."""
    spans = read_runs(path)
    missing = [c for c in SETTING if c not in spans.columns]
    if missing:
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)} (one row per run and span)")
    for column in SETTING:
        values = pd.to_numeric(spans[column], errors="coerce")
        if not np.isfinite(values).all():
            bad = spans.loc[~np.isfinite(values), column].iloc[0]
            raise InputFileError(f"{path}: column {column} must hold finite numbers, found {bad!r}")
        spans[column] = values
    twice = spans.duplicated(["run_id", *SETTING])
    if twice.any():
        row = spans[twice].iloc[0]
        raise InputFileError(
            f"{path}: run {row['run_id']} appears twice at span {row['span']:g}, resolution {row['resolution']:g}"
        )
    return spans


def _columns(runs: pd.DataFrame) -> set[str]:
    """The columns the claims' headline cells read, for every family in ``runs``."""
    needed = set()
    for family, frame in runs.groupby("family"):
        for claim in claims_for(str(family)):
            found = variants(claim.metric, frame.columns)
            needed |= {v.column for v in (headline(found, *cell) for cell in HEADLINE) if v is not None}
    return needed


def _verdict(checks: list[Check], convention: str, simplified: bool) -> str:
    variant = headline([c.variant for c in checks], convention, simplified)
    if variant is None:
        return "—"
    return next(c.verdict for c in checks if c.variant == variant)


def verdicts(spans: pd.DataFrame, alpha: float, seed: int, n_boot: int, n_perm: int) -> pd.DataFrame:
    """One row per family, claim and (span, resolution): the verdict under the papers' convention and under
    ours after simplification (columns ``papers`` and ``ours_simplified``)."""
    rows = []
    only = _columns(spans)
    for (span, resolution), runs in spans.groupby(list(SETTING), sort=True):
        tables = compute_all(runs, n_boot, n_perm, seed, only=only)
        by_claim: dict = {}
        for check in evaluate(runs, tables, None, alpha):
            by_claim.setdefault(check.claim, []).append(check)
        for claim, checks in by_claim.items():
            rows.append(
                {
                    "family": claim.family,
                    "claim": f"{claim.statement} ({claim.paper})",
                    "span": span,
                    "resolution": resolution,
                    "papers": _verdict(checks, *SHOWN[0]),
                    "ours_simplified": _verdict(checks, *SHOWN[1]),
                }
            )
    return pd.DataFrame(rows)


def section(spans: pd.DataFrame, alpha: float, seed: int, n_boot: int, n_perm: int) -> list[str]:
    """The lines of findings.md's "Verdicts across spans": per family, claim -> verdict at each of its (span,
    resolution) settings, and which claims are stable."""
    table = verdicts(spans, alpha, seed, n_boot, n_perm)
    landscape = ["family", "landscape_span", "landscape_resolution"]  # the sweep's own settings, when they came along
    own = set(zip(*(spans[c] for c in landscape))) if set(landscape) <= set(spans.columns) else set()
    lines = [
        "## Verdicts across spans",
        "",
        "Each claim judged again on the landscapes sampled at other spans and resolutions (tables/spans.csv); each "
        "cell: papers' convention / ours, simplified. The invariance gate is not applied here (it is measured at "
        "the sweep's own span only).",
        "",
    ]
    stable, judged = [], 0
    for family, rows in table.groupby("family", sort=True):
        settings = sorted(set(zip(rows["span"], rows["resolution"])))
        header = [f"span {s:g}, r {r:g}" + " (the sweep's)" * ((family, s, r) in own) for s, r in settings]
        block = [
            f"| {family}: claim (paper) | " + " | ".join(header) + " | stable across spans |",
            "| --- | " + " | ".join("---" for _ in header) + " | --- |",
        ]
        for claim, at_claim in rows.groupby("claim", sort=False):
            at = {(r.span, r.resolution): (r.papers, r.ours_simplified) for r in at_claim.itertuples()}
            if all(v in NOT_JUDGED or v == "—" for pair in at.values() for v in pair):
                continue  # never judged at any span: nothing to compare
            judged += 1
            # per convention that has this metric: the same verdict at every span?
            shown = [i for i in range(2) if any(pair[i] != "—" for pair in at.values())]
            same = {i: len({pair[i] for pair in at.values()}) == 1 for i in shown}
            word = (
                "yes"
                if all(same.values())
                else "no"
                if not any(same.values())
                else ("papers' only", "ours only")[same[1]]
            )
            if all(same.values()):
                stable.append(f"{family}: {claim}")
            cells = [" / ".join(at[setting]) if setting in at else "—" for setting in settings]
            block.append(f"| {claim} | " + " | ".join(cells) + f" | {word} |")
        if len(block) > 2:
            lines += [*block, ""]
    if not judged:
        lines.append("No claim could be judged at any span.")
    lines += [
        f"Stable across spans (the same verdict at every span, in both conventions): {len(stable)} of {judged} "
        f"claims judged at some span{': ' + '; '.join(stable) if stable else ''}.",
        "",
    ]
    return lines
