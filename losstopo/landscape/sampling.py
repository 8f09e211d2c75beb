"""Stage 3 (the hot path): the loss on a k-dimensional grid around a trained model.

Grid point a = (a_1, ..., a_k) has parameters theta_0 + sum_i a_i d_i. A chunk of B points is built
with one matrix product, Theta = theta_0 + A D with A (B, k) and D (k, P), split into a batched
parameter dict and evaluated at once with ``torch.vmap`` over ``Objective.loss_fn``, or with the
family's own ``Objective.batched_loss_fn`` where it supplies one (the PINN's fused tanh network). A
plain loop (write each vector into the model, call the loss) is the reference and the fallback for
models vmap cannot batch. See docs/sampling.md.

``landscape.extra_spans`` samples the same grid (directions, resolution) at further spans in the same
process; landscape.npz then also holds ``extra_spans`` (m,) and ``extra_loss`` (m, r, ..., r), whose
topology the topology stage adds to topology.json (docs/sampling.md).

``landscape.sampling`` ``random`` or ``sobol`` evaluates scattered points instead (``losstopo.landscape.scatter``:
the origin plus ``n_samples`` points in [-span, span]^k); their landscape.npz holds ``loss`` (N,) and
``points`` (N, k), and the topology stage builds a k-NN graph on them (docs/profile.md).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from losstopo.device import resolve_device, resolve_dtype
from losstopo.io import InputFileError, load_npz, save_npz
from losstopo.landscape.directions import Layout, flat_parameters, load_directions
from losstopo.landscape.scatter import SAMPLINGS, scatter_points
from losstopo.objective import Objective
from losstopo.progress import Progress
from losstopo.sweep.config import validate_block
from losstopo.sweep.schema import landscape_defaults
from losstopo.sweep.shards import shard_count
from losstopo.trained import load_trained

log = logging.getLogger(__name__)

# the landscape keys this stage fills with their schema defaults when a caller leaves them out
SAMPLING_KEYS = ("resolution", "span", "extra_spans", "precision", "batch_size", "method", "sampling", "n_samples")
METHODS = ("batched", "loop")
WARN_POINTS = 10_000_000
CPU_BUDGET_BYTES = 32 * 2**20  # cache-scale chunks (measured fastest at one thread); fixed, so reproducible
GPU_FREE_FRACTION = 0.5
MAX_BATCH = 65536
FALLBACK_BYTES_PER_EVAL = 64 * 2**20  # for objectives that give no "bytes_per_eval" hint


def grid_axes(dim: int, resolution: int, span: float) -> np.ndarray:
    """(dim, resolution) coordinates: ``resolution`` points from -span to span, symmetric, 0 exact at the centre."""
    if int(resolution) < 3:
        raise ValueError(f"landscape.resolution must be at least 3, got {resolution}")
    if not (span > 0 and math.isfinite(span)):
        raise ValueError(f"landscape.span must be a positive number, got {span}")
    if int(dim) < 1:
        raise ValueError(f"landscape.dim must be at least 1, got {dim}")
    half = (int(resolution) - 1) / 2
    axis = span * (np.arange(int(resolution)) - half) / half
    return np.tile(axis, (int(dim), 1))


def grid_points(axes: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Coordinates (stop - start, k) of the grid points with C-order flat indices start..stop-1."""
    idx = np.unravel_index(np.arange(start, stop), tuple(a.size for a in axes))
    return np.stack([axes[i][j] for i, j in enumerate(idx)], axis=1)


