"""Cost of building the workflow's DAG: `snakemake -n` of a 100-run and a 1,000-run sweep.

    python benchmarks/bench_dag.py [--runs 100 1000 ...]

Each sweep is PINN-only (beta x lr x 5 seeds, Hessians on: 5.8 jobs per run, train, directions,
hessian, sample and topology, and 4 connectivity jobs per 5 seeds), written as a config into a temporary folder
that is also the dry run's working directory, so
nothing exists yet and every job is scheduled. The time is the CPU time (user + system) of the
snakemake child process, which the 2-core machine's other load does not inflate the way it does wall
time.
Prints ``BENCH dag_<runs> cpu=<s> wall=<s> jobs=<n>``, and for the largest sweep also
``ratio=<cpu / cpu of the smallest>`` (10 for a cost linear in the sweep's size).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SEEDS = 5
LRS = 4


def sweep_config(runs: int) -> dict:
    """A PINN sweep of exactly ``runs`` runs (a multiple of SEEDS * LRS): beta x lr x seed."""
    if runs % (SEEDS * LRS):
        raise ValueError(f"runs={runs}: must be a multiple of {SEEDS * LRS}")
    betas = [float(b) for b in range(1, runs // (SEEDS * LRS) + 1)]
    return {
        "results": "results",
        "device": "cpu",
        "families": {"pinn": {"seeds": list(range(SEEDS)), "sweep": {"beta": betas, "lr": [0.1, 0.2, 0.5, 1.0][:LRS]}}},
    }


def dry_run(runs: int) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, jobs) of `snakemake -n` on a fresh ``runs``-run sweep."""
    with tempfile.TemporaryDirectory(prefix="bench_dag_") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump(sweep_config(runs)))
        cmd = [
            str(SNAKEMAKE),
            "-n",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            tmp,
            "--configfile",
            str(config),
            "--cores",
            "1",
            "--quiet",
            "rules",
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"dry run of {runs} runs failed:\n{proc.stdout}\n{proc.stderr}")
    jobs = _total_jobs(proc.stdout + proc.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, jobs


def _total_jobs(text: str) -> int:
    """The job count of snakemake's summary table ("total  <n>")."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    raise RuntimeError(f"no job count in the dry run's output:\n{text[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000], help="sweep sizes (multiples of 20)")
    args = parser.parse_args(argv)
    sizes = sorted(args.runs)
    first_cpu = None
    for runs in sizes:
        cpu, wall, jobs = dry_run(runs)
        first_cpu = first_cpu or cpu
        ratio = f" ratio={cpu / first_cpu:.1f}" if runs == sizes[-1] and len(sizes) > 1 else ""
        print(f"BENCH dag_{runs} cpu={cpu:.2f} wall={wall:.2f} jobs={jobs}{ratio}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
