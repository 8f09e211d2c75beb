"""Device choice: concurrent jobs on a multi-GPU workstation get different GPUs (with a faked GPU count)."""

import subprocess
import sys
import textwrap

import pytest
import torch

from losstopo.device import resolve_device, resolve_dtype

CLAIM = textwrap.dedent("""
    import sys, time, torch
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: {n}
    from losstopo.device import resolve_device
    print(resolve_device("auto").index, flush=True)
    sys.stdin.readline()  # hold the GPU until told to exit
""")


def _job(n_gpus, env):
    return subprocess.Popen(
        [sys.executable, "-c", CLAIM.format(n=n_gpus)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_concurrent_jobs_get_distinct_gpus_and_release_them(tmp_path, monkeypatch):
    env = {**__import__("os").environ, "LOSSTOPO_GPU_LOCK_DIR": str(tmp_path)}
    jobs = [_job(3, env) for _ in range(3)]
    indices = [int(job.stdout.readline()) for job in jobs]
    assert sorted(indices) == [0, 1, 2]
    first = indices[0]
    jobs[0].communicate("\n")  # the first job ends: its GPU is free again
    late = _job(3, env)
    assert int(late.stdout.readline()) == first
    for job in [*jobs[1:], late]:
        job.communicate("\n")


def test_one_gpu_or_none_needs_no_claim(monkeypatch, tmp_path):
    monkeypatch.setenv("LOSSTOPO_GPU_LOCK_DIR", str(tmp_path))
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
    assert not list(tmp_path.iterdir())


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match="float16"):
        resolve_dtype("float16")
