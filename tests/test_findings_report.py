"""findings.md on synthetic sweeps: the claims table per family, the verdict rules at grid-point level, the two
persistence conventions side by side, the invariance gate, bad input, and the verdicts across spans."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from findings_helpers import PERF, make_runs

from losstopo.io import InputFileError, save_json
from losstopo.summary.findings import checks as findings_checks
from losstopo.summary.findings import report as findings_report
from losstopo.summary.findings import spans as findings_spans
from losstopo.summary.findings import statistics as findings
from losstopo.summary.findings.claims import CLAIMS, GENERIC, PERFORMANCE, claims_for, variants


def _report(runs: pd.DataFrame, tmp_path: Path, invariance: pd.DataFrame | None = None, **kw) -> str:
    tables = findings.compute_all(runs, 200, 500, 0)
    tables["invariance_summary"] = invariance
    return findings_report.render(runs, tables, [], tmp_path / "findings.md", **kw)


def _table(text: str) -> list[str]:
    """The rows of findings.md's first table."""
    start = text.index("| family | claim (paper)")
    return [line for line in text[start:].split("\n\n")[0].splitlines()[2:]]


def _ttk(runs: pd.DataFrame) -> pd.DataFrame:
    """Our and TTK's average persistence as a one-basin-heavy landscape gives them: ours 0 where there is one
    minimum, TTK's the loss range over the number of minima."""
    loss_range = 10.0 / runs["beta"]
    return runs.assign(
        n_minima=np.where(runs["beta"] % 2 == 0, 1, runs["n_minima"]),
        avg_persistence=np.where(runs["beta"] % 2 == 0, 0.0, 0.1 * runs["beta"]),
        avg_persistence_ttk=loss_range,
    )


# ---------------------------------------------------------------------------------------------------------
# The claims table


def test_each_claim_is_stated_for_the_family_its_paper_made_it_for():
    pinn = claims_for("pinn")
    assert {c.paper for c in pinn} == {"paper 1", "paper 2"} and all(c.family == "pinn" for c in pinn)
    # paper 2's ResNet statement (better models, higher average persistence) is never a PINN claim; paper 2's
    # PINN statement is that average persistence rises with beta, i.e. with the error
    assert not [c for c in pinn if c.metric.endswith("persistence") and c.against == PERFORMANCE]
    assert [(c.against, c.sign) for c in pinn if c.metric == "avg_persistence"] == [("beta", +1)]
    resnet = claims_for("resnet")
    assert {(c.metric, c.against, c.sign) for c in resnet} == {
        ("n_saddles", PERFORMANCE, -1),  # worse models: more saddles
        ("avg_persistence", PERFORMANCE, +1),  # worse models: lower average persistence
    }
    assert {c.paper for c in claims_for("unet")} == {"paper 1"}
    mlp = claims_for("mlp")  # a plug-in family: the generic checks only, under its own name
    assert [(c.paper, c.family, c.metric) for c in mlp] == [(g.paper, "mlp", g.metric) for g in GENERIC]
    assert {c.family for c in CLAIMS} == {"pinn", "resnet", "unet"}


def test_variants_pair_the_papers_convention_with_ours():
    columns = [
        "avg_persistence",
        "avg_persistence_ttk",
        "avg_persistence_simplified",
        "avg_persistence_ttk_simplified_log",
        "n_minima",
        "n_minima_simplified",
    ]
    found = {(v.column, v.convention, v.simplified, v.scale) for v in variants("avg_persistence", columns)}
    assert found == {
        ("avg_persistence_ttk", "papers'", False, ""),
        ("avg_persistence_ttk_simplified_log", "papers'", True, "_log"),
        ("avg_persistence", "ours", False, ""),
        ("avg_persistence_simplified", "ours", True, ""),
    }
    assert [v.label for v in variants("n_minima", columns)] == ["as measured", "simplified"]
    assert [v.column for v in variants("hessian_trace", columns)] == ["hessian_trace"]  # absent: not measured


# ---------------------------------------------------------------------------------------------------------
# Verdicts


