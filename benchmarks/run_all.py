"""Run every benchmark and print their BENCH lines (each peer is measured in the same process as ours).

    python benchmarks/run_all.py            # full sizes (tens of minutes on 2 cores)
    python benchmarks/run_all.py --quick    # smaller sizes where a benchmark offers them
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {  # script: extra arguments of its quick mode
    "bench_topology.py": ["--quick"],
    "bench_sampling.py": ["--resolution", "21"],
    "bench_hessian.py": ["--repeat", "1"],
    "bench_sampling_resnet.py": ["--quick"],
    "bench_explorer.py": ["--runs", "100"],
    "bench_dag.py": [],  # 100 and 1,000 runs in both modes: the 10x ratio is the point
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problem sizes")
    parser.add_argument("--only", nargs="*", default=None, help="script names to run (default: all)")
    args = parser.parse_args()
    lines, failed = [], []
    for script, quick_args in BENCHMARKS.items():
        if args.only and script not in args.only:
            continue
        cmd = [sys.executable, str(HERE / script), *(quick_args if args.quick else [])]
        print(f"# {' '.join(cmd[1:])}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
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
