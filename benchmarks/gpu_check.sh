#!/usr/bin/env bash
# GPU check of landscape sampling: one prepared script, at most 8 minutes on one H200.
#
# Run from anywhere on the GPU machine (Python 3.12 with a CUDA build of torch already installed):
#     bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
# It prints BENCH lines for
#   1. PINN (4 x 50 tanh, 1000 collocation points) 41^2: ours (batched) vs the per-point loop vs landscaper, float32;
#   2. the same on 41^3 (the loop timed on 2 x 41^2 grid points and landscaper on the 41^2 plane, both projected);
#   3. ResNet-20 on 128 CIFAR-shaped synthetic images, 21^2: ours vs landscaper;
#   4. one 100,000-point shard of the 41^4 PINN landscape, with the projected time of the whole landscape;
#   5. peak GPU memory (one gpu_peak_memory line per benchmark process);
# then runs the CUDA tests (pytest -m cuda) and prints the goals: ours >= 30x the loop, whole 41^4 <= 20 s.
# Each of the five steps has its own time limit (STEP_LIMIT_S, 85 s), so the script ends within 8 minutes.
#
# The GPU machine has no internet. What it needs besides torch travels as wheels in a `.whl` folder at the
# repository root (git-ignored: copy it along with the checkout), prepared on a machine with internet with:
#     pip download -d .whl --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
#         numpy scipy pandas pyyaml jsonschema tqdm pytest pytest-timeout \
#         matplotlib scikit-learn "networkx<3" gudhi drawsvg coloraide treelib
#     pip download -d .whl --no-deps --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 landscaper==1.3.1 topopy==1.0.4 nglpy==1.1.7
# (the first line is what the benchmarks and the CUDA tests import, the second what landscaper's import
# needs; topopy and nglpy may come as source archives, which then need a compiler on the GPU machine).
# The script installs from `.whl` (pip --no-index) only when an import fails, and never touches torch.
# GPU_CHECK_WHEELS=DIR takes the wheels from DIR instead of `.whl`.
#
# Every comparison follows benchmarks/harness.py (same threads per side, interleaved rounds, median and
# spread; `ratio=refused` when the load average exceeds the cores, and then the goals are not judged).
#
# Test mode (tests/test_gpu_check.py): GPU_CHECK_DEVICE=cpu GPU_CHECK_TINY=1 runs the same steps on the
# CPU with tiny sizes; the BENCH lines then carry the tiny sizes in their names.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
LIMIT=${STEP_LIMIT_S:-85}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

WHEELS=${GPU_CHECK_WHEELS:-.whl}
WHL=(--quiet --no-index --find-links "$WHEELS")
if ! "$PY" -c "import numpy, pandas, yaml, jsonschema, tqdm, pytest" 2>/dev/null; then
    [ -d "$WHEELS" ] || { echo "gpu_check: python packages missing and no $WHEELS folder: see this script's header" >&2; exit 2; }
    "$PY" -m pip install "${WHL[@]}" numpy scipy pandas pyyaml jsonschema tqdm pytest pytest-timeout
fi
if ! "$PY" -c "import landscaper.compute" 2>/dev/null; then
    if [ -d "$WHEELS" ]; then
        "$PY" -m pip install "${WHL[@]}" matplotlib scikit-learn "networkx<3" gudhi drawsvg coloraide treelib
        "$PY" -m pip install "${WHL[@]}" --no-deps landscaper==1.3.1 topopy==1.0.4 nglpy==1.1.7
    else
        echo "gpu_check: landscaper is not installed and there is no $WHEELS folder: its sides are left out"
    fi
fi
if [ -n "${GPU_CHECK_TINY:-}" ]; then
    R=5 SHARD=100 STEPS=3 IMAGES=4 ROUNDS=1 TRAIN=3 SLOW=10
    HP='{"width": 8, "depth": 2, "n_collocation": 64, "n_initial": 16, "n_boundary": 8}'
else
    R=41 SHARD=100000 STEPS=21 IMAGES=128 ROUNDS=3 TRAIN=200 SLOW=3362
    HP='{}'
fi
"$PY" - "$DEVICE" <<'EOF'
import sys, torch
device = sys.argv[1]
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit(f"gpu_check: device {device} requested but torch {torch.__version__} sees no CUDA GPU")
name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
print(f"gpu_check: torch {torch.__version__}, device {device} ({name}), python {sys.version.split()[0]}")
EOF

step() {  # step NAME COMMAND... : run one step under the time limit, keep its output
    echo "# $1" | tee -a "$LOG"
    local rc=0
    timeout "$LIMIT" "${@:2}" 2>&1 | tee -a "$LOG" || rc=$?
    [ "$rc" -eq 0 ] || echo "gpu_check: step $1 failed (exit $rc; 124 = over ${LIMIT} s)" | tee -a "$LOG"
}
PINN=("$PY" benchmarks/bench_sampling.py --device "$DEVICE" --precision float32 --threads 1
      --rounds "$ROUNDS" --train-steps "$TRAIN" --hp "$HP" --resolution "$R")
step "PINN ${R}^2" "${PINN[@]}" --dim 2 --name "gpu_pinn_${R}x2"
step "PINN ${R}^3" "${PINN[@]}" --dim 3 --slow-points "$SLOW" --name "gpu_pinn_${R}x3"
step "ResNet-20 ${STEPS}^2" "$PY" benchmarks/bench_sampling_resnet.py --device "$DEVICE" --steps "$STEPS" \
    --images "$IMAGES" --rounds "$ROUNDS" --threads 1 --name "gpu_resnet20_${STEPS}x2"
step "PINN ${R}^4 shard" "${PINN[@]}" --dim 4 --shard-points "$SHARD" --name "gpu_pinn_${R}x4"
# only the test files that hold CUDA tests: the others may import packages the GPU machine lacks (vtk, ripser)
mapfile -t CUDA_TESTS < <(grep -l "pytest.mark.cuda" tests/test_*.py)
step "CUDA tests" "$PY" -m pytest -q -m cuda -p no:cacheprovider "${CUDA_TESTS[@]}"

echo "# summary"
grep '^BENCH ' "$LOG" || true
"$PY" - "$LOG" <<'EOF'
import re, sys
lines = [l.split() for l in open(sys.argv[1]) if l.startswith("BENCH ")]
fields = {l[1]: dict(kv.split("=", 1) for kv in l[2:] if "=" in kv) for l in lines}
loop = [v["ratio"] for k, v in fields.items() if re.fullmatch(r"gpu_pinn_\d+x[23]_loop", k)]
shard = {k.removeprefix("gpu_pinn_").replace("x", "^"): float(v["whole_projected"])
         for k, v in fields.items() if re.fullmatch(r"gpu_pinn_\d+x4", k)}
if "refused" in loop:
    print("GOAL batched >= 30x the per-point loop: not judged (ratio refused: load average above the cores)")
else:
    loop = [float(r) for r in loop]
    print(f"GOAL batched >= 30x the per-point loop: {'met' if loop and min(loop) >= 30 else 'missed'} (ratios {loop})")
print(f"GOAL whole PINN landscape <= 20 s: {'met' if shard and max(shard.values()) <= 20 else 'missed'} "
      f"(projected seconds {shard})")
EOF
if grep -q '^gpu_check: step' "$LOG"; then exit 1; fi
