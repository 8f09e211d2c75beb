"""The findings stage on synthetic sweeps with known answers: planted correlations and transitions,
degenerate columns, excluded runs, determinism, and the wording of findings.md."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
from findings_helpers import PERF, REPO, make_runs
from scipy import stats

from losstopo.io import read_csv_table
from losstopo.summary.findings import figures as findings_figures
from losstopo.summary.findings import report as findings_report
from losstopo.summary.findings import statistics as findings
from losstopo.summary.findings.statistics import (
    _bootstrap_rank_correlations,
    correlations,
    locate_transition,
    permutation_test,
    rank_association,
    transition,
    trends,
    variability,
)
from losstopo.sweep import outputs

# ---------------------------------------------------------------------------------------------------------
# Rank correlations


def test_bootstrap_statistics_equal_scipy_on_the_explicit_resamples():
    """The multiplicity-weight formulas against scipy on each resample spelled out, ties included."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 15).astype(float)
    y = x + rng.integers(0, 3, 15)
    weights = rng.multinomial(15, np.full(15, 1 / 15), size=40)
    rho, tau = _bootstrap_rank_correlations(x, y, weights)
    for b, w in enumerate(weights):
        idx = np.repeat(np.arange(15), w)
        assert rho[b] == pytest.approx(stats.spearmanr(x[idx], y[idx]).statistic, abs=1e-12)
        assert tau[b] == pytest.approx(stats.kendalltau(x[idx], y[idx]).statistic, abs=1e-12)


def test_planted_monotone_correlation_is_near_one_with_an_interval_excluding_zero():
    x = np.arange(30.0)
    y = x**3 + np.random.default_rng(2).normal(0, 1e-3, 30)
    out = rank_association(x, y, 500, np.random.default_rng(0))
    assert out["spearman_rho"] == pytest.approx(1.0)
    assert out["kendall_tau"] == pytest.approx(1.0)
    assert out["spearman_ci_low"] > 0.9 and out["kendall_ci_low"] > 0.8
    # no sampled pairing reaches rho = 1: the add-one Monte Carlo p-value, doubled for two sides
    assert out["spearman_p"] == pytest.approx(2 / 10001) and out["kendall_p"] == pytest.approx(2 / 10001)
    assert not out["p_exact"] and out["n_permutations"] == 10000 and out["note"] == ""


