"""profiles/slurm against a real one-node Slurm (Debian's slurm-wlm and munge, installed and started here as
root; skipped with the reason elsewhere): every cluster job goes through sbatch into the profile's partition,
the torch stages get a GPU allocation, the results equal a local run, and a job that fails once is resubmitted
with more memory and time. Also what the two profiles render to, which needs no Slurm."""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from slurm.local_cluster import LocalSlurm, SlurmUnavailable, install
from snakemake.profiles import ProfileConfigFileParser
from workflow_helpers import REPO, SNAKEMAKE, tiny_config, write_config

from losstopo.io import load_npz

PROFILE = REPO / "profiles" / "slurm"
RETRY_SNAKEFILE = REPO / "tests" / "slurm" / "retry" / "Snakefile"
# The profile waits 20 s before polling Slurm and backs off from there; these jobs take seconds.
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1")
CLUSTER_RULES = Counter({"train": 1, "directions": 1, "hessian": 1, "sample": 1, "topology": 1})
GPU_RULES = {"train", "directions", "hessian", "sample", "sample_shard"}
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
RUN = "pinn/beta~30/seed~0"
LIGHT_GROUP = "unit_light"  # the topology jobs (with the profile), eight units to a cluster job
# The plugin's options the profile may set: its ExecutorSettings fields, as --slurm-<field> / slurm-<field>.
PLUGIN_KEYS = {
    "slurm-" + f.name.replace("_", "-")
    for f in dataclasses.fields(importlib.import_module("snakemake_executor_plugin_slurm").ExecutorSettings)
} - {"slurm-no-account"}
TARGET = "results/tables/runs.csv"  # every cluster job and the aggregate; the figures are local rules only

pytestmark = pytest.mark.slow


# ---- what the profiles render to (no Slurm needed)


def render(profile: str, monkeypatch, argv=("snakemake",), **env) -> dict:
    for key in [k for k in os.environ if k.startswith("LOSSTOPO_") or k == "CUDA_VISIBLE_DEVICES"]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", list(argv))
    with open(REPO / "profiles" / profile / "config.yaml") as stream:
        return ProfileConfigFileParser().parse(stream)


def test_slurm_profile_takes_site_settings_from_the_environment(monkeypatch):
    bare = render("slurm", monkeypatch)
    assert bare["executor"] == "slurm" and bare["slurm-status-command"] == "squeue"
    assert bare["group-components"] == [f"{LIGHT_GROUP}=8"]
    assert not [key for key in bare if key.startswith("slurm-") and key not in PLUGIN_KEYS], bare
    assert bare["default-resources"] == ["mem_mb=2000 * attempt", "runtime=60 * attempt"]
    assert sorted(bare["set-resources"]) == [f"{rule}:gpu=1" for rule in sorted(GPU_RULES)]
    site = render(
        "slurm",
        monkeypatch,
        LOSSTOPO_PARTITION="all",
        LOSSTOPO_ACCOUNT="proj7",
        LOSSTOPO_MEM_MB="3000",
        LOSSTOPO_RUNTIME="30",
        LOSSTOPO_CPUS_PER_TASK="4",
        LOSSTOPO_GPU_MODEL="a100",
    )
    # Quoted, so a partition named like a Python builtin ("all") stays a string.
    assert site["default-resources"] == [
        "mem_mb=3000 * attempt",
        "runtime=30 * attempt",
        "cpus_per_task=4",
        "slurm_partition='all'",
        "slurm_account='proj7'",
    ]
    assert "sample:gpu_model='a100'" in site["set-resources"]
    # A GPU type with '-', which the plugin rejects as gpu_model, goes in as a node constraint (sbatch -C).
    featured = render("slurm", monkeypatch, LOSSTOPO_GPU_CONSTRAINT="a100-80gb")
    assert "train:constraint='a100-80gb'" in featured["set-resources"]
    with pytest.raises(Exception, match="LOSSTOPO_GPU_MODEL='a100-80gb'.*letters, digits"):
        render("slurm", monkeypatch, LOSSTOPO_GPU_MODEL="a100-80gb")
    cpu_only = render("slurm", monkeypatch, LOSSTOPO_GPUS="0", LOSSTOPO_GPU_MODEL="a100")
    assert sorted(cpu_only["set-resources"]) == [f"{rule}:gpu=0" for rule in sorted(GPU_RULES)]


def test_default_profile_limits_gpu_jobs_to_the_visible_gpus_but_not_under_slurm(monkeypatch):
    assert render("default", monkeypatch, CUDA_VISIBLE_DEVICES="0,1")["resources"] == ["gpu=2"]
    assert "resources" not in render("default", monkeypatch, CUDA_VISIBLE_DEVICES="")
    for argv in (["snakemake", "--profile", "profiles/slurm"], ["snakemake", "--executor", "slurm-jobstep"]):
        assert "resources" not in render("default", monkeypatch, argv=argv, CUDA_VISIBLE_DEVICES="0,1")


# ---- a real Slurm


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        install()
        local = LocalSlurm(tmp_path_factory.mktemp("slurm"))
        local.start()
    except SlurmUnavailable as exc:
        if os.environ.get("LOSSTOPO_REQUIRE_SLURM") == "1":
            pytest.fail(f"LOSSTOPO_REQUIRE_SLURM=1 but Slurm cannot run here: {exc}")
        pytest.skip(f"Slurm cannot run here: {exc}")
    yield local
    local.stop()


