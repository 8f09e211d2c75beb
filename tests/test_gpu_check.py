"""benchmarks/gpu_check.sh at tiny size on the CPU: every step runs and prints BENCH lines that parse, the goals
are judged, the wheel-folder install is called when landscaper is missing, and the step time cap stops a step.

landscaper is hidden (an import that fails) and ``python -m pip`` is a stub that records its arguments, as on a
machine without landscaper but with a wheel folder: the run is the same with or without landscaper installed
here, and nothing is installed."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_check(tmp_path: Path, limit: str) -> tuple[subprocess.CompletedProcess, Path]:
    shim = tmp_path / "shim"
    (shim / "landscaper").mkdir(parents=True)
    (shim / "landscaper" / "__init__.py").write_text('raise ImportError("hidden by tests/test_gpu_check.py")\n')
    (shim / "pip").mkdir()
    (shim / "pip" / "__init__.py").write_text("")
    pip_log = tmp_path / "pip.log"
    (shim / "pip" / "__main__.py").write_text(
        f"import sys\nwith open({str(pip_log)!r}, 'a') as f:\n    f.write(' '.join(sys.argv[1:]) + '\\n')\n"
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    env = os.environ | {
        "GPU_CHECK_DEVICE": "cpu",
        "GPU_CHECK_TINY": "1",
        "PYTHON": sys.executable,
        "OMP_NUM_THREADS": "1",
        "STEP_LIMIT_S": limit,
        "GPU_CHECK_WHEELS": str(wheels),
        "PYTHONPATH": str(shim),
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    return proc, pip_log


def bench_fields(summary: str) -> dict[str, dict[str, str]]:
    """BENCH name -> its key=value fields (free text such as the per-round range left out)."""
    lines = [line.split() for line in summary.splitlines() if line.startswith("BENCH ")]
    return {name: dict(p.split("=", 1) for p in pairs if "=" in p) for _, name, *pairs in lines}


def ratio_or_refused(line: str, fields: dict[str, str], key: str) -> None:
    if fields[key] == "refused":
        assert "(no ratio: load average" in line
    else:
        assert float(fields[key]) > 0


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu_at_tiny_size(tmp_path):
    proc, pip_log = run_check(tmp_path, "120")
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    installs = pip_log.read_text().splitlines()  # landscaper missing and a wheel folder: install from it, offline
    wheels = f"--no-index --find-links {tmp_path / 'wheels'}"
    assert len(installs) == 2 and all(wheels in line for line in installs)
    assert installs[1].endswith("--no-deps landscaper==1.3.1 topopy==1.0.4 nglpy==1.1.7")
    assert "landscaper cannot be imported" in out  # the install was a stub: its sides are left out
    summary = out[out.index("# summary") :]
    bench = bench_fields(summary)
    lines = {line.split()[1]: line for line in summary.splitlines() if line.startswith("BENCH ")}
    assert set(bench) == {f"gpu_pinn_5x{k}_{s}" for k in (2, 3) for s in ("loop", "generic", "roofline")} | {
        "gpu_pinn_5x4",
        "gpu_resnet20_3x2",
    }
    for grid in ("5x2", "5x3"):
        for peer, key in (("loop", "ratio"), ("generic", "ratio"), ("roofline", "fraction")):
            name = f"gpu_pinn_{grid}_{peer}"
            assert float(bench[name]["ours"]) > 0 and bench[name]["rounds"] == "1" and bench[name]["threads"] == "1"
            ratio_or_refused(lines[name], bench[name], key)
    assert bench["gpu_pinn_5x3_loop"]["projected"] == "loop*12.5"  # timed on 10 of the 125 points
    assert "projected" not in bench["gpu_pinn_5x2_loop"]
    assert bench["gpu_pinn_5x4"]["points"] == "100" and float(bench["gpu_pinn_5x4"]["whole_projected"]) > 0
    assert float(bench["gpu_resnet20_3x2"]["ours"]) > 0 and "ratio" not in bench["gpu_resnet20_3x2"]
    loop_refused = "refused" in (bench["gpu_pinn_5x2_loop"]["ratio"], bench["gpu_pinn_5x3_loop"]["ratio"])
    goal = "not judged" if loop_refused else "(met|missed)"
    assert re.search(rf"^GOAL batched >= 30x the per-point loop: {goal}", summary, re.M)
    assert re.search(r"^GOAL whole PINN landscape <= 20 s: (met|missed)", summary, re.M)
    assert "gpu_check: step" not in out  # no step failed or ran over its limit


def test_gpu_check_stops_a_step_at_its_time_limit(tmp_path):
    proc, _ = run_check(tmp_path, "0.1")  # no step gets past importing torch in 0.1 s
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:] + proc.stderr[-3000:]
    for step in ("PINN 5^2", "PINN 5^3", "ResNet-20 3^2", "PINN 5^4 shard", "CUDA tests"):
        assert f"gpu_check: step {step} failed (exit 124; 124 = over 0.1 s)" in out
    assert "GOAL batched >= 30x the per-point loop: missed (ratios [])" in out
    assert "GOAL whole PINN landscape <= 20 s: missed (projected seconds {})" in out
