"""The real workflow end to end on a tiny PINN sweep: outputs, rerun-on-change, bad config,
interruption and resumption, determinism."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import REPO, SNAKEMAKE, planned_jobs, snakemake, tiny_config, write_config

from losstopo.io import load_json, load_npz
from losstopo.sweep.families import get_family

pytestmark = pytest.mark.slow
STAGE_RULES = {"train", "directions", "hessian", "sample", "topology"}  # one job per run each
UNIT_RULES = {"directions", "hessian", "sample", "topology"}  # per analysed model, checkpoints too
SUMMARY_RULES = {
    "aggregate",
    "figures",
    "findings_tables",
    "findings_figures",
    "findings_report",
    "profile_grid",
    "distances",
    "invariance",
    "connectivity_table",
    "explorer",
    "all",
}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished tiny sweep: beta in {1, 30}, one seed."""
    workdir = tmp_path_factory.mktemp("sweep")
    write_config(workdir, tiny_config())
    snakemake(workdir)
    return workdir


def test_every_output_and_log_exists(swept):
    for run in ("pinn/beta~1/seed~0", "pinn/beta~30/seed~0"):
        run_dir = swept / "results" / "runs" / run
        for name in (
            "run.json",
            "model.pt",
            "train.json",
            "history.csv",
            "directions.npz",
            "landscape.npz",
            "topology/topology.json",
            "topology/persistence.csv",
            "hessian/hessian.json",
            "hessian/density.npz",
            "hessian/esd.png",
            "profile.svg",
            "profile.png",
        ):
            assert (run_dir / name).is_file(), name
        for rule in STAGE_RULES:
            assert (swept / "results" / "logs" / run / f"{rule}.log").is_file(), rule
    for name in ("aggregate", "figures", "connectivity_table", "explorer"):
        assert (swept / "results" / "logs" / f"{name}.log").is_file()
    assert (swept / "results" / "explorer.html").stat().st_size > 10_000
    assert "barrier" in (swept / "results" / "tables" / "connectivity.csv").read_text()  # one seed: no pairs
    figures = swept / "results" / "figures"
    for path in (
        "pinn/topology_vs_beta",
        "pinn/topology_vs_performance",
        "pinn/loss_heatmaps",
        "pinn/hessian_density",
        "pinn/topology_vs_epoch",
        "unet/topology_vs_epoch",
    ):
        for fmt in ("png", "pdf"):
            assert (figures / f"{path}.{fmt}").stat().st_size > 1000
    for fmt in ("png", "svg"):
        assert (figures / "pinn" / f"profiles.{fmt}").stat().st_size > 1000
    assert (swept / "results" / "findings.md").read_text().startswith("# Findings")


def test_a_diverged_run_is_recorded_and_the_sweep_completes(swept):
    runs = pd.read_csv(swept / "results" / "tables" / "runs.csv").set_index("family")
    assert runs.loc["resnet", "status"] == "diverged" and "non-finite" in runs.loc["resnet", "train_reason"]
    # its parameters stayed finite (the test loss overflowed), so its landscape is sampled like any other;
    # non-finite parameters would give an all-NaN landscape with landscape_skipped_reason instead
    skipped = runs.loc["resnet", "landscape_skipped_reason"]
    assert (isinstance(skipped, str) and runs.loc["resnet", "n_minima"] == 0) or runs.loc["resnet", "n_vertices"] == 25
    assert runs.loc["resnet", "hessian_status"] in ("ok", "nonfinite")
    assert (runs.loc[["pinn", "unet"], "status"] == "ok").all()


def test_a_sweep_too_small_for_the_statistics_completes_and_says_what_is_missing(swept):
    """Bad input (one seed, two grid points): findings.md names the missing seeds and grid points."""
    text = (swept / "results" / "findings.md").read_text()
    pinn = [line for line in text.splitlines() if line.startswith("- **pinn**: ") and "(paper" in line]
    assert pinn and not any("supported" in line or "contradicted" in line for line in pinn)
    assert "(1 seed × 2 grid points (beta)); a rank correlation needs at least 3 grid points" in text
    assert "the across-seed spread needs at least 2 seeds per grid point" in text
    invariance = pd.read_csv(swept / "results" / "tables" / "invariance.csv")
    assert set(invariance["run_id"]) >= {"pinn/beta~1/seed~0", "pinn/beta~30/seed~0"}
    assert set(invariance["factor"].dropna()) == {"orientation", "stencil", "resolution"}
    assert "## Which topology metrics hold still" in text


