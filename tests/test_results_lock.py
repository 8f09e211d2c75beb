"""Field report 22.1: two sweeps on one results folder. Snakemake locks its working folder, not `results:`, which
two checkouts may share as an absolute path. The sweep's Snakemake process holds a lock on the results folder
from start to end; a second one stops at once with the folder named and how to release a stale lock. Tested
with two real Snakemake processes from two working folders on one results folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from workflow_helpers import REPO, SNAKEMAKE, TINY_PINN, snakemake, write_config

from losstopo.sweep.lock import ResultsLock, ResultsLocked


def _config(results) -> dict:
    return {
        "results": str(results),
        "families": {"pinn": {"seeds": [0], "sweep": {"beta": [1, 30]}, "params": TINY_PINN}},
    }


def _holder_pid(lock_file) -> int | None:
    try:
        return json.loads(lock_file.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.slow  # two tiny trainings and four Snakemake starts
def test_a_second_sweep_on_the_same_results_folder_stops_at_once(tmp_path):
    shared = tmp_path / "group" / "results"
    first, second = tmp_path / "clone_a", tmp_path / "clone_b"
    for workdir in (first, second):
        workdir.mkdir()
        write_config(workdir, _config(shared))
    lock_file = shared / "logs" / "sweep.lock"
    model = shared / "runs" / "pinn" / "beta~1" / "seed~0" / "model.pt"
    other = shared / "runs" / "pinn" / "beta~30" / "seed~0" / "model.pt"
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(first), "--configfile", str(first / "sweep.yaml")]
    a = subprocess.Popen(
        [*cmd, "--cores", "1", str(model)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while _holder_pid(lock_file) != a.pid:  # A has started its sweep and holds the folder
            assert a.poll() is None and time.monotonic() < deadline, "the first sweep never took the lock"
            time.sleep(0.05)
        os.killpg(a.pid, signal.SIGSTOP)  # hold it there: a stopped process keeps its lock

        assert snakemake(second, str(other), "-n").returncode == 0  # a dry run writes nothing and takes no lock
        out = snakemake(second, str(other), check=False)
        message = " ".join((out.stdout + out.stderr).split())
        assert out.returncode != 0
        assert f"the results folder {shared} is in use by another sweep" in message
        assert f"locked by process {a.pid} on " in message and f"Snakemake run from {first}" in message
        assert f"remove {lock_file} to release it" in message
        assert not other.exists() and not (shared / "logs" / "pinn" / "beta~30").exists()  # no job ran

        os.killpg(a.pid, signal.SIGKILL)  # a sweep killed outright: its lock goes with it
        a.wait()
        assert _holder_pid(lock_file) == a.pid  # the file still names it, but nobody holds the lock
        snakemake(second, str(other))
        assert other.is_file() and lock_file.read_text() == ""  # released (and emptied) when B ended
    finally:
        if a.poll() is None:
            os.killpg(a.pid, signal.SIGKILL)
            a.wait()


def test_the_lock_names_its_holder_and_ends_with_it(tmp_path):
    """The lock itself, without Snakemake: another process holds it, then dies."""
    holder = subprocess.Popen(
        [
            *SNAKEMAKE[:1],
            "-c",
            "import sys, time\nfrom losstopo.sweep.lock import ResultsLock\n"
            "ResultsLock(sys.argv[1]).acquire()\nprint('held', flush=True)\ntime.sleep(120)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ResultsLocked, match=f"locked by process {holder.pid} on "):
            ResultsLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = ResultsLock(tmp_path)
    assert lock.acquire() and json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()
    assert lock.path.read_text() == ""
