"""Cost of building the workflow's DAG: `snakemake -n` of a 100-run and a 1,000-run sweep.

    python benchmarks/bench_dag.py [--runs 100 1000 ...] [--families pinn plugin plugin_imported]

Each sweep has one family (50 x 4 values of two hyperparameters x 5 seeds, Hessians on: 5.8 jobs per run,
train, directions, hessian, sample and topology, and 4 connectivity jobs per 5 seeds): ``pinn`` (beta x lr),
``plugin`` (the plug-in family of examples/sequence_cnn, signal x lr, its tables read from its source) or
``plugin_imported`` (the same module with a ``check`` function, so every Snakemake process imports it, and
torch). The config is written into a temporary folder (with the plug-in module beside it) that is also the
dry run's working directory, so nothing exists yet and every job is scheduled. The time is the CPU time
(user + system) of the snakemake child process, which the 2-core machine's other load does not inflate the
way it does wall time.
Prints ``BENCH dag_<runs> cpu=<s> wall=<s> jobs=<n>`` (``dag_<family>_<runs>`` for the plug-ins), and for
the largest sweep also ``ratio=<cpu / cpu of the smallest>`` (10 for a cost linear in the sweep's size).
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
PLUGIN = REPO / "examples" / "sequence_cnn" / "family.py"
SEEDS = 5
LRS = 4
FAMILIES = ("pinn", "plugin", "plugin_imported")
# the plug-in's first swept key (PINN: beta), and a check() that only importing the module can run
FIRST_KEY = {"pinn": "beta", "plugin": "signal", "plugin_imported": "signal"}
CHECK = "\n\ndef check(hp):\n    return []\n"


def sweep_config(runs: int, family: str = "pinn") -> dict:
    """A one-family sweep of exactly ``runs`` runs (a multiple of SEEDS * LRS): first key x lr x seed; a
    plug-in's module is ``family.py`` beside the config."""
    if runs % (SEEDS * LRS):
        raise ValueError(f"runs={runs}: must be a multiple of {SEEDS * LRS}")
    values = [float(b) for b in range(1, runs // (SEEDS * LRS) + 1)]
    block = {"seeds": list(range(SEEDS)), "sweep": {FIRST_KEY[family]: values, "lr": [0.1, 0.2, 0.5, 1.0][:LRS]}}
    if family != "pinn":
        block = {"module": "family.py", **block}
    return {"results": "results", "device": "cpu", "families": {"seqcnn" if family != "pinn" else "pinn": block}}


def dry_run(runs: int, family: str = "pinn") -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, jobs) of `snakemake -n` on a fresh ``runs``-run sweep of ``family``."""
    with tempfile.TemporaryDirectory(prefix="bench_dag_") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump(sweep_config(runs, family)))
        if family != "pinn":
            (Path(tmp) / "family.py").write_text(PLUGIN.read_text() + (CHECK if family == "plugin_imported" else ""))
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
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES), help="sweeps to time")
    args = parser.parse_args(argv)
    sizes = sorted(args.runs)
    first_cpu: dict[str, float] = {}
    for runs in sizes:
        for family in args.families:  # interleaved, so the machine's load weighs on each family alike
            cpu, wall, jobs = dry_run(runs, family)
            first_cpu.setdefault(family, cpu)
            ratio = f" ratio={cpu / first_cpu[family]:.1f}" if runs == sizes[-1] and len(sizes) > 1 else ""
            name = "dag" if family == "pinn" else f"dag_{family}"
            print(f"BENCH {name}_{runs} cpu={cpu:.2f} wall={wall:.2f} jobs={jobs}{ratio}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