def test_the_html_report_holds_every_profile(swept):
    """Every analysed model's profile (4 runs and 3 checkpoints: 2 PINN, 1 UNet) and every family's profile grid."""
    import zipfile

    snakemake(swept, "--report", "report.zip")
    names = zipfile.ZipFile(swept / "report.zip").namelist()  # report/data/raw/<id>/<file name>
    assert sum(name.endswith("/profile.png") for name in names) == 7
    assert sum(name.endswith("/profiles.png") for name in names) == 3
    assert any(name.endswith("/invariance_summary.csv") for name in names)


def test_checkpoints_get_their_own_landscape_and_table_row(swept):
    unit = swept / "results" / "runs" / "unet" / "seed~0" / "epoch~1"
    for name in ("model.pt", "train.json", "landscape.npz", "topology/topology.json", "hessian/hessian.json"):
        assert (unit / name).is_file(), name
    checkpoints = pd.read_csv(swept / "results" / "tables" / "checkpoints.csv")
    assert sorted(checkpoints["run_id"]) == ["pinn/beta~1/seed~0", "pinn/beta~30/seed~0", "unet/seed~0"]
    assert (checkpoints["epoch"] == 1).all() and (checkpoints["n_minima"] >= 1).all()
    # every ok checkpoint carries its family's performance metrics (PINN checkpoints had none)
    for family, rows in checkpoints.groupby("family"):
        performance = rows[rows["status"] == "ok"][list(get_family(family).PERFORMANCE_METRICS)]
        assert len(performance) and performance.notna().all().all(), family


def test_runs_table_has_one_row_per_run_with_the_promised_columns(swept):
    runs = pd.read_csv(swept / "results" / "tables" / "runs.csv")
    assert sorted(runs["family"]) == ["pinn", "pinn", "resnet", "unet"]
    runs = runs[runs["family"] == "pinn"]
    assert sorted(runs["beta"]) == [1, 30]
    for column in (
        "family",
        "seed",
        "status",
        "beta",
        "rel_l2_error",
        "final_loss",
        "n_minima",
        "n_saddles",
        "total_persistence",
        "avg_persistence",
        "landscape_resolution",
        "landscape_span",
        "topology_graph",
        "hessian_top_eigenvalue",
        "hessian_trace",
        "hessian_trace_stderr",
        "hessian_negative_mass",
    ):
        assert column in runs.columns, column
    assert set(runs["status"]) <= {"ok", "diverged"}
    assert (runs["n_minima"] >= 1).all()
    landscape = load_npz(swept / "results" / "runs" / "pinn" / "beta~1" / "seed~0" / "landscape.npz")
    assert landscape["loss"].shape == (7, 7) and landscape["extra_loss"].shape == (1, 7, 7)


def test_spans_table_has_each_final_model_at_every_span_it_was_sampled_at(swept):
    runs = pd.read_csv(swept / "results" / "tables" / "runs.csv")
    spans = pd.read_csv(swept / "results" / "tables" / "spans.csv")
    assert set(spans.columns) == set(runs.columns) | {"span", "resolution"}
    assert sorted(zip(spans["run_id"], spans["span"])) == [
        ("pinn/beta~1/seed~0", 0.5),
        ("pinn/beta~1/seed~0", 1.0),
        ("pinn/beta~30/seed~0", 0.5),
        ("pinn/beta~30/seed~0", 1.0),
        ("resnet/seed~0", 0.5),
        ("unet/seed~0", 0.5),
    ]
    own = spans[spans["span"] == 0.5].drop(columns=["span", "resolution"]).set_index("run_id").sort_index()
    pd.testing.assert_frame_equal(own[runs.columns.drop("run_id")], runs.set_index("run_id").sort_index())
    wide = spans[spans["span"] == 1.0].set_index("run_id")
    for run_id, row in wide.iterrows():
        summary = load_json(swept / "results" / "runs" / run_id / "topology" / "topology.json")["extra_spans"][0]
        assert row["n_minima"] == summary["n_minima"] and row["landscape_span"] == 0.5 and row["resolution"] == 7
    unit = load_npz(swept / "results" / "runs" / "pinn" / "beta~1" / "seed~0" / "epoch~1" / "landscape.npz")
    assert "extra_loss" not in unit  # checkpoints are sampled at the family's span only


