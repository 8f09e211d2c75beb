"""Device and dtype resolution shared by every torch stage, so "auto" means the same thing everywhere.

On a workstation with several GPUs, concurrent jobs each claim one GPU of their own: Snakemake's
``gpu`` resource (profiles/default) caps how many GPU jobs run at once, and :func:`claim_gpu` gives each
job a different device through a per-GPU lock file that the OS releases when the job's process ends,
also when it crashes. Under Slurm every job sees only its own GPU, so there is nothing to choose.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}
LOCK_DIR_ENV = "LOSSTOPO_GPU_LOCK_DIR"
_claimed: dict[str, object] = {}  # the open lock file of this process's GPU: held until the process exits


def gpu_lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"losstopo-gpu-locks-{os.getuid()}")


def claim_gpu(n_devices: int) -> int:
    """Index of a GPU no other losstopo process holds; this process keeps it until it exits.

    With every GPU taken (more concurrent GPU jobs than GPUs, i.e. no Snakemake gpu limit), the
    process shares the GPU chosen by its process id rather than failing.
    """
    if "index" in _claimed:
        return int(_claimed["index"])
    lock_dir = gpu_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index in range(n_devices):
        handle = open(lock_dir / f"gpu{index}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claimed.update(index=index, handle=handle)
        return index
    return os.getpid() % n_devices


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when a GPU is visible, else the CPU; anything else is passed to torch.

    A bare ``"cuda"`` (or ``"auto"`` on a GPU machine) with several visible GPUs becomes the GPU this
    process claimed (:func:`claim_gpu`), so concurrent jobs do not pile onto ``cuda:0``.
    """
    if isinstance(spec, torch.device):
        return spec
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda" and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        return torch.device("cuda", claim_gpu(torch.cuda.device_count()))
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {spec!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available")
    return device


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"float64"`` (or a torch dtype) to the torch dtype; a ValueError names the choices."""
    if isinstance(name, torch.dtype):
        return name
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}; expected one of {', '.join(DTYPES)}") from None
