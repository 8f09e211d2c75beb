"""Field report 22.7: before any training, validation estimates each job's largest arrays and refuses a config
that cannot fit in the memory the job asks for (resources.mem_mb), naming the key, the estimate, the limit and
the setting that lifts it; the estimates are checked against the peak memory of the real stage commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from losstopo.io import save_npz
from losstopo.sweep.config import ConfigError, validate_config
from losstopo.sweep.memory import stage_memory

REPO = Path(__file__).resolve().parents[1]


def _config(**extra) -> dict:
    return {"families": {"pinn": {"seeds": [0]}}, **extra}


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return str(info.value)


def test_the_field_report_config_is_refused_before_any_training():
    message = _error(_config(landscape={"dim": 3, "resolution": 10001}))
    assert "config key 'families.pinn.landscape.resolution': the topology job would hold about 146 TiB" in message
    assert "the sample job would hold about 14.6 TiB" in message  # 1e12 float64 losses: numpy's 7.28 TiB, doubled
    assert "more than resources.mem_mb = 8000 MB" in message and "raise resources.mem_mb" in message


def test_raising_the_jobs_memory_lifts_the_limit():
    big = {"dim": 2, "resolution": 10001}
    assert "the topology job would hold about 15.4 GiB" in _error(_config(landscape=big))
    assert validate_config(_config(landscape=big, resources={"mem_mb": 20000}))["resources"]["mem_mb"] == 20000
    assert validate_config(_config())["resources"]["mem_mb"] == 8000  # the rules' mem_mb before the key existed


@pytest.mark.parametrize(
    "extra, key, words",
    [
        ({"landscape": {"sampling": "sobol", "n_samples": 10**8}}, "landscape.n_samples", "k = 8 neighbours"),
        (
            {"landscape": {"sampling": "random", "n_samples": 10**7}, "topology": {"knn": 200}},
            "landscape.n_samples",
            "k = 200 neighbours",
        ),
        ({"hessian": {"density": {"n_grid": 10**6, "n_probes": 100}}}, "hessian.density", "Ritz nodes"),
    ],
)
def test_scattered_samples_and_the_hessian_density_are_guarded_too(extra, key, words):
    message = _error(_config(**extra))
    assert f"config key 'families.pinn.{key}'" in message and words in message, message


def test_a_family_without_the_hessian_stage_is_not_charged_for_it():
    dense = {"density": {"n_grid": 10**6, "n_probes": 100}}
    config = {"families": {"pinn": {"seeds": [0], "hessian": {"enabled": False}}}, "hessian": dense}
    assert validate_config(config)


def test_a_sharded_sample_job_holds_its_shard():
    hessian = {"enabled": False}
    grid = {"sampling": "grid", "dim": 4, "resolution": 41, "shard_points": None}
    whole = stage_memory(grid, None, hessian)
    sharded = stage_memory({**grid, "shard_points": 262144}, None, hessian)
    assert whole["topology"] == sharded["topology"] and sharded["sample"][0] < whole["sample"][0]
    assert "a shard of landscape.shard_points 262144" in sharded["sample"][2]


def _peak_kib(*commands: list[str]) -> int:
    """Peak resident memory (KiB) of the largest of ``commands``, run one after the other as a job does."""
    probe = (
        "import resource, subprocess, sys\n"
        "for cmd in sys.argv[1:]:\n"
        "    subprocess.run(cmd.split('\\x1f'), check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    argv = ["\x1f".join(cmd) for cmd in commands]
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, cwd=REPO, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.slow  # one topology and profile of a million samples: about 6 CPU-seconds
def test_the_topology_estimate_covers_the_measured_peak_of_the_job(tmp_path):
    """The independent reference: ru_maxrss of `losstopo topology` then `losstopo profile` (as the topology
    rule runs them) on a 1000 x 1000 grid of noise (the most nodes per sample). The estimate must cover it
    without claiming more than three times it."""
    r = 1000
    meta = {"landscape": {"sampling": "grid", "dim": 2, "resolution": r}, "n_points": r * r}
    landscape = tmp_path / "landscape.npz"
    axes = np.tile(np.linspace(-1, 1, r), (2, 1))
    save_npz(landscape, loss=np.random.default_rng(0).standard_normal((r, r)), axes=axes, metadata=meta)
    python = [sys.executable, "-m", "losstopo"]
    peak = 1024 * _peak_kib(
        [*python, "topology", str(landscape), "--out-dir", str(tmp_path / "t")],
        [*python, "profile", "--topology-dir", str(tmp_path / "t"), "--landscape", str(landscape)]
        + ["--out-svg", str(tmp_path / "p.svg"), "--out-png", str(tmp_path / "p.png"), "--scale", "linear"],
    )
    hessian = {"enabled": False}
    estimate = stage_memory({"sampling": "grid", "dim": 2, "resolution": r, "shard_points": None}, None, hessian)
    assert peak <= estimate["topology"][0] <= 3 * peak, (peak / 2**20, estimate["topology"][0] / 2**20)


def test_extra_spans_are_charged_to_the_sample_and_topology_jobs():
    from losstopo.sweep.memory import stage_memory
    from losstopo.sweep.schema import landscape_defaults

    grid = landscape_defaults() | {"dim": 3, "resolution": 101, "span": 0.5}
    hessian = {"enabled": False}
    alone, wider = stage_memory(grid, None, hessian), stage_memory(grid | {"extra_spans": [0.2, 1.0]}, None, hessian)
    for job in ("sample", "topology"):
        assert wider[job][0] - alone[job][0] == 2 * 8 * 101**3 and "2 extra span grid(s)" in wider[job][2]