def test_report_with_the_sweeps_config_and_a_clear_error_without_it(swept):
    """README: `snakemake --configfile <sweep> --report report.html`. Without the sweep's config Snakemake reads
    config/config.yaml, another sweep: the error says which config to pass (it used to stop on a missing figure,
    or, where the file names agree, report this sweep's figures under the other config)."""
    snakemake(swept, "--report", "report.html")
    assert (swept / "report.html").stat().st_size > 100_000
    (swept / "config").mkdir()
    try:
        write_config(swept / "config", tiny_config(betas=(1, 20)))
        (swept / "config" / "sweep.yaml").rename(swept / "config" / "config.yaml")
        out = subprocess.run(
            [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(swept), "--report", "other.html"],
            capture_output=True,
            text=True,
        )
    finally:
        for path in (swept / "config").iterdir():
            path.unlink()
        (swept / "config").rmdir()
    message = " ".join((out.stdout + out.stderr).split())
    assert out.returncode != 0 and not (swept / "other.html").exists()
    sweep = (swept / "sweep.yaml").resolve()
    assert f"made with the config {sweep}" in message and "reads a different one" in message
    assert f"snakemake --configfile {sweep} --report report.html" in message


def test_the_html_report_keeps_every_text_inside_its_script_blocks(swept):
    """Field report 22.2: Snakemake's report embeds paths, params and captions as JSON in <script> blocks
    without escaping `</script`. Validation keeps `<` and `>` out of every config text; here the real report
    of the sweep: each block ends where the page means it to, and its data parse back."""
    from html.parser import HTMLParser

    class Scripts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.blocks, self.open = {}, None

        def handle_starttag(self, tag, attrs):
            if tag == "script":
                self.open = dict(attrs).get("id") or f"anonymous {len(self.blocks)}"
                self.blocks[self.open] = ""

        def handle_endtag(self, tag):
            if tag == "script":
                self.open = None

        def handle_data(self, data):
            if self.open:
                self.blocks[self.open] += data

    snakemake(swept, "--report", "escaped.html")
    page = Scripts()
    page.feed((swept / "escaped.html").read_text())
    results = json.loads(page.blocks["results"].strip().removeprefix("var results = ").removesuffix(";"))
    profiles = [path for path in results if path.endswith("/profile.png")]
    assert len(profiles) == 7 and all(path.startswith("results/runs/") for path in profiles)
    params = " ".join(json.dumps(r["job_properties"]["params"]) for r in results.values())
    assert "--cmap viridis" in params  # config text reaches the report through the jobs' params
    for path in profiles:  # each caption names its model: a wildcard rendered into the caption's HTML
        assert path.removeprefix("results/runs/").removesuffix("/profile.png") in results[path]["caption"]
    for name in ("workflow-desc", "categories", "rules", "metadata"):
        json.loads(page.blocks[name].strip().split(" = ", 1)[1].removesuffix(";"))


def test_nothing_to_do_after_a_complete_run(swept):
    assert planned_jobs(swept) == set()


def _respelled(config: dict) -> dict:
    """The same sweep with every number in another spelling: ints as floats, floats as ints or text in
    exponent form (which YAML 1.1 reads as a string)."""
    pinn, unet = config["families"]["pinn"], config["families"]["unet"]
    pinn["sweep"]["beta"] = [float(b) for b in pinn["sweep"]["beta"]]  # 1 -> 1.0 for a number key
    pinn["params"] = {k: float(v) for k, v in pinn["params"].items()}  # width 8 -> 8.0 for integer keys
    pinn["params"]["lr"] = 1  # the default 1.0, given as an int
    pinn["seeds"] = [float(s) for s in pinn["seeds"]]
    unet["checkpoints"] = [float(e) for e in unet["checkpoints"]]
    pinn["landscape"]["extra_spans"] = ["1e0"]  # text to YAML 1.1, one number to the config
    config["landscape"]["span"] = "5e-1"
    config["hessian"]["top_k"] = 2.0
    config["hessian"]["trace"]["max_probes"] = 10.0
    config["topology"]["threshold"] = "1e-2"
    return config