def test_verdict_rules():
    base = {
        "n": 8,
        "n_runs": 24,
        "spearman_rho": 0.6,
        "spearman_p": 0.001,
        "spearman_min_p": 0.0002,
        "kendall_p": 0.002,
        "spearman_ci_low": 0.3,
        "spearman_ci_high": 0.8,
        "kendall_tau": 0.45,
        "note": "",
    }
    judge = findings_checks.judge_association
    assert judge(base, +1)["verdict"] == "supported"
    assert judge(base, -1)["verdict"] == "contradicted"
    assert judge(base | {"spearman_ci_low": -0.1}, +1)["verdict"] == "inconclusive"
    assert judge(base | {"kendall_p": 0.2}, +1)["verdict"] == "inconclusive"
    few = judge(base | {"n": 4, "spearman_min_p": 2 / 24, "spearman_p": 2 / 24}, +1)
    assert few["verdict"] == "too few to conclude"
    assert few["why"] == "with 4 grid points the smallest p-value this test can give is 0.083, not below 0.05"
    undefined = judge(base | {"spearman_rho": np.nan, "note": "n_minima is constant (3)"}, +1)
    assert undefined["verdict"] == "cannot be assessed" and undefined["why"] == "n_minima is constant (3)"


def test_well_powered_pinn_sweep(tmp_path):
    runs = make_runs(betas=(1, 5, 10, 15, 20, 25, 30, 40), seeds=range(3), jump_after=15)
    text = _report(runs, tmp_path)
    assert text.index("## Verdicts") < text.index("## The sweep")  # the table comes first
    rows = _table(text)
    assert "| pinn | the top Hessian eigenvalue rises with beta (paper 2) | 8 | 0.004 | **supported** (ρ +1.00" in (
        "\n".join(rows)
    )
    assert any(r.startswith("| pinn | minima vary most across seeds near the transition (paper 1) | 8 |") for r in rows)
    assert "- **pinn**: the Hessian trace rises with beta (paper 2): not measured: runs.csv has no finite" in text
    assert "resnet" not in text and "unet" not in text  # no section about another family
    assert "n = 8 grid points (24 runs)" in text


def test_seeds_are_not_counted_as_independent(tmp_path):
    """24 runs at 4 grid points: a rank correlation over runs would look significant, over grid points it cannot
    reach p < 0.05 (smallest 2/24), so every trend is too few to conclude and says so in one line."""
    runs = make_runs(betas=(1, 10, 20, 30), seeds=range(6), jump_after=10)
    text = _report(runs, tmp_path)
    assert "No claim could be judged on this sweep." in text
    assert (
        "- **pinn**: saddles rise with beta (paper 2): too few to conclude: with 4 grid points the smallest p-value "
        "this test can give is 0.083, not below 0.05."
    ) in text


def test_a_sweep_that_cannot_support_a_claim_says_why_in_one_line(tmp_path):
    """Bad input: one seed and two grid points, a constant metric, no numeric axis: the report completes and
    each claim says what is missing in one line."""
    runs = make_runs(betas=(1, 30), seeds=(0,), jump_after=1).assign(n_saddles=0)
    text = _report(runs, tmp_path)
    lines = [line for line in text.splitlines() if line.startswith("- **pinn**: ") and "(paper" in line]
    assert len(lines) == len(claims_for("pinn"))
    for line in lines:
        assert (
            "(1 seed × 2 grid points (beta)); a rank correlation needs at least 3 grid points" in line
            or "1 seed(s) with status ok each; the across-seed spread needs at least 2 seeds per grid point" in line
            or "not measured: runs.csv has no finite" in line
        ), line
    constant = _report(make_runs(betas=(1, 2, 3, 4, 5), seeds=range(3), hessian=False).assign(n_saddles=0), tmp_path)
    assert "- **pinn**: saddles rise with beta (paper 2): cannot be assessed: n_saddles is constant (0)." in constant
    two = _report(make_runs(betas=(1, 2), seeds=range(3), jump_after=1, hessian=False), tmp_path)
    assert "beta has only 2 values, so every grid point is next to the transition" in two
    unswept = make_runs(betas=(1, 2, 3), seeds=range(2), hessian=False)
    unswept["run_id"] = unswept["run_id"].str.replace("beta~", "lr~")
    text = _report(unswept.rename(columns={"beta": "lr"}), tmp_path)
    assert "- **pinn**: saddles rise with beta (paper 2): not measured: beta is not swept." in text


