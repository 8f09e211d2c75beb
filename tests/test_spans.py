"""Landscapes sampled at extra spans (landscape.extra_spans): sampling, topology, the profile drawn in the
topology process, and tables/spans.csv, each against an independent recomputation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from losstopo import cli
from losstopo.io import load_json, load_npz, save_npz
from losstopo.landscape.directions import compute_directions
from losstopo.landscape.sampling import run_sampling
from losstopo.summary.aggregate import collect, collect_spans
from losstopo.topology import compute_topology, summarize
from losstopo.trained import load_trained
from losstopo.training.train import run_training

LANDSCAPE = {"directions": "hessian", "dim": 2, "resolution": 7, "span": 0.2}
TOPOLOGY = ["--graph", "freudenthal", "--threshold", "0.05"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained PINN with Hessian directions, sampled at span 0.2 and at 0.5 and 1 in the same call."""
    run_dir = tmp_path_factory.mktemp("run") / "pinn" / "beta~5" / "seed~0"
    hp = {"width": 8, "depth": 2, "n_collocation": 64, "n_initial": 32, "n_boundary": 16, "lbfgs_steps": 10, "beta": 5}
    run_training("pinn", hp, 0, run_dir, "cpu", run_id="pinn/beta~5/seed~0", swept={"beta": 5.0})
    family, model, hp, seed, _ = load_trained(run_dir, "cpu")
    save_npz(run_dir / "directions.npz", **compute_directions(family, model, hp, seed, LANDSCAPE, "cpu"))
    landscape = {**LANDSCAPE, "extra_spans": [0.5, 1.0]}
    run_sampling(run_dir, run_dir / "directions.npz", landscape, run_dir / "landscape.npz", "cpu", progress=False)
    return run_dir


def test_extra_spans_are_the_landscapes_sampled_at_those_spans(run, tmp_path):
    data = load_npz(run / "landscape.npz")
    assert data["extra_spans"].tolist() == [0.5, 1.0] and data["extra_loss"].shape == (2, 7, 7)
    for i, span in enumerate((0.2, 0.5, 1.0)):
        alone = tmp_path / f"span{span}.npz"
        run_sampling(run, run / "directions.npz", {**LANDSCAPE, "span": span}, alone, "cpu", progress=False)
        expected = load_npz(alone)["loss"]
        np.testing.assert_array_equal(data["loss"] if i == 0 else data["extra_loss"][i - 1], expected)
    assert not np.array_equal(data["extra_loss"][0], data["extra_loss"][1])


@pytest.mark.parametrize(
    "change, message", [({"shard_points": 10}, "sampled by one job"), ({"sampling": "sobol"}, "sobol")]
)
def test_extra_spans_need_an_unsharded_grid(run, tmp_path, change, message):
    landscape = {**LANDSCAPE, "extra_spans": [1.0], **change}
    with pytest.raises(ValueError, match=message):
        run_sampling(
            run,
            run / "directions.npz",
            landscape,
            tmp_path / "x.npz",
            "cpu",
            progress=False,
            shard=0 if "shard_points" in change else None,
        )
    assert not (tmp_path / "x.npz").exists()


def test_topology_of_every_span_and_the_profile_in_one_process(run, tmp_path, capsys):
    out = run / "topology"
    profile = [
        "--profile-svg",
        str(tmp_path / "p.svg"),
        "--profile-png",
        str(tmp_path / "p.png"),
        "--profile-title",
        "t",
    ]
    assert cli.main(["topology", str(run / "landscape.npz"), *TOPOLOGY, "--out-dir", str(out), *profile]) == 0
    data, summary = load_npz(run / "landscape.npz"), load_json(out / "topology.json")
    assert summary["n_minima"] == summarize(compute_topology(data["loss"], "freudenthal"), 0.05)["n_minima"]
    assert [entry["span"] for entry in summary["extra_spans"]] == [0.5, 1.0]
    for entry, field in zip(summary["extra_spans"], data["extra_loss"]):
        expected = json.loads(json.dumps(summarize(compute_topology(field, "freudenthal"), 0.05)))
        assert {k: v for k, v in entry.items() if k != "span"} == expected
    # the same profile as the separate `losstopo profile` process draws from the written files
    separate = ["--out-svg", str(tmp_path / "q.svg"), "--out-png", str(tmp_path / "q.png"), "--title", "t"]
    assert cli.main(["profile", "--topology-dir", str(out), "--landscape", str(run / "landscape.npz"), *separate]) == 0
    assert (tmp_path / "p.png").read_bytes() == (tmp_path / "q.png").read_bytes()
    half = ["--profile-svg", str(tmp_path / "r.svg")]
    assert cli.main(["topology", str(run / "landscape.npz"), "--out-dir", str(tmp_path / "r"), *half]) == 2
    assert "--profile-png" in capsys.readouterr().err


def test_a_landscape_whose_extra_spans_do_not_match_its_grid_is_refused(tmp_path, capsys):
    path = tmp_path / "landscape.npz"
    save_npz(path, loss=np.zeros((5, 5)), extra_spans=np.array([1.0, 2.0]), extra_loss=np.zeros((2, 5, 4)))
    assert cli.main(["topology", str(path), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'extra_loss' (2, 5, 4)" in err and not (tmp_path / "out").exists()


def test_spans_table_has_every_runs_column_and_the_topology_of_each_span(run):
    assert cli.main(["topology", str(run / "landscape.npz"), *TOPOLOGY, "--out-dir", str(run / "topology")]) == 0
    runs, spans = collect([run]), collect_spans([run])
    assert list(spans.columns) == ["family", "run_id", "span", "resolution", *runs.columns.drop(["family", "run_id"])]
    assert spans["span"].tolist() == [0.2, 0.5, 1.0] and set(spans["resolution"]) == {7}
    assert spans["landscape_span"].tolist() == [0.2] * 3  # the run's own span (span: the one sampled)
    summary = load_json(run / "topology" / "topology.json")
    for i, entry in enumerate([summary, *summary["extra_spans"]]):
        row = spans.iloc[i]
        for metric in ("n_minima", "n_saddles", "avg_persistence", "total_persistence_rel", "loss_max"):
            assert row[metric] == pytest.approx(entry[metric])
        for column in ("rel_l2_error", "hessian_status", "beta", "seed", "status"):
            assert pd.isna(row.get(column)) or row.get(column) == runs.iloc[0].get(column)
    pd.testing.assert_frame_equal(spans.iloc[:1].drop(columns=["span", "resolution"]).reset_index(drop=True), runs)