def test_respelled_values_schedule_nothing(swept):
    original = (swept / "sweep.yaml").read_text()
    try:
        write_config(swept, _respelled(tiny_config()))
        assert yaml.safe_load((swept / "sweep.yaml").read_text())["landscape"]["span"] == "5e-1"  # text to YAML 1.1
        jobs = planned_jobs(swept)
    finally:
        (swept / "sweep.yaml").write_text(original)
    assert jobs == set()


@pytest.mark.parametrize(
    "target, unit",
    [
        ("runs/pinn/beta~7/seed~0/landscape.npz", "pinn/beta~7/seed~0"),
        ("runs/pinn/beta~1/seed~0/epoch~3/model.pt", "pinn/beta~1/seed~0/epoch~3"),
    ],
)
def test_a_target_outside_the_config_is_refused_before_any_job(swept, target, unit):
    out = snakemake(swept, "-n", f"results/{target}", check=False)
    assert out.returncode != 0
    assert f"'{unit}' is not a run or checkpoint of the config" in out.stdout + out.stderr


@pytest.mark.parametrize(
    "target, message",
    [
        ("connectivity/pinn/beta~7/seed~1.json", "'pinn/beta~7/seed~1' is not a run of the config"),
        (
            "connectivity/pinn/beta~1/seed~0.json",
            "'pinn/beta~1/seed~0' is the setting's lowest seed: it has no path file",
        ),
    ],
)
def test_a_connectivity_target_outside_the_config_is_refused_before_any_job(swept, target, message):
    out = snakemake(swept, "-n", f"results/{target}", check=False)
    assert out.returncode != 0
    assert message in out.stdout + out.stderr


def test_changing_one_sweep_value_reruns_only_that_run_and_the_aggregate(swept, tmp_path):
    original = (swept / "sweep.yaml").read_text()
    try:
        write_config(swept, tiny_config(betas=(1, 20)))
        jobs = planned_jobs(swept)
    finally:
        (swept / "sweep.yaml").write_text(original)
    expected = {(rule, "pinn/beta~20/seed~0") for rule in STAGE_RULES | {"extract_checkpoint"}}
    expected |= {(rule, "pinn/beta~20/seed~0/epoch~1") for rule in UNIT_RULES}
    expected |= {(rule, "") for rule in SUMMARY_RULES | {"argument_file"}}  # new folder lists
    assert jobs == expected


def test_a_new_seed_adds_only_its_own_connectivity_pairs(swept):
    original = (swept / "sweep.yaml").read_text()
    try:
        write_config(swept, tiny_config(seeds=(0, 1)))
        out = snakemake(swept, "-n")
        jobs = planned_jobs(swept)
    finally:
        (swept / "sweep.yaml").write_text(original)
    pairs = set(re.findall(r"output: (\S*/connectivity/\S+\.json)", out.stdout + out.stderr))
    assert pairs == {f"results/connectivity/pinn/beta~{b}/seed~1.json" for b in (1, 30)}
    new_runs = {f"pinn/beta~{b}/seed~1" for b in (1, 30)}
    assert {run for _, run in jobs if run} == new_runs | {f"{run}/epoch~1" for run in new_runs}  # with checkpoints


def test_changing_a_fixed_training_value_retrains_every_run(swept):
    original = (swept / "sweep.yaml").read_text()
    config = tiny_config()
    config["families"]["pinn"]["params"]["lbfgs_steps"] += 1
    try:
        write_config(swept, config)
        jobs = planned_jobs(swept)
    finally:
        (swept / "sweep.yaml").write_text(original)
    assert {("train", "pinn/beta~1/seed~0"), ("train", "pinn/beta~30/seed~0")} <= jobs
    assert not any(run.startswith("unet") for _, run in jobs)


def test_changing_the_topology_threshold_reruns_topology_only(swept):
    original = (swept / "sweep.yaml").read_text()
    try:
        write_config(swept, tiny_config(topology={"graph": "freudenthal", "threshold": 0.05}))
        jobs = planned_jobs(swept)
    finally:
        (swept / "sweep.yaml").write_text(original)
    assert {rule for rule, _ in jobs} == {"topology"} | SUMMARY_RULES


