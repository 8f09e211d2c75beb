"""Reading ``landscape.npz`` with its arrays checked against its own metadata (torch-free).

The sampling stage records the settings it used (``metadata["landscape"]``) and the number of points; a
file whose arrays do not fit them was cut short, replaced or written by another run, and every later stage
(topology, summaries, the explorer) would compute on it silently. docs/sampling.md lists the arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from losstopo.io import InputFileError, load_npz


def landscape_problems(data: dict[str, Any]) -> list[str]:
    """What the arrays of a landscape.npz (as :func:`losstopo.io.load_npz` returns it) get wrong against its
    ``metadata``: the loss shape (resolution,)*dim of a grid or (n_samples + 1,) of scattered samples, the
    axes (dim, resolution), the points (n_samples + 1, dim) and ``n_points``. A file without metadata (a
    landscape made by hand) has nothing to be checked against."""
    meta = data.get("metadata")
    settings = meta.get("landscape") if isinstance(meta, dict) else None
    if not isinstance(settings, dict):
        return []
    loss, problems = np.asarray(data["loss"]), []
    dim = int(settings.get("dim", 0))
    if settings.get("sampling", "grid") == "grid":
        r = int(settings.get("resolution", 0))
        if loss.shape != (r,) * dim:
            problems.append(f"'loss' has shape {loss.shape}, its metadata says a {r}^{dim} grid {(r,) * dim}")
        if "axes" in data and np.shape(data["axes"]) != (dim, r):
            problems.append(f"'axes' has shape {np.shape(data['axes'])}, its metadata says {(dim, r)}")
    else:
        n = int(settings.get("n_samples", 0)) + 1  # the origin and n_samples points
        if loss.shape != (n,):
            problems.append(f"'loss' has shape {loss.shape}, its metadata says {n} scattered samples {(n,)}")
        if "points" in data and np.shape(data["points"]) != (n, dim):
            problems.append(f"'points' has shape {np.shape(data['points'])}, its metadata says {(n, dim)}")
    if "n_points" in meta and int(meta["n_points"]) != loss.size:
        problems.append(f"'loss' has {loss.size} values, its metadata says n_points {meta['n_points']}")
    return problems


def load_landscape(path: str | os.PathLike, required: tuple[str, ...] = ("loss",)) -> dict[str, Any]:
    """A landscape.npz (every array, metadata as a dict) with at least ``required``, checked against its
    metadata (:func:`landscape_problems`); InputFileError naming the file for any problem."""
    data = load_npz(path, required=required)
    problems = landscape_problems(data)
    if problems:
        raise InputFileError(
            f"{Path(path)}: {'; '.join(problems)}: the file does not match the settings it records (cut short, "
            "or written by another run); rerun its sample job"
        )
    return data
