"""Run every benchmark, each in its own process with the same fixed thread count, and print their BENCH lines.

    python benchmarks/run_all.py [--quick] [--threads N] [--only bench_topology.py ...]

Every comparison follows the protocol of ``harness.py``: each side runs with ``--threads`` threads (default 1),
in interleaved rounds, reported as median and spread, with the load average; no ratio is printed when the machine
is busier than its cores. The thread count reaches every process through ``LOSSTOPO_BENCH_THREADS`` and the
OpenMP / BLAS / numba variables (``harness.thread_environment``). ``--quick``: smaller sizes where a benchmark
offers them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from harness import thread_environment, usable_cores

HERE = Path(__file__).resolve().parent
BENCHMARKS = {  # script: extra arguments of its quick mode
    "bench_topology.py": ["--quick"],
    "bench_sampling.py": ["--resolution", "21"],
    "bench_hessian.py": ["--rounds", "3"],
    "bench_sampling_resnet.py": ["--quick"],
    "bench_explorer.py": ["--runs", "100"],
    "bench_dag.py": [],  # 100 and 1,000 runs in both modes: the 10x ratio is the point
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problem sizes")
    parser.add_argument("--threads", type=int, default=1, help="threads for every side of every comparison")
    parser.add_argument("--only", nargs="*", default=None, help="script names to run (default: all)")
    args = parser.parse_args()
    env = {**os.environ, **thread_environment(args.threads)}
    print(
        f"# {args.threads} thread(s) per side, {usable_cores()} usable cores, load average "
        f"{os.getloadavg()[0]:.1f} at start",
        flush=True,
    )
    lines, failed = [], []
    for script, quick_args in BENCHMARKS.items():
        if args.only and script not in args.only:
            continue
        cmd = [sys.executable, str(HERE / script), *(quick_args if args.quick else [])]
        print(f"# {' '.join(cmd[1:])}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        sys.stderr.write(proc.stderr)
        print(proc.stdout, end="", flush=True)
        lines += [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
        if proc.returncode != 0:
            failed.append(script)
    print("\n# summary")
    print("\n".join(lines))
    if failed:
        print(f"# failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