def test_a_plug_in_family_gets_the_generic_checks_in_its_declared_direction(tmp_path):
    """A family the papers do not cover: fewer minima and saddles with better performance, read in its own
    direction (auc: higher is better), and nothing about the PINN or the ResNet."""
    save_json(tmp_path / "run" / "run.json", {"performance": {"auc": "higher", "brier": "lower"}})
    runs = make_runs(betas=range(1, 9), seeds=range(2), hessian=False)
    runs = runs.assign(family="mlp", run_id=runs["run_id"].str.replace("pinn/", "mlp/"), run_dir=str(tmp_path / "run"))
    runs["auc"] = 1 - runs["rel_l2_error"] * runs["beta"] / 10  # falls as n_minima rises
    rows = _table(_report(runs, tmp_path))
    assert [r.split(" | ")[1] for r in rows] == [
        "better models have fewer minima (generic)",
        "better models have fewer saddles (generic)",
    ]
    assert all("**supported** (ρ -" in r for r in rows)  # fewer minima with a higher auc


def test_two_architectures_and_a_one_value_plug_in_say_what_is_missing(tmp_path):
    """Bad input: the ResNet's residual on / off is 2 grid points and no numeric axis; a plug-in family swept over
    one value is 1 grid point. Both complete, each claim in one line naming the design."""
    save_json(tmp_path / "run" / "run.json", {"performance": {"auc": "higher"}, "performance_order": ["auc"]})
    rows = []
    for residual in (True, False):
        for seed in range(3):
            rows.append(
                {"family": "resnet", "run_id": f"resnet/residual~{str(residual).lower()}/seed~{seed}", "seed": seed}
                | {"status": "ok", "residual": residual, "test_accuracy": 0.9 if residual else 0.4, "run_dir": None}
                | {"n_minima": 1 + (not residual), "n_saddles": int(not residual), "avg_persistence": 0.1 * seed}
            )
            rows.append(
                {"family": "mlp", "run_id": f"mlp/width~8/seed~{seed}{int(residual)}", "seed": 2 * seed + residual}
                | {"status": "ok", "width": 8, "auc": 0.8 + 0.01 * seed, "run_dir": str(tmp_path / "run")}
                | {"n_minima": 1 + seed, "n_saddles": seed}
            )
    text = _report(pd.DataFrame(rows), tmp_path)
    assert "No claim could be judged on this sweep." in text
    assert (
        "- **resnet**: worse models have more saddles (paper 2): cannot be assessed: only 2 grid point(s) with runs "
        "with status ok and finite n_saddles and test_accuracy (3 seeds × 2 grid points (residual)); a rank "
        "correlation needs at least 3 grid points."
    ) in text
    assert (
        "- **mlp**: better models have fewer minima (generic): cannot be assessed: only 1 grid point(s) with runs "
        "with status ok and finite n_minima and auc (6 seeds × 1 grid point (width))"
    ) in text
    assert "pinn" not in text.split("## Details")[0]


def test_both_conventions_side_by_side_and_where_ours_differs(tmp_path):
    """TTK's average persistence (the papers') and ours can disagree: the table gives both and says where."""
    runs = _ttk(make_runs(betas=range(1, 9), seeds=range(3), hessian=False))
    text = _report(runs, tmp_path)
    row = next(r for r in _table(text) if "average persistence rises with beta" in r)
    papers, ours = row.split(" | ")[4:6]
    # TTK's average falls with beta (the range shrinks), ours has no trend: 0 at every even beta
    assert papers == "**contradicted** (ρ -1.00, p 0.004)" and ours.startswith("**inconclusive** (ρ +0.05")
    assert (
        "- pinn, average persistence rises with beta (paper 2): papers' convention (TTK): contradicted; "
        "ours: inconclusive."
    ) in text