@pytest.mark.parametrize("n", [3, 5])
def test_small_n_p_values_are_exact_permutation_p_values(n):
    """Against an independent enumeration of every pairing with scipy's own coefficients: never p = 0."""
    import itertools

    rng = np.random.default_rng(n)
    x = np.arange(float(n))
    y = x + rng.normal(0, 0.5, n)
    y[0] = y[1]  # a tie
    out = rank_association(x, y, 0, np.random.default_rng(0))
    assert out["p_exact"] and out["n_permutations"] == np.prod(range(1, n + 1))
    for name, coefficient in (("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        observed = coefficient(x, y).statistic
        null = np.array([coefficient(x[list(p)], y).statistic for p in itertools.permutations(range(n))])
        eps = 1e-12
        expected = min(1.0, 2 * min((null >= observed - eps).mean(), (null <= observed + eps).mean()))
        assert out[f"{name}_p"] == pytest.approx(expected)
    perfect = rank_association(np.arange(3.0), np.arange(3.0) ** 2, 0, np.random.default_rng(0))
    assert perfect["spearman_rho"] == 1 and perfect["spearman_p"] == pytest.approx(1 / 3)  # 2 of 6 pairings


def test_independent_variables_give_an_interval_covering_zero():
    rng = np.random.default_rng(3)
    out = rank_association(rng.normal(size=40), rng.normal(size=40), 1000, np.random.default_rng(0))
    assert out["spearman_ci_low"] < 0 < out["spearman_ci_high"]
    assert out["kendall_ci_low"] < 0 < out["kendall_ci_high"]
    assert out["spearman_p"] > 0.05
    # the interval is a real spread, not a point
    assert out["spearman_ci_high"] - out["spearman_ci_low"] > 0.3


def test_constant_column_and_too_few_runs_give_nan_with_a_reason():
    constant = rank_association(
        np.arange(10.0), np.full(10, 2.0), 100, np.random.default_rng(0), names=("n_minima", "rel_l2_error")
    )
    assert np.isnan(constant["spearman_rho"]) and np.isnan(constant["spearman_ci_low"])
    assert constant["note"] == "rel_l2_error is constant (2)"
    few = rank_association(np.array([1.0, 2.0]), np.array([3.0, 4.0]), 100, np.random.default_rng(0))
    assert np.isnan(few["kendall_tau"]) and "fewer than 3" in few["note"]


def test_correlations_use_only_ok_runs_with_finite_values():
    runs = make_runs(betas=range(1, 7), seeds=range(3), hessian=False)
    clean = correlations(runs, 200, seed=0, performance=PERF)
    # a diverged run and non-finite values that would change every coefficient if they were used
    first = runs.iloc[0].to_dict()
    bad = pd.DataFrame(
        [
            first | {"run_id": "x1", "status": "diverged", "rel_l2_error": -5.0, "n_minima": 999},
            first | {"run_id": "x2", "rel_l2_error": np.inf, "n_minima": -1},
            first | {"run_id": "x3", "n_minima": np.nan, "rel_l2_error": -7.0},
        ]
    )
    dirty = correlations(pd.concat([runs, bad], ignore_index=True), 200, seed=0, performance=PERF)
    key = ["metric", "performance"]
    pair = dirty.set_index(key).loc[("n_minima", "rel_l2_error")]
    assert (pair["n"], pair["n_runs"], pair["n_excluded"]) == (6, len(runs), 3)  # n counts grid points
    stat_columns = ["n", "spearman_rho", "spearman_p", "kendall_tau", "spearman_ci_low", "spearman_ci_high"]
    pd.testing.assert_frame_equal(
        clean.set_index(key).loc[[("n_minima", "rel_l2_error")], stat_columns],
        dirty.set_index(key).loc[[("n_minima", "rel_l2_error")], stat_columns],
    )


def test_bootstrap_is_seeded_and_independent_of_the_other_columns():
    runs = make_runs(betas=range(1, 7), seeds=range(3))
    a = correlations(runs, 300, seed=7, performance=PERF)
    pd.testing.assert_frame_equal(a, correlations(runs, 300, seed=7, performance=PERF))
    other = correlations(runs, 300, seed=8, performance=PERF)
    assert not np.allclose(a["spearman_ci_low"], other["spearman_ci_low"], equal_nan=True)
    fewer = correlations(runs.drop(columns=["avg_persistence"]), 300, seed=7, performance=PERF)
    merged = fewer.merge(a, on=["metric", "performance"], suffixes=("", "_all"))
    assert len(merged) == len(fewer) > 0
    np.testing.assert_array_equal(merged["spearman_ci_low"], merged["spearman_ci_low_all"])


def test_correlation_table_columns_and_metric_selection():
    table = correlations(make_runs(betas=range(1, 5), seeds=range(2)), 50, performance=PERF)
    assert set(table["metric"]) == {"n_minima", "n_saddles", "avg_persistence", "hessian_top_eigenvalue"}
    assert set(table["metric_kind"]) == {"topology", "curvature"}
    assert "hessian_trace_stderr" not in set(table["metric"])  # a precision, not a curvature
    for column in (
        "family",
        "performance",
        "n",
        "n_excluded",
        "spearman_rho",
        "spearman_p",
        "spearman_q",
        "spearman_ci_low",
        "spearman_ci_high",
        "kendall_tau",
        "kendall_p",
        "kendall_ci_low",
        "kendall_ci_high",
        "n_boot",
        "n_boot_valid",
        "note",
    ):
        assert column in table.columns, column


def test_correlations_run_over_grid_point_means():
    """Against an independent computation: each grid point's mean over its seeds, then scipy's coefficients;
    with two values of lr the grid points are (beta, lr) pairs."""
    runs = make_runs(betas=range(1, 7), seeds=range(3), lrs=(0.1, 1.0), hessian=False)
    runs.loc[3, "status"] = "diverged"
    row = correlations(runs, 0, performance=PERF).set_index(["metric", "performance"]).loc[("n_minima", "rel_l2_error")]
    means = runs[runs["status"] == "ok"].groupby(["beta", "lr"])[["n_minima", "rel_l2_error"]].mean()
    assert (row["n"], row["n_runs"], row["n_excluded"]) == (12, 35, 1)
    assert row["spearman_rho"] == pytest.approx(stats.spearmanr(means["n_minima"], means["rel_l2_error"]).statistic)
    assert row["kendall_tau"] == pytest.approx(stats.kendalltau(means["n_minima"], means["rel_l2_error"]).statistic)


def test_smallest_attainable_p_is_that_of_the_most_extreme_pairing():
    """At n = 4 no pairing of 4 distinct values gets below 2/24 (two-sided): a perfect correlation has p = min_p =
    1/12; ties raise the floor (against an independent enumeration of every pairing)."""
    import itertools

    perfect = rank_association(np.arange(4.0), np.arange(4.0) ** 2, 0, np.random.default_rng(0))
    assert perfect["spearman_p"] == perfect["spearman_min_p"] == pytest.approx(2 / 24)
    assert perfect["kendall_min_p"] == pytest.approx(2 / 24)
    x, y = np.array([1.0, 2, 3, 4, 5]), np.array([2.0, 1, 1, 5, 3])  # a tie in y
    out = rank_association(x, y, 0, np.random.default_rng(0))
    null = np.array([stats.spearmanr(x, y[list(p)]).statistic for p in itertools.permutations(range(5))])
    best = stats.spearmanr(x, np.sort(y)).statistic
    assert out["spearman_min_p"] == pytest.approx(2 * (null >= best - 1e-12).mean())
    assert out["spearman_min_p"] > 2 / 120 and out["spearman_p"] >= out["spearman_min_p"]
    concordant, discordant = findings.extreme_arrangements(np.array([3.0, 1, 2]), np.array([5.0, 6, 4]))
    assert concordant.tolist() == [6, 4, 5] and discordant.tolist() == [4, 6, 5]


def test_trends_see_a_planted_rise_with_beta():
    table = trends(make_runs(), 200, performance=PERF).set_index("metric")
    assert table.loc["avg_persistence", "spearman_rho"] > 0.95
    assert table.loc["hessian_top_eigenvalue", "spearman_ci_low"] > 0.9
    assert (table["key"] == "beta").all()


# ---------------------------------------------------------------------------------------------------------
# Variability and transition


def test_variability_is_the_across_seed_spread_at_each_grid_point():
    runs = make_runs(betas=(1, 2, 3), seeds=range(4), hessian=False)
    runs.loc[(runs["beta"] == 3) & (runs["seed"] > 0), "status"] = "diverged"
    table = variability(runs, PERF).set_index(["grid_point", "metric"])
    values = runs[(runs["beta"] == 2)]["n_minima"].to_numpy(float)
    row = table.loc[("beta=2", "n_minima")]
    assert row["n_seeds"] == 4
    assert row["std"] == pytest.approx(values.std(ddof=1))
    assert row["cv"] == pytest.approx(values.std(ddof=1) / values.mean())
    single = table.loc[("beta=3", "n_minima")]
    assert single["n_seeds"] == 1 and np.isnan(single["std"]) and "fewer than 2 seeds" in single["note"]


def test_zero_mean_leaves_the_coefficient_of_variation_undefined():
    runs = make_runs(betas=(1, 2), seeds=range(3), hessian=False)
    runs["avg_persistence"] = np.where(runs["seed"] == 0, -1.0, 0.5)  # mean 0 at every grid point
    row = variability(runs, PERF).set_index(["grid_point", "metric"]).loc[("beta=1", "avg_persistence")]
    assert row["std"] > 0 and np.isnan(row["cv"]) and "mean is 0" in row["note"]


def test_equal_values_have_exactly_zero_spread():
    runs = make_runs(betas=(1, 2), seeds=range(3), hessian=False).assign(avg_persistence=0.1 * 3)
    table = variability(runs, PERF)
    assert (table.loc[table["metric"] == "avg_persistence", "std"] == 0.0).all()


def test_a_sweep_without_ok_runs_gives_notes_and_well_formed_tables(tmp_path):
    runs = make_runs(betas=(1, 2, 3), seeds=range(2)).assign(status="diverged")
    tables = findings.compute_all(runs, 50, 50, 0, PERF)
    assert tables["correlations"]["spearman_rho"].isna().all()
    assert (
        tables["correlations"]["note"]
        .str.match(
            r"only 0 grid point\(s\) with runs with status ok and finite .* \(0 seeds × 0 grid "
            r"points \(beta\)\); a rank correlation needs at least 3 grid points"
        )
        .all()
    )
    assert tables["transition"]["p_value"].isna().all()
    for name, table in tables.items():  # an empty table still round-trips with its header
        table.to_csv(tmp_path / f"{name}.csv", index=False)
        assert list(read_csv_table(tmp_path / f"{name}.csv").columns) == list(table.columns), name
    text = findings_report.render(runs, tables, [], tmp_path / "findings.md")
    assert "No claim could be judged on this sweep." in text
    assert (
        "- **pinn**: better models have fewer minima (paper 1): cannot be assessed: only 0 grid point(s) with runs "
        "with status ok and finite n_minima and rel_l2_error (0 seeds × 0 grid points (beta))"
    ) in text


def test_the_transition_zone_follows_the_performance_curve():
    """A step: the two values on either side. A slope: every value off both plateaus (more than 10% of the range
    from each) and the two plateau values that bound it; the near set and the exact smallest p follow."""
    runs = make_runs(betas=(1, 5, 10, 15, 20, 25, 30, 40), seeds=range(3), hessian=False)
    assert locate_transition(runs, "beta", "rel_l2_error")["near"] == [5, 10]
    curve = {1: 0.01, 5: 0.01, 10: 0.02, 15: 0.3, 20: 0.6, 25: 0.9, 30: 0.95, 40: 0.96}
    runs["rel_l2_error"] = runs["beta"].map(curve)
    where = locate_transition(runs, "beta", "rel_l2_error")
    assert (where["low"], where["high"], where["near"]) == (10, 25, [10, 15, 20, 25])
    assert (where["performance_low"], where["performance_high"]) == (0.02, 0.9)
    row = transition(runs, variability(runs, PERF), 100, performance=PERF).set_index(["metric", "statistic"])
    row = row.loc[("n_minima", "std")]
    assert (row["n_grid_points"], row["n_near"], row["exact"]) == (8, 4, True)
    assert row["min_p"] == pytest.approx(1 / 70)  # C(8, 4) label sets


def test_planted_transition_is_located_and_its_variability_detected():
    runs = make_runs()
    var = variability(runs, PERF)
    table = transition(runs, var, 2000, seed=0, performance=PERF)
    row = table.set_index(["metric", "statistic"]).loc[("n_minima", "std")]
    assert (row["low"], row["high"]) == (5, 6)
    assert row["n_grid_points"] == 10 and row["n_near"] == 2
    assert row["ratio"] > 2 and row["p_value"] < 0.05
    assert row["exact"] and row["min_p"] == pytest.approx(1 / 45)


def test_flat_variability_is_not_detected():
    runs = make_runs(near_spread=3, far_spread=3, seed=4)
    table = transition(runs, variability(runs, PERF), 2000, seed=0, performance=PERF)
    row = table.set_index(["metric", "statistic"]).loc[("n_minima", "std")]
    assert (row["low"], row["high"]) == (5, 6)
    assert row["p_value"] > 0.05


def test_permutation_test_exact_and_sampled():
    values = np.array([5.0, 1.0, 2.0, 3.0])
    exact = permutation_test(values, np.array([True, False, False, False]), 100, np.random.default_rng(0))
    assert exact == {"p_value": 0.25, "min_p": 0.25, "n_permutations": 4, "exact": True}
    rng = np.random.default_rng(5)
    values, near = rng.normal(size=12), np.zeros(12, bool)
    near[[0, 4, 7]] = True
    exact = permutation_test(values, near, 10000, rng)  # C(12, 3) = 220 subsets
    sampled = permutation_test(values, near, 200, np.random.default_rng(0))
    assert exact["exact"] and not sampled["exact"]
    assert sampled["p_value"] == pytest.approx(exact["p_value"], abs=0.1)


def test_transition_notes_instead_of_crashing():
    runs = make_runs(betas=(1, 2), seeds=range(3), hessian=False)
    row = transition(runs, variability(runs, PERF), 100, performance=PERF).iloc[0]
    assert np.isnan(row["p_value"]) and "beta has only 2 values" in row["note"]
    assert locate_transition(runs.assign(beta="a"), "beta", "rel_l2_error")["note"].startswith("beta is not numeric")


# ---------------------------------------------------------------------------------------------------------
# Figures, captions and the command line


def test_every_figure_has_an_existing_caption():
    names = outputs.findings_figure_files({"pinn": ["beta", "lr"]})
    assert "pinn/heatmap_beta_x_lr.png" in names and "pinn/variability_vs_lr.pdf" in names
    names += [
        f"pinn/{stem}.png"
        for stem in ("topology_vs_beta", "topology_vs_performance", "loss_heatmaps", "hessian_density", "profiles")
    ]
    for name in names:
        spec = outputs.report_spec(name)
        if name.endswith(".pdf"):
            assert spec is None
            continue
        assert spec["category"] == "pinn"
        assert (REPO / "workflow" / "rules" / spec["caption"]).resolve().is_file(), spec["caption"]
    assert "caption" not in outputs.report_spec("pinn/esd_overlay.png")


def test_axis_labels_carry_units():
    assert findings_figures.label("avg_persistence") == "avg persistence (loss)"
    assert findings_figures.label("n_minima_simplified") == "n minima simplified (count)"
    assert findings_figures.label("beta") == "beta"
    assert (
        findings_figures.label("avg_persistence_simplified_log") == "avg persistence simplified log (decades of loss)"
    )
    assert findings_figures.label("max_persistence_rel") == "max persistence rel (fraction of the loss range)"


def test_decade_quantities_go_on_log_axes_and_booleans_are_categories():
    from losstopo.summary.figures import axis_scale, is_categorical

    assert axis_scale("rel_l2_error", [0.01, 0.02]) == ("log", {})  # an error, even within one decade
    assert axis_scale("avg_persistence", [0.0, 0.1, 10.0]) == ("symlog", {"linthresh": 0.1})
    assert axis_scale("avg_persistence_log", [0.1, 0.3]) == ("linear", {})  # already in decades
    assert axis_scale("n_minima", [1, 2, 50]) == ("linear", {})
    assert axis_scale("hessian_top_eigenvalue", [1.0, 1e3]) == ("log", {})  # spans 3 decades
    assert is_categorical(pd.Series([True, False])) and is_categorical(pd.Series(["a", "b"]))
    assert not is_categorical(pd.Series([1.0, 30.0]))


@pytest.mark.slow
def test_command_line_writes_tables_figures_and_report(tmp_path):
    runs = make_runs(betas=(1, 2, 3), seeds=range(2), lrs=(0.1, 1.0), hessian=False, jump_after=2)
    runs = runs.drop(columns=["avg_persistence"])  # fewer panels: a faster test
    runs.to_csv(tmp_path / "runs.csv", index=False)
    tables, figures = tmp_path / "tables", tmp_path / "figures"
    assert (
        findings.main(
            argparse.Namespace(runs=tmp_path / "runs.csv", out_dir=tables, seed=0, bootstrap=100, permutations=100)
        )
        == 0
    )
    for name in outputs.FINDINGS_TABLES:
        assert len(pd.read_csv(tables / f"{name}.csv")) > 0, name
    assert (
        findings_figures.main(argparse.Namespace(runs=tmp_path / "runs.csv", tables_dir=tables, out_dir=figures)) == 0
    )
    names = outputs.findings_figure_files({"pinn": ["beta", "lr"]})
    for name in names:
        assert (figures / name).stat().st_size > 1000, name
    pngs = [str(figures / n) for n in names if n.endswith(".png")]
    out = tmp_path / "findings.md"
    assert (
        findings_report.main(
            argparse.Namespace(
                runs=tmp_path / "runs.csv", tables_dir=tables, out=out, figures=pngs, alpha=0.05, spans=None
            )
        )
        == 0
    )
    text = out.read_text()
    assert "[heatmap beta x lr](figures/pinn/heatmap_beta_x_lr.png)" in text
    assert "- **pinn**: average persistence rises with beta (paper 2): not measured: runs.csv has no finite" in text


def test_family_performance_is_read_from_run_json_then_from_the_registry(tmp_path):
    from losstopo.io import save_json
    from losstopo.summary.tables import family_performance, headline_metric

    # save_json sorts the keys: the order, headline first, is kept in performance_order
    run_json = {"performance": {"brier": "lower", "auc": "higher"}, "performance_order": ["brier", "auc"]}
    save_json(tmp_path / "run" / "run.json", run_json)
    recorded = pd.DataFrame({"family": ["mlp"], "run_dir": [str(tmp_path / "run" / "epoch~3")]})
    assert list(family_performance(recorded).items()) == [("brier", "lower"), ("auc", "higher")]
    assert headline_metric(recorded) == "brier"
    # a run.json written before performance_order: sorted; a built-in family's registry gives the order back
    save_json(tmp_path / "old" / "run.json", {"performance": {"rel_l2_error": "lower", "final_loss": "lower"}})
    old = pd.DataFrame({"family": ["pinn"], "run_dir": [str(tmp_path / "old")]})
    assert headline_metric(old) == "rel_l2_error"
    builtin = pd.DataFrame({"family": ["pinn"], "run_id": ["pinn/seed~0"]})
    assert family_performance(builtin) == {"rel_l2_error": "lower", "final_loss": "lower"}
    with pytest.raises(ValueError, match="unknown model family 'mlp'"):
        family_performance(recorded.assign(run_dir=str(tmp_path / "elsewhere")))