def auto_batch_size(objective: Objective, n_params: int, device: torch.device, dtype: torch.dtype) -> int:
    """Grid points per vectorised call: a memory budget divided by the memory of one evaluation.

    The budget is half the free GPU memory on CUDA, and the fixed CPU_BUDGET_BYTES on the CPU. An objective
    without ``metadata["bytes_per_eval"]`` is taken to need FALLBACK_BYTES_PER_EVAL per evaluation (batch 1 on
    a CPU), with a logged warning that names the missing hint and ``landscape.batch_size``.
    """
    hint = objective.metadata.get("bytes_per_eval")
    per_point = int(FALLBACK_BYTES_PER_EVAL if hint is None else hint)
    per_point += 2 * n_params * torch.finfo(dtype).bits // 8  # the parameter vector and its unflattened view
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = GPU_FREE_FRACTION * free
    else:
        budget = CPU_BUDGET_BYTES
    batch = int(min(MAX_BATCH, max(1, budget // per_point)))
    if hint is None:  # no silent cliff: a small model sized as a large one is evaluated almost point by point
        log.warning(
            "the objective gives no metadata['bytes_per_eval'] (the memory of one evaluation): batches sized for "
            "%d MiB per evaluation, batch %d; give it in the family's objective() (docs/families.md) or set "
            "landscape.batch_size",
            FALLBACK_BYTES_PER_EVAL // 2**20,
            batch,
        )
    return batch


@dataclass
class SampleResult:
    """The flat losses (C order) and how they were computed."""

    loss: np.ndarray  # (n,) float64
    method: str  # "batched", "loop" or "loop (vmap failed: ...)"
    batch_size: int
    wall_s: float


class _Evaluator:
    """Loss at flat grid coordinates around the objective's model, batched or one by one."""

    def __init__(self, objective: Objective, directions: np.ndarray):
        self.objective = objective
        params = list(objective.model.parameters())
        self.device, self.dtype = params[0].device, params[0].dtype
        self.layout = Layout.of(objective.model)
        self.theta0 = flat_parameters(objective.model, self.dtype)
        if directions.shape != (directions.shape[0], self.layout.size):
            raise ValueError(f"directions have shape {directions.shape}, the model has {self.layout.size} parameters")
        self.directions = torch.as_tensor(directions, dtype=self.dtype, device=self.device)
        self.batched_loss = objective.batched_loss_fn or torch.vmap(objective.loss_fn)

    def thetas(self, coords: np.ndarray) -> torch.Tensor:
        a = torch.as_tensor(coords, dtype=self.dtype, device=self.device)
        return torch.addmm(self.theta0, a, self.directions)  # theta_0 + A D, (B, P)

    def batched(self, coords: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            values = self.batched_loss(self.layout.unflatten(self.thetas(coords)))
        return values.to(torch.float64).cpu().numpy()

    def loop(self, coords: np.ndarray) -> np.ndarray:
        """The reference: write each point's vector into the model and call the plain loss."""
        params = list(self.objective.model.parameters())
        out = np.empty(len(coords))
        try:
            with torch.no_grad():
                for i, theta in enumerate(self.thetas(coords)):
                    torch.nn.utils.vector_to_parameters(theta, params)
                    out[i] = float(self.objective.loss_of_model())
        finally:
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(self.theta0.clone(), params)
        return out


def sample(
    objective: Objective,
    directions: np.ndarray,
    axes: np.ndarray | None,
    *,
    points: np.ndarray | None = None,
    batch_size: int | str = "auto",
    method: str = "batched",
    progress: bool = True,
    index_range: tuple[int, int] | None = None,
    block: int | None = None,
) -> SampleResult:
    """The loss at every point of the grid ``axes`` (k, r), flat in C order, in the objective's precision;
    with ``axes=None``, at the rows of ``points`` (N, k) instead.

    ``index_range = (lo, hi)`` evaluates only the grid points with flat indices lo..hi-1 (one shard).
    Chunks are laid out in the *whole* grid's index space (:func:`chunk_end`): at multiples of the batch
    size counted from the start of each ``block`` of grid points (``landscape.shard_points``; the whole grid
    when None), so a shard (one block) computes exactly the chunks, and hence the bits, that a run over the
    whole grid with the same settings computes, whatever the block and batch sizes.

    ``directions`` is (k, P) in ``model.named_parameters()`` order. The loss values are returned in
    float64 whatever the precision. A non-deterministic objective (a module in training mode such as
    dropout, or randomness) is a ValueError (``Objective.check_deterministic``), whatever the method.
    With ``method="batched"`` a failure of ``torch.vmap`` on the first chunk switches to the loop
    (reported in ``SampleResult.method``), except a random operation under vmap (ValueError); CUDA
    out-of-memory halves the chunk and retries.
    """
    if method not in METHODS:
        raise ValueError(f"landscape.method must be one of {', '.join(METHODS)}, got {method!r}")
    directions = np.asarray(directions)
    if axes is None:
        lo = 0
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != len(directions):
            raise ValueError(
                f"points have shape {points.shape}; expected (N, {len(directions)}), one column per direction"
            )
        n = len(points)
        coords_of = points.__getitem__
    else:
        axes = np.asarray(axes, dtype=np.float64)
        if axes.ndim != 2 or len(axes) != len(directions):
            raise ValueError(f"axes have shape {axes.shape}; expected ({len(directions)}, r), one row per direction")
        n_grid = int(np.prod([a.size for a in axes]))
        lo, hi = index_range if index_range is not None else (0, n_grid)
        if not 0 <= lo < hi <= n_grid:
            raise ValueError(f"index range {(lo, hi)} is not inside the grid's {n_grid} points")
        n = hi - lo
        coords_of = lambda chunk: grid_points(axes, lo + chunk.start, lo + chunk.stop)  # noqa: E731
    ev = _Evaluator(objective, directions)
    objective.check_deterministic()
    if n > WARN_POINTS:
        log.warning("sampling %d grid points (more than %d): this will take long", n, WARN_POINTS)
    if batch_size == "auto":
        batch_size = auto_batch_size(objective, ev.layout.size, ev.device, ev.dtype)
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"landscape.batch_size must be 'auto' or a positive integer, got {batch_size}")
    out = np.empty(n)
    used, looping = method, method == "loop"
    start_time = time.perf_counter()
    with Progress(n, "sample", unit="pt", enabled=progress) as bar:
        start = 0
        while start < n:
            stop = min(n, chunk_end(lo + start, batch_size, block) - lo)
            coords = coords_of(slice(start, stop))
            if looping:
                out[start:stop] = ev.loop(coords)
            else:
                try:
                    out[start:stop] = ev.batched(coords)
                except torch.OutOfMemoryError:
                    if batch_size == 1:
                        raise
                    batch_size = max(1, batch_size // 2)
                    log.warning("CUDA out of memory: retrying with batch_size %d", batch_size)
                    torch.cuda.empty_cache()
                    continue
                except Exception as exc:  # noqa: BLE001 -- any vmap failure: fall back to the reference loop
                    if "randomness" in str(exc):  # vmap's randomness="error" mode: a random op in the loss
                        raise ValueError(
                            f"the objective is not deterministic: it calls a random operation ({exc})"
                        ) from None
                    if start > 0:
                        raise
                    used, looping = f"loop (vmap failed: {type(exc).__name__}: {exc})", True
                    log.warning("torch.vmap cannot batch this objective (%s); using the per-point loop", exc)
                    continue
            bar.update(stop - start)
            start = stop
    return SampleResult(out, used, batch_size, time.perf_counter() - start_time)


def sample_landscape(
    objective: Objective,
    directions: np.ndarray,
    resolution: int,
    span: float,
    *,
    batch_size: int | str = "auto",
    method: str = "batched",
    progress: bool = True,
) -> np.ndarray:
    """The loss on an r^k grid over [-span, span]^k as an array of shape (r,)*k (float64).

    The objective's model fixes the centre, device and precision (build it with
    ``family.objective(model, hp, seed, device, dtype)``).
    """
    axes = grid_axes(len(directions), resolution, span)
    result = sample(objective, directions, axes, batch_size=batch_size, method=method, progress=progress)
    return result.loss.reshape((int(resolution),) * len(directions))


def resolve_settings(landscape: dict[str, Any], k: int) -> dict[str, Any]:
    """The landscape settings with the sampling keys' defaults (the config schema's) filled in; ``dim``
    must match the directions."""
    defaults = landscape_defaults()
    settings = {key: defaults[key] for key in SAMPLING_KEYS} | dict(landscape)
    dim = int(settings.setdefault("dim", k))
    if dim != k:
        raise ValueError(f"landscape.dim is {dim} but the directions file holds {k} directions")
    if settings["sampling"] not in SAMPLINGS:
        raise ValueError(f"landscape.sampling must be one of {', '.join(SAMPLINGS)}, got {settings['sampling']!r}")
    resolve_dtype(settings["precision"])
    return settings


def chunk_end(index: int, batch: int, block: int | None = None) -> int:
    """The end (exclusive flat index) of the chunk that starts at grid point ``index``: chunks start at
    multiples of ``batch`` counted from the start of the ``block`` of grid points holding ``index``, and
    never cross into the next block. Each block (shard) then costs ceil(block / batch) vectorised calls
    for any block size: a prime ``shard_points`` no longer forces the batch down to 1 (which made a shard
    of 10007 points about 166 times slower than one of 10008)."""
    if not block:
        return (index // batch + 1) * batch
    start = index - index % block
    return min(start + block, start + ((index - start) // batch + 1) * batch)


def run_sampling(
    run_dir,
    directions_path,
    landscape: dict[str, Any],
    out,
    device="auto",
    progress: bool = True,
    shard: int | None = None,
) -> dict[str, Any]:
    """Sample one run's landscape and write ``out`` (landscape.npz); returns its metadata.

    With ``shard = i`` only the i-th block of ``landscape.shard_points`` grid points is evaluated and
    ``out`` is a shard file (``loss`` flat, ``index_range``) for :func:`gather_shards`. The settings are
    checked as the config's landscape block first (a ConfigError naming the key). With
    ``landscape["extra_spans"]`` the same grid is also sampled at each of those spans (``extra_spans``,
    ``extra_loss`` in ``out``); a ConfigError, before any evaluation, for scattered samples or a sharded
    grid, a ValueError for a shard job.
    """
    landscape = validate_block("landscape", landscape)
    device = resolve_device(device)
    family, model, hp, seed, train_info = load_trained(run_dir, device)
    dirs = load_directions(directions_path, model)
    settings = resolve_settings(landscape, len(dirs["directions"]))
    dtype = resolve_dtype(settings["precision"])
    r, k = int(settings["resolution"]), settings["dim"]
    extra_spans = [float(s) for s in settings["extra_spans"]]  # checked: positive, on an unsharded grid
    if extra_spans and shard is not None:
        raise ValueError(f"landscape.extra_spans {extra_spans} are sampled by the landscape's one job, not a shard job")
    if settings["sampling"] == "grid":
        axes, points, shape = grid_axes(k, r, float(settings["span"])), None, (r,) * k
        where = {"axes": axes}
    else:  # scattered: seeded by the landscape seed and the run's seed, like random directions
        points = scatter_points(
            int(settings["n_samples"]),
            k,
            float(settings["span"]),
            settings["sampling"],
            seed=[int(settings.get("seed", 0)), int(seed)],
        )
        axes, shape = None, (len(points),)
        where = {"points": points}
    n_points = int(np.prod(shape))
    index_range = None
    if shard is not None:
        if not 0 <= shard < shard_count(settings):
            raise ValueError(f"shard {shard} does not exist: the landscape has {shard_count(settings)} shard(s)")
        size = int(settings["shard_points"])
        index_range = (shard * size, min(n_points, (shard + 1) * size))
        shape = (index_range[1] - index_range[0],)
        where["index_range"] = np.array(index_range)
    meta: dict[str, Any] = {
        "family": train_info.get("family"),
        "seed": seed,
        "hp": hp,
        "landscape": settings,
        "directions": dirs["metadata"],
        "train_status": train_info.get("status"),
        "device": str(device),
        "torch_version": torch.__version__,
        "n_points": n_points,
    }
    skip = dirs["metadata"].get("skipped_reason")
    if skip is None and not torch.isfinite(flat_parameters(model)).all():
        skip = "model parameters are not finite (diverged training)"
    extra = {"extra_spans": np.array(extra_spans)} if extra_spans else {}
    if skip is not None:
        log.warning("skipping %s: %s", run_dir, skip)
        meta["skipped_reason"] = skip
        if extra_spans:
            extra["extra_loss"] = np.full((len(extra_spans), *shape), np.nan)
        save_npz(out, loss=np.full(shape, np.nan), **where, center_loss=np.float64(np.nan), metadata=meta, **extra)
        return meta
    objective = family.objective(model, hp, seed, device, dtype)
    with torch.no_grad():
        center = float(objective.loss_of_model())
    batch = settings["batch_size"]
    if batch == "auto":
        batch = auto_batch_size(objective, sum(p.numel() for p in model.parameters()), device, dtype)
    result = sample(
        objective,
        dirs["directions"],
        axes,
        points=points,
        batch_size=int(batch),
        method=settings["method"],
        progress=progress,
        index_range=index_range,
        block=settings.get("shard_points") if axes is not None else None,
    )
    meta |= {
        "eval_set": objective.metadata,
        "method": result.method,
        "batch_size": result.batch_size,
        "wall_time_s": result.wall_s,
        "points_per_s": result.loss.size / max(result.wall_s, 1e-12),
    }
    if extra_spans:  # the same grid at further spans: the same directions, resolution and chunks
        spans = [
            sample(
                objective,
                dirs["directions"],
                grid_axes(k, r, span),
                batch_size=batch,
                method=settings["method"],
                progress=progress,
            )
            for span in extra_spans
        ]
        extra["extra_loss"] = np.stack([part.loss.reshape(shape) for part in spans])
        meta["extra_spans_wall_time_s"] = [part.wall_s for part in spans]
    save_npz(out, loss=result.loss.reshape(shape), **where, center_loss=np.float64(center), metadata=meta, **extra)
    return meta


def gather_shards(shard_paths: list, out) -> dict[str, Any]:
    """Join shard files into the landscape.npz an unsharded run writes; they must tile the grid exactly."""
    shards = sorted(
        (load_npz(p, required=("loss", "axes", "index_range", "metadata")) | {"path": p} for p in shard_paths),
        key=lambda s: int(s["index_range"][0]),
    )
    axes = shards[0]["axes"]
    n_points = int(np.prod([a.size for a in axes]))
    expected = 0
    for part in shards:
        lo, hi = map(int, part["index_range"])
        if lo != expected or hi - lo != part["loss"].size or not np.array_equal(part["axes"], axes):
            raise InputFileError(
                f"{part['path']}: covers points {lo}..{hi - 1} of a grid of {n_points}, "
                f"expected to start at {expected} with the same axes as {shards[0]['path']}"
            )
        expected = hi
    if expected != n_points:
        raise InputFileError(f"shards cover {expected} of {n_points} grid points: some shard files are missing")
    meta = dict(shards[0]["metadata"])
    skipped = [s["metadata"]["skipped_reason"] for s in shards if "skipped_reason" in s["metadata"]]
    if skipped:
        meta["skipped_reason"] = skipped[0]
    wall = sum(s["metadata"].get("wall_time_s", 0.0) for s in shards)
    meta |= {"shards": len(shards), "wall_time_s": wall, "points_per_s": n_points / max(wall, 1e-12)}
    loss = np.concatenate([s["loss"] for s in shards]).reshape((axes.shape[1],) * len(axes))
    save_npz(out, loss=loss, axes=axes, center_loss=shards[0]["center_loss"], metadata=meta)
    return meta


def main(args) -> int:
    """``losstopo sample``: one landscape.npz."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    meta = run_sampling(args.run_dir, args.directions, args.landscape, args.out, args.device, shard=args.shard)
    if "skipped_reason" in meta:
        print(f"sample {args.run_dir}: skipped ({meta['skipped_reason']})", file=sys.stderr)
    else:
        print(
            f"sample {args.run_dir}: {meta['n_points']} points, {meta['method']}, batch {meta['batch_size']}, "
            f"{meta['wall_time_s']:.2f} s ({meta['points_per_s']:.0f} points/s)"
            + "".join(
                f"; span {span:g}: {wall:.2f} s"
                for span, wall in zip(meta["landscape"]["extra_spans"], meta.get("extra_spans_wall_time_s", []))
            ),
            file=sys.stderr,
        )
    return 0


def gather_main(args) -> int:
    """``losstopo gather``: one landscape.npz from the shard files of a sharded grid."""
    meta = gather_shards(args.shards, args.out)
    print(f"gather: {len(args.shards)} shards -> {args.out} ({meta['n_points']} points)", file=sys.stderr)
    return 0
