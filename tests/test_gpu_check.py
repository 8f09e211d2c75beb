"""benchmarks/gpu_check.sh at tiny size on the CPU: every step runs and prints BENCH lines that parse."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu_at_tiny_size():
    env = os.environ | {"GPU_CHECK_DEVICE": "cpu", "GPU_CHECK_TINY": "1", "PYTHON": sys.executable,
                        "OMP_NUM_THREADS": "1", "STEP_LIMIT_S": "300"}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, capture_output=True,
                          text=True, timeout=800)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    summary = out[out.index("# summary"):]
    bench = {}
    for line in summary.splitlines():
        if line.startswith("BENCH "):
            name, *pairs = line.split()[1:]
            bench[name] = {k: float(v) for k, v in (p.split("=", 1) for p in pairs)}
    for grid in ("5x2", "5x3"):
        assert bench[f"gpu_pinn_{grid}_loop"]["ratio"] > 0 and bench[f"gpu_pinn_{grid}_generic"]["ratio"] > 0
        assert 0 < bench[f"gpu_pinn_{grid}_roofline"]["fraction"]
    assert bench["gpu_pinn_5x3_loop"]["loop_projected"] > 0  # the loop was timed on part of the 5^3 grid
    assert bench["gpu_pinn_5x4"]["points"] == 100 and bench["gpu_pinn_5x4"]["whole_projected"] > 0
    assert bench["gpu_resnet20_3x2"]["ours"] > 0
    assert re.search(r"^GOAL batched >= 30x the per-point loop: (met|missed)", summary, re.M)
    assert re.search(r"^GOAL whole PINN landscape <= 20 s: (met|missed)", summary, re.M)
    assert "gpu_check: step" not in out  # no step failed or ran over its limit
