"""`losstopo warm-cache` fills numba's on-disk cache with every cached kernel of the topology engine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # compiles the kernels from scratch: about 12 CPU-seconds


def cached_kernels() -> set[str]:
    """(module stem, function) of every cached kernel (``@cached_njit``) in losstopo/topology."""
    found = set()
    for path in (REPO / "losstopo" / "topology").glob("*.py"):
        found |= {(path.stem, name) for name in re.findall(r"@cached_njit\s*\ndef (\w+)", path.read_text())}
    return found


def test_warm_cache_compiles_every_cached_kernel(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "losstopo", "warm-cache"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"numba cache in {tmp_path}/" in out.stderr  # it says where it wrote
    # numba names each index <module>.<function>-<line>.py<version>.nbi, in a folder per source directory
    indexed = {(f.name.split(".")[0], f.name.split(".")[1].split("-")[0]) for f in tmp_path.rglob("*.nbi")}
    kernels = cached_kernels()
    assert len(kernels) > 10
    assert kernels <= indexed, sorted(kernels - indexed)