def test_new_extra_spans_resample_only_the_final_models_of_that_family(swept):
    original = (swept / "sweep.yaml").read_text()
    config = tiny_config()
    config["families"]["pinn"]["landscape"]["extra_spans"] = [1.0, 2.0]
    try:
        write_config(swept, config)
        jobs = planned_jobs(swept)
    finally:
        (swept / "sweep.yaml").write_text(original)
    final = {"pinn/beta~1/seed~0", "pinn/beta~30/seed~0"}
    assert jobs == {(rule, run) for rule in ("sample", "topology") for run in final} | {
        (rule, "") for rule in SUMMARY_RULES
    }


def test_hessian_directions_feed_the_hessian_stage_and_rerun_it_when_they_change(swept):
    """With Hessian directions the Hessian job reads directions.npz (its top eigenpairs): switching to them
    reruns directions, Hessian, sampling and topology of every PINN unit; nothing else of the PINN."""
    original = (swept / "sweep.yaml").read_text()
    config = tiny_config()
    config["families"]["pinn"]["landscape"]["directions"] = "hessian"
    try:
        write_config(swept, config)
        jobs = planned_jobs(swept)
        out = snakemake(swept, "-n", "-p")
    finally:
        (swept / "sweep.yaml").write_text(original)
    units = {f"pinn/beta~{b}/seed~0{epoch}" for b in (1, 30) for epoch in ("", "/epoch~1")}
    assert jobs == {(rule, unit) for rule in UNIT_RULES for unit in units} | {(rule, "") for rule in SUMMARY_RULES}
    hessian = [line for line in (out.stdout + out.stderr).splitlines() if "losstopo hessian" in line]
    assert len(hessian) == 4 and all("--directions 'results/runs/pinn/" in line for line in hessian)


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"landscape": {"dim": 2, "resolution": 2, "span": 0.5}}, "landscape.resolution"),
        ({"landscape": {"dim": 2, "resolution": 7, "span": 0}}, "landscape.span"),
        ({"bogus_key": 1}, "bogus_key"),
        ({"hessian": {"top_k": 2.5}}, "config key 'hessian.top_k': 2.5 is not a whole number"),
        ({"results": "res{x}"}, "config key 'results': 'res{x}'"),
        ({"results": "pv/<logs>"}, "config key 'results': 'pv/<logs>' - a folder may not contain < or >"),
        (
            {"landscape": {"dim": 3, "resolution": 10001, "span": 0.5}},
            "the topology job would hold about 153 TiB",
        ),  # its extra span too
    ],
)
def test_bad_config_stops_before_any_job_with_the_key_named(tmp_path, bad, key):
    write_config(tmp_path, tiny_config(**bad))
    out = snakemake(tmp_path, check=False)
    assert out.returncode != 0
    assert key in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def test_killed_sweep_resumes_to_identical_results(swept, tmp_path):
    """Kill the sweep mid-way, resume with --rerun-incomplete: same landscapes, bit for bit."""
    write_config(tmp_path, tiny_config())
    cmd = [
        *SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path),
        "--configfile",
        str(tmp_path / "sweep.yaml"),
        "--cores",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first_model = tmp_path / "results" / "runs" / "pinn" / "beta~1" / "seed~0" / "model.pt"
    deadline = time.time() + 120
    while not first_model.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "results" / "tables" / "runs.csv").exists(), "sweep finished before it was killed"
    snakemake(tmp_path, "--unlock")  # a SIGKILLed Snakemake leaves its lock behind, as after a node failure
    snakemake(tmp_path, "--rerun-incomplete")
    for run in ("pinn/beta~1/seed~0", "pinn/beta~30/seed~0"):
        ours = load_npz(tmp_path / "results" / "runs" / run / "landscape.npz")["loss"]
        reference = load_npz(swept / "results" / "runs" / run / "landscape.npz")["loss"]
        np.testing.assert_array_equal(ours, reference)
    a = pd.read_csv(tmp_path / "results" / "tables" / "runs.csv").drop(columns=["run_dir"])
    b = pd.read_csv(swept / "results" / "tables" / "runs.csv").drop(columns=["run_dir"])
    pd.testing.assert_frame_equal(a, b)
