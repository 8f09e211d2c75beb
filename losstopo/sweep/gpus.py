"""Whether this machine shows a GPU at all, without importing torch (seconds, in every Snakemake process)."""

from __future__ import annotations

import glob
import os


def gpu_device_files() -> list[str]:
    """The GPU device files of this machine: NVIDIA's /dev/nvidia<N> and AMD ROCm's /dev/kfd. Torch finds
    no CUDA (or ROCm) device where there are none, so an empty list answers torch.cuda.is_available()."""
    return sorted(glob.glob("/dev/nvidia[0-9]*")) + (["/dev/kfd"] if os.path.exists("/dev/kfd") else [])