def submit(cluster: LocalSlurm, workdir: Path, snakefile: Path, *args: str) -> str:
    """Snakemake through profiles/slurm, with only the test's own LOSSTOPO_* settings; its log text."""
    env = {k: v for k, v in cluster.env.items() if not k.startswith("LOSSTOPO_")}
    env.update(LOSSTOPO_PARTITION=cluster.partition, PYTHONUNBUFFERED="1")
    cmd = [
        *SNAKEMAKE,
        "-s",
        str(snakefile),
        "-d",
        str(workdir),
        "--profile",
        str(PROFILE),
        "--cores",
        "1",
        *FAST_POLL,
        "--slurm-keep-successful-logs",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=480)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"snakemake failed ({result.returncode}):\n{log[-6000:]}\n{cluster.log_tails()}"
    return log


def rule_of(job: dict[str, str]) -> str:
    """The rule named in the comment the Slurm executor gives each job: rule_<name>[_wildcards_<values>], for a
    group job rule_<group>_<its rules>."""
    name = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", job["Comment"]).group(1)
    return name.removeprefix(f"{LIGHT_GROUP}_")


def one_run_config() -> dict:
    """The tests' tiny config cut to one PINN run: each cluster job starts Snakemake twice (batch script, then
    srun), so every job costs seconds on a 2-core machine."""
    config = tiny_config(betas=(30,))
    config["families"] = {"pinn": config["families"]["pinn"]}
    del config["families"]["pinn"]["checkpoints"]
    return config


@pytest.fixture(scope="module")
def sweeps(cluster, tmp_path_factory):
    """The tiny sweep through Slurm, and the same config run locally meanwhile (the cluster mostly waits)."""
    on_slurm, local = tmp_path_factory.mktemp("on_slurm"), tmp_path_factory.mktemp("local")
    for workdir in (on_slurm, local):
        write_config(workdir, one_run_config())
    local_cmd = [
        *SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(local),
        "--configfile",
        str(local / "sweep.yaml"),
        "--cores",
        "1",
        TARGET,
    ]
    local_run = subprocess.Popen(local_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log = submit(cluster, on_slurm, REPO / "Snakefile", TARGET, "--configfile", str(on_slurm / "sweep.yaml"))
    finally:
        local_out = local_run.communicate(timeout=480)[0]
    assert local_run.returncode == 0, f"local run failed:\n{local_out[-6000:]}"
    submitted = SUBMITTED.findall(log)
    jobs = {job_id: cluster.job(job_id) for job_id, _ in submitted}
    return {"workdir": on_slurm, "local": local, "log": log, "jobs": jobs, "slurm_logs": [p for _, p in submitted]}


def test_every_cluster_job_went_through_sbatch_into_the_profiles_partition(sweeps, cluster):
    jobs = sweeps["jobs"]
    assert Counter(rule_of(job) for job in jobs.values()) == CLUSTER_RULES, sweeps["log"][-4000:]
    for job_id, job in jobs.items():
        assert job["JobState"] == "COMPLETED", job
        assert job["Partition"] == cluster.partition, job  # LOSSTOPO_PARTITION, not the cluster's default
    for path in sweeps[
        "slurm_logs"
    ]:  # rule_<rule>/<wildcards, / as _>/<jobid>.log or group_<group>_<rules>/<jobid>.log
        assert Path(path).is_file() and re.search(
            r"\.snakemake/slurm_logs/(rule_\w+/pinn_beta~30_seed~0|"
            rf"group_{LIGHT_GROUP}_topology)/\d+\.log$",
            path,
        ), path
    # aggregate is a local rule: it ran here, not through sbatch.
    assert (sweeps["workdir"] / TARGET).is_file()


def test_torch_stages_were_allocated_a_gpu_and_topology_was_not(sweeps):
    for job in sweeps["jobs"].values():
        gpus = job.get("TresPerJob", "")
        assert (gpus == "gres:gpu:1") == (rule_of(job) in GPU_RULES), (rule_of(job), gpus)


def test_cluster_results_equal_the_local_run(sweeps):
    ours = pd.read_csv(sweeps["workdir"] / TARGET).select_dtypes("number")
    reference = pd.read_csv(sweeps["local"] / TARGET).select_dtypes("number")
    assert len(ours.columns) >= 5 and len(ours) == 1
    pd.testing.assert_frame_equal(ours, reference)
    a = load_npz(sweeps["workdir"] / "results" / "runs" / RUN / "landscape.npz")["loss"]
    b = load_npz(sweeps["local"] / "results" / "runs" / RUN / "landscape.npz")["loss"]
    resolution = one_run_config()["landscape"]["resolution"]
    assert a.shape == (resolution, resolution)
    np.testing.assert_array_equal(a, b)


def test_a_job_failing_once_is_resubmitted_with_more_memory_and_time(cluster, tmp_path):
    log = submit(cluster, tmp_path, RETRY_SNAKEFILE)
    assert (tmp_path / "done.txt").read_text().strip() == "ok"
    job_ids = [job_id for job_id, _ in SUBMITTED.findall(log)]
    attempts = (tmp_path / "attempts.txt").read_text().splitlines()
    assert attempts == [
        f"attempt=1 mem_mb=2000 runtime=60 job={job_ids[0]}",
        f"attempt=2 mem_mb=4000 runtime=120 job={job_ids[1]}",
    ]
    first, second = (cluster.job(job_id) for job_id in job_ids)
    # What Slurm was asked for, not just what Snakemake meant to ask.
    assert (first["JobState"], first["MinMemoryNode"], first["TimeLimit"]) == ("FAILED", "2000M", "01:00:00")
    assert (second["JobState"], second["MinMemoryNode"], second["TimeLimit"]) == ("COMPLETED", "4000M", "02:00:00")