def _invariance(moving: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "family": "pinn",
                "metric": metric,
                "n_landscapes": 24,
                "median_orientation": 0.0,
                "median_stencil": 0.0,
                "median_resolution": 0.3,
                "n_moving": round(24 * share),
                "share_moving": share,
                "tolerance": 0.1,
                "max_share": 0.1,
                "holds_still": share <= 0.1,
            }
            for metric, share in moving.items()
        ]
    )


def test_metrics_that_move_are_not_judged_and_the_share_is_quoted(tmp_path):
    """A median spread of 0 with 42% of the landscapes moving: the check is quoted, not judged."""
    runs = make_runs(betas=(1, 5, 10, 15, 20, 25, 30, 40), seeds=range(3), jump_after=15)
    runs["n_minima_simplified"] = runs["n_minima"] // 2
    text = _report(runs, tmp_path, _invariance({"n_minima": 10 / 24, "n_minima_simplified": 0.0}))
    row = next(r for r in _table(text) if "better models have fewer minima" in r)
    cells = row.split(" | ")[4:]
    assert cells == ["moves (42% of landscapes); ρ +0.83, p 0.012", "same", "**supported** (ρ +0.83, p 0.012) |"]
    assert "10 of 24 landscapes (42%) move by more than 0.1 under axis order, reflections or the stencil" in text
    assert "hold still: n_minima_simplified; move: n_minima." in text
    assert "A metric holds still when at most 10% of a family's landscapes move by more than 0.1" in text


# ---------------------------------------------------------------------------------------------------------
# Verdicts across spans


def _spans(tmp_path: Path) -> Path:
    """spans.csv of a PINN sweep at three spans: the rise of saddles with beta holds at 0.5 and 1, vanishes at 2."""
    frames = []
    for span in (0.5, 1.0, 2.0):
        runs = make_runs(betas=range(1, 9), seeds=range(2), hessian=False, seed=int(10 * span))
        if span == 2.0:
            runs["n_saddles"] = np.random.default_rng(0).integers(1, 30, len(runs))
        frames.append(runs.assign(span=span, resolution=21, landscape_span=1.0, landscape_resolution=21))
    path = tmp_path / "spans.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def test_verdicts_across_spans_say_which_are_stable(tmp_path):
    lines = findings_spans.section(findings_spans.read_spans(_spans(tmp_path)), 0.05, 0, 100, 500)
    text = "\n".join(lines)
    assert (
        "| pinn: claim (paper) | span 0.5, r 21 | span 1, r 21 (the sweep's) | span 2, r 21 | stable across spans |"
    ) in text
    saddles = next(line for line in lines if "saddles rise with beta" in line)
    assert saddles == "| saddles rise with beta (paper 2) | supported / — | supported / — | inconclusive / — | no |"
    assert "| minima vary most across seeds near the transition (paper 1) | supported / — | supported / — | " in text
    stable = next(line for line in lines if line.startswith("Stable across spans"))
    assert "pinn: minima vary most across seeds near the transition (paper 1)" in stable
    assert "saddles rise with beta" not in stable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["span"]), "missing column(s) span"),
        (lambda f: f.assign(resolution="high"), "column resolution must hold finite numbers, found 'high'"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "appears twice at span 0.5, resolution 21"),
    ],
)
def test_bad_spans_table_is_refused_naming_the_problem(tmp_path, change, message):
    path = _spans(tmp_path)
    change(pd.read_csv(path)).to_csv(path, index=False)
    with pytest.raises(InputFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        findings_spans.read_spans(path)


@pytest.mark.slow
def test_findings_report_command_with_spans(tmp_path):
    runs = make_runs(betas=range(1, 6), seeds=range(2), hessian=False)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    tables = tmp_path / "tables"
    args = dict(runs=tmp_path / "runs.csv", out_dir=tables, seed=0, bootstrap=50, permutations=200)
    assert findings.main(argparse.Namespace(**args)) == 0
    out = tmp_path / "findings.md"
    args = dict(args, tables_dir=tables, out=out, figures=[], alpha=0.05, spans=_spans(tmp_path))
    assert findings_report.main(argparse.Namespace(**args)) == 0
    text = out.read_text()
    assert text.index("## Verdicts") < text.index("## Verdicts across spans") < text.index("## The sweep")
    assert PERF["pinn"][0] in text
