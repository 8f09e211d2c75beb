"""The plug-in example (examples/sequence_cnn) through the real Snakefile: a tiny sweep of a family that lives
outside the package, end to end; rerun-on-change of its module; an import failure stopped before any job."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_helpers import planned_jobs, snakemake, write_config

from losstopo.sweep.outputs import figure_files, findings_figure_files
from losstopo.sweep.plugin import RESERVED, read_table

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sequence_cnn"
RUN_IDS = [f"seqcnn/kernel_size~{k}/seed~{s}" for k in (3, 9) for s in (0, 1)]
PERFORMANCE = {"auc": "higher", "brier": "lower", "test_loss": "lower"}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example's sweep as a user runs it, from a copy of its folder (family.py beside the config)."""
    workdir = tmp_path_factory.mktemp("example")
    shutil.copy(EXAMPLE / "family.py", workdir / "family.py")
    shutil.copy(EXAMPLE / "config.yaml", workdir / "sweep.yaml")
    snakemake(workdir)
    return workdir


def test_the_example_family_runs_end_to_end(example):
    results = example / "results" / "sequence_cnn"  # the config's results: folder
    runs = pd.read_csv(results / "tables" / "runs.csv")
    assert sorted(runs["run_id"]) == sorted(RUN_IDS) and (runs["status"] == "ok").all()
    assert runs["auc"].between(0, 1).all() and runs["brier"].between(0, 1).all() and (runs["test_loss"] > 0).all()
    assert (runs["n_minima"] >= 1).all() and runs["hessian_top_eigenvalue"].notna().all()
    # every column the workflow writes itself carries a name a family may not take (losstopo.sweep.plugin)
    own = set(runs.columns) - {"kernel_size"} - set(PERFORMANCE)
    assert not [column for column in own if not RESERVED.match(column)]
    run = json.loads((results / "runs" / RUN_IDS[0] / "run.json").read_text())
    assert run["performance"] == PERFORMANCE and run["family_module"] == str(example / "family.py")
    assert run["family_code"] == read_table("seqcnn", str(example / "family.py")).code_hash
    figures = figure_files({"seqcnn": ["kernel_size"]}, with_hessian=["seqcnn"])
    figures += findings_figure_files({"seqcnn": ["kernel_size"]}) + ["seqcnn/profiles.png"]
    for name in figures:
        assert (results / "figures" / name).stat().st_size > 1000, name
    assert len(pd.read_csv(results / "tables" / "connectivity.csv")) == 2  # one pair of seeds per kernel size
    findings = (results / "findings.md").read_text()
    assert "**seqcnn**: 4 runs (4 ok); swept kernel_size ∈ {3, 9}" in findings and "headline metric auc" in findings
    assert "fewer minima" in findings  # the generic check against the headline metric
    assert "pinn" not in findings.lower()  # no section about a family the sweep does not have
    page = (results / "explorer.html").read_text()
    assert '"auc"' in page and "seqcnn/kernel_size~9/seed~1" in page


def test_editing_the_module_reruns_its_trainings_unless_only_comments_change(example):
    """A comment-only edit or a moved module (the config following it) plans nothing; a code edit retrains
    every run of the family and reruns everything downstream, as a changed parameter does."""
    module, config = example / "family.py", example / "sweep.yaml"
    original, original_config = module.read_text(), config.read_text()
    try:
        module.write_text("# a note on the model\n" + original.replace("\n\n\n", "\n\n\n\n"))
        assert planned_jobs(example) == set()
        (example / "moved").mkdir()
        module.rename(example / "moved" / "family.py")
        config.write_text(original_config.replace("module: family.py", "module: moved/family.py"))
        assert planned_jobs(example) == set()
        (example / "moved" / "family.py").rename(module)
        config.write_text(original_config)
        module.write_text(original.replace("PULSE_WIDTH = 3.0", "PULSE_WIDTH = 2.0"))
        jobs = planned_jobs(example)
    finally:
        module.write_text(original)
        config.write_text(original_config)
    per_run = {(rule, run) for run in RUN_IDS for rule in ("train", "directions", "hessian", "sample", "topology")}
    connectivity = {("connectivity", ""), ("connectivity_table", "")}
    summaries = {"aggregate", "figures", "findings_tables", "findings_figures", "findings_report", "profile_grid"}
    summaries |= {"distances", "invariance", "explorer", "all"}
    assert jobs == per_run | connectivity | {(rule, "") for rule in summaries}


def test_a_module_that_fails_to_import_stops_the_sweep_before_any_job(tmp_path):
    """Its tables are literals, so the DAG is built without importing it; the import is tried once before the
    first job, and its traceback is shown once, with the config key."""
    text = (EXAMPLE / "family.py").read_text().replace("import torch\n", "import torch\nimport not_installed_xyz\n", 1)
    (tmp_path / "family.py").write_text(text)
    config = yaml.safe_load((EXAMPLE / "config.yaml").read_text())
    write_config(tmp_path, config)
    out = snakemake(tmp_path, check=False)
    message = out.stdout + out.stderr
    assert out.returncode != 0
    assert f"config key 'families.seqcnn.module': {tmp_path / 'family.py'} failed to import" in message
    assert message.count("ModuleNotFoundError: No module named 'not_installed_xyz'") == 1
    assert not (tmp_path / "results" / "runs").exists()
