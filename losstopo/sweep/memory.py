"""Peak memory of the per-unit jobs, estimated from the settings before anything runs (torch-free).

The largest arrays of a landscape's jobs grow with its number of points, which the config fixes: the
sample job holds the loss at every point it evaluates (a shard's, with ``landscape.shard_points``), the
topology job (``losstopo topology``, then ``losstopo profile``; the invariance job recomputes the same per
landscape) a dozen arrays per grid sample, or per scattered sample and neighbour of its k-NN graph, and the
Hessian job the density's broadening matrix (``hessian.density.n_grid`` x Ritz nodes). The bytes per point
are peak resident memory measured on the stage commands (docs/cluster.md, "Memory"), rounded up; arrays
that grow with the model (directions, Lanczos bases) are not estimated here.
"""

from __future__ import annotations

from typing import Any

from losstopo.sweep.shards import shard_count

MB = 2**20
BASE_BYTES = 512 * MB  # a stage process before its arrays: Python, numpy, torch or numba, the model (measured ~250 MB)
SAMPLE_BYTES = 16  # per point a sample job evaluates: its loss (float64) and chunk coordinates
POINT_BYTES = 16  # per coordinate of a scattered point (the points and their generator's copy)
GRID_BYTES = 160  # per grid sample in the topology job: measured up to 120 (2-D noise, losstopo profile)
SCATTER_BYTES = 256  # per scattered sample in the topology job, plus NEIGHBOUR_BYTES per neighbour: measured 239 + 42 k
NEIGHBOUR_BYTES = 48
DENSITY_BYTES = 24  # per density grid point and Ritz node: the broadening matrix and two temporaries
GAP_BYTES = 16  # per pair of Ritz nodes: the spectral density figure's distance matrix and its mask


def size_text(n_bytes: float) -> str:
    """``n_bytes`` in binary units, as numpy's allocation errors write them: ``7.28 TiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.3g} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def stage_memory(
    landscape: dict[str, Any], knn: int | None, hessian: dict[str, Any]
) -> dict[str, tuple[float, str, str]]:
    """``{job: (bytes, the key that sizes it, how)}`` at the peak of the sample, topology and (when
    enabled) Hessian jobs of one unit, for full (defaults filled in) landscape and hessian blocks and
    ``topology.knn`` (None: 4 x dim)."""
    dim = int(landscape["dim"])
    out: dict[str, tuple[float, str, str]] = {}
    if landscape["sampling"] == "grid":
        n = float(landscape["resolution"]) ** dim
        per_job = n if shard_count(landscape) == 1 else float(landscape["shard_points"])
        shards = "" if per_job == n else f" (a shard of landscape.shard_points {landscape['shard_points']})"
        # landscape.extra_spans: both jobs also hold the further spans' losses (float64), one grid each
        extra = len(landscape.get("extra_spans", []))
        spans = f", plus {extra} extra span grid(s) at 8 bytes" if extra else ""
        out["sample"] = (
            BASE_BYTES + SAMPLE_BYTES * per_job + 8 * extra * n,
            "resolution",
            f"{per_job:.3g} points{shards} at {SAMPLE_BYTES} bytes{spans}",
        )
        out["topology"] = (
            BASE_BYTES + GRID_BYTES * n + 8 * extra * n,
            "resolution",
            f"a {landscape['resolution']}^{dim} grid, {n:.3g} samples at {GRID_BYTES} bytes{spans}",
        )
    else:
        n = float(landscape["n_samples"]) + 1
        k = knn or 4 * dim
        out["sample"] = (
            BASE_BYTES + (SAMPLE_BYTES + POINT_BYTES * dim) * n,
            "n_samples",
            f"{n:.3g} points in {dim} dimensions",
        )
        out["topology"] = (
            BASE_BYTES + (SCATTER_BYTES + NEIGHBOUR_BYTES * k) * n,
            "n_samples",
            f"{n:.3g} samples with k = {k} neighbours at {SCATTER_BYTES} + {NEIGHBOUR_BYTES} k bytes",
        )
    if hessian["enabled"]:
        density = hessian["density"]
        nodes = float(density["n_probes"]) * density["lanczos_steps"]
        out["hessian"] = (
            BASE_BYTES + DENSITY_BYTES * density["n_grid"] * nodes + GAP_BYTES * nodes**2,
            "density",
            f"{density['n_grid']} grid points x {nodes:.3g} Ritz nodes (n_probes x lanczos_steps)",
        )
    return out


def memory_problems(
    landscape: dict[str, Any], knn: int | None, hessian: dict[str, Any], mem_mb: int, prefix: str
) -> list[str]:
    """A problem naming the key for every job of :func:`stage_memory` that would not fit in ``mem_mb``
    (``resources.mem_mb``: what the job asks for, on its first attempt); ``prefix`` is the family's
    config key (``families.pinn``)."""
    problems = []
    for job, (need, key, how) in stage_memory(landscape, knn, hessian).items():
        if need > mem_mb * MB:
            block = "hessian" if job == "hessian" else "landscape"
            problems.append(
                f"config key '{prefix}.{block}.{key}': the {job} job would hold about {size_text(need)} ({how}, "
                f"plus {size_text(BASE_BYTES)} for the process), more than resources.mem_mb = {mem_mb} MB; "
                f"lower {block}.{key}"
                + (" (or set landscape.shard_points)" if job == "sample" else "")
                + " or raise resources.mem_mb (the memory each sample, topology, Hessian and invariance job asks for)"
            )
    return problems
