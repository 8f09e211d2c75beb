"""Stage 2: the k directions in parameter space that span a landscape's subspace.

Random directions (Li et al. 2018): a seeded Gaussian vector per direction, filter-normalised, then
made mutually orthogonal. Hessian directions: the top-k eigenvectors from :mod:`losstopo.curvature.hessian`,
stored with their eigenvalues, residuals and Rayleigh quotients, which the Hessian stage can reuse.

The flat parameter order is ``model.named_parameters()``, each tensor flattened (C order) and
concatenated; ``directions.npz`` stores that layout so sampling can check it against the model.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from losstopo.device import resolve_device
from losstopo.io import InputFileError, load_npz, save_npz
from losstopo.trained import load_trained

log = logging.getLogger(__name__)

ORTHOGONALITY_TOL = 1e-10  # max |cos| between two stored directions


@dataclass(frozen=True)
class Layout:
    """Where each named parameter tensor sits in the flat vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]  # len(names) + 1; tensor i is flat[offsets[i]:offsets[i + 1]]

    @classmethod
    def of(cls, model: nn.Module) -> "Layout":
        named = list(model.named_parameters())
        sizes = [p.numel() for _, p in named]
        return cls(
            tuple(n for n, _ in named),
            tuple(tuple(p.shape) for _, p in named),
            tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])),
        )

    @property
    def size(self) -> int:
        return self.offsets[-1]

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of a flat (..., P) tensor as a parameter dict (leading batch dims kept)."""
        lead = flat.shape[:-1]
        return {
            n: flat[..., a:b].reshape(*lead, *s)
            for n, s, a, b in zip(self.names, self.shapes, self.offsets[:-1], self.offsets[1:])
        }


def flat_parameters(model: nn.Module, dtype=torch.float64) -> torch.Tensor:
    """The model's parameters as one flat vector (layout order), on their device."""
    return torch.cat([p.detach().reshape(-1).to(dtype) for p in model.parameters()])


def direction_seed(run_seed: int, seed: int) -> np.random.SeedSequence:
    """The random stream of a run's directions: a deterministic mix of the run seed and the direction seed."""
    return np.random.SeedSequence([int(seed), int(run_seed), 0xD14EC7])


def filter_ids(model: nn.Module, normalize_1d: bool) -> np.ndarray:
    """The filter of every entry of the flat parameter vector, (P,) int64; -1 where a tensor has no filters.

    A filter is an output channel (Li et al. 2018): the slice along dim 0 of a tensor with two or more
    dimensions (an output unit's row of ``Linear``, an output channel of ``Conv1d/2d/3d``, grouped or not,
    whose weight is (out, in / groups, *kernel)), except for the weight of a transposed convolution
    (``ConvTranspose1d/2d/3d``, (in, out / groups, *kernel)), whose output channel g * out / groups + j is
    the slice [g * in / groups : (g + 1) * in / groups, j]. Tensors with fewer than two dimensions (biases,
    norm scales) have no filters unless ``normalize_1d``; then each entry is its own filter.
    """
    transposed = {id(m.weight): m.groups for m in model.modules() if isinstance(m, nn.modules.conv._ConvTransposeNd)}
    out, start = [], 0
    for p in model.parameters():
        shape = tuple(p.shape)
        if len(shape) < 2:
            ids = np.arange(p.numel()) + start if normalize_1d else np.full(p.numel(), -1)
        else:
            if id(p) in transposed:
                n_in, per_group = shape[0], shape[1]
                group = np.arange(n_in)[:, None] // (n_in // transposed[id(p)])
                channel = group * per_group + np.arange(per_group)[None, :]  # (in, out / groups)
            else:
                channel = np.arange(shape[0])[:, None]
            ids = np.broadcast_to(channel.reshape(channel.shape + (1,) * (len(shape) - 2)), shape).reshape(-1) + start
        out.append(ids.astype(np.int64))
        start = int(ids.max()) + 1 if (ids >= 0).any() else start
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def filter_normalize(d: np.ndarray, theta: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Scale every filter of ``d`` to the norm of the same filter of ``theta`` (Li et al. 2018).

    ``filters`` (P,) gives each entry's filter (``filter_ids``); entries of filter -1 get a zero direction,
    and so do filters of ``theta`` that are all zero.
    """
    out = np.zeros_like(d)
    keep = filters >= 0
    ids, n = filters[keep], int(filters.max(initial=-1)) + 1
    d_norm = np.sqrt(np.bincount(ids, d[keep] ** 2, n))
    scale = np.divide(
        np.sqrt(np.bincount(ids, theta[keep] ** 2, n)), d_norm, out=np.zeros_like(d_norm), where=d_norm > 0
    )
    out[keep] = d[keep] * scale[ids]
    return out


def orthogonalize(directions: np.ndarray) -> np.ndarray:
    """Gram-Schmidt on the rows (two passes of modified GS), each row keeping its own norm.

    Rescaling a row after projecting keeps the filter-normalised size of the direction: in P
    dimensions random rows are already nearly orthogonal (|cos| ~ 1/sqrt(P)), so the projection
    changes each filter's norm by that order only. Raises ValueError if a row is (nearly) dependent
    on the previous ones.
    """
    out = np.array(directions, dtype=np.float64)
    for i in range(len(out)):
        norm = np.linalg.norm(out[i])
        for _ in range(2):
            for j in range(i):
                out[i] -= (out[i] @ out[j]) / (out[j] @ out[j]) * out[j]
        new = np.linalg.norm(out[i])
        if not new > 1e-8 * norm:
            raise ValueError(f"direction {i} is linearly dependent on the previous ones (norm {norm:g} -> {new:g})")
        out[i] *= norm / new
    return out


def max_abs_cosine(directions: np.ndarray) -> float:
    """Largest |cos angle| between two different rows: the orthogonality check."""
    norms = np.linalg.norm(directions, axis=1)
    gram = (directions @ directions.T) / np.outer(norms, norms)
    np.fill_diagonal(gram, 0.0)
    return float(np.abs(gram).max()) if len(directions) > 1 else 0.0


def random_directions(model: nn.Module, k: int, run_seed: int, seed: int = 0, normalize_1d: bool = False) -> np.ndarray:
    """k filter-normalised, mutually orthogonal Gaussian directions, (k, P) float64.

    Drawn with numpy from :func:`direction_seed`, so the result depends only on the seeds and the
    model, not on the device or torch version.
    """
    layout = Layout.of(model)
    theta = flat_parameters(model).cpu().numpy()
    if k < 1 or k > layout.size:
        raise ValueError(f"dim must be between 1 and the number of parameters ({layout.size}); got {k}")
    rng = np.random.default_rng(direction_seed(run_seed, seed))
    filters = filter_ids(model, normalize_1d)
    raw = np.stack([filter_normalize(rng.standard_normal(layout.size), theta, filters) for _ in range(k)])
    if not np.any(raw):
        raise ValueError(
            "every random direction is zero: the model has no filter (>= 2-D) parameters; set normalize_1d: true"
        )
    directions = orthogonalize(raw)
    cos = max_abs_cosine(directions)
    if cos > ORTHOGONALITY_TOL:
        raise ValueError(f"random directions not orthogonal after Gram-Schmidt (max |cos| {cos:.2e})")
    return directions


def compute_directions(
    family, model: nn.Module, hp: dict[str, Any], run_seed: int, landscape: dict[str, Any], device: torch.device
) -> dict[str, Any]:
    """Everything ``directions.npz`` holds, for one trained model and the landscape settings."""
    kind = landscape.get("directions", "random")
    k = int(landscape.get("dim", 2))
    seed = int(landscape.get("seed", 0))
    normalize_1d = bool(landscape.get("normalize_1d", False))
    layout = Layout.of(model)
    meta: dict[str, Any] = {
        "kind": kind,
        "dim": k,
        "seed": seed,
        "run_seed": int(run_seed),
        "normalize_1d": normalize_1d,
        "n_params": layout.size,
        "shapes": [list(s) for s in layout.shapes],
    }
    arrays: dict[str, Any] = {}
    if not torch.isfinite(flat_parameters(model)).all():
        meta["skipped_reason"] = "model parameters are not finite (diverged training)"
        log.warning("directions skipped: %s", meta["skipped_reason"])
        directions = np.full((k, layout.size), np.nan)
        if kind == "hessian":
            arrays["eigenvalues"] = np.full(k, np.nan)
    elif kind == "random":
        directions = random_directions(model, k, run_seed, seed, normalize_1d)
    elif kind == "hessian":
        from losstopo.curvature.hessian import direction_eigenpairs  # scipy.linalg: only this stage needs it

        objective = family.objective(model, hp, run_seed, device, torch.float64)
        combined = int(direction_seed(run_seed, seed).generate_state(1)[0])
        eigen = direction_eigenpairs(objective, k, seed=combined)
        directions = eigen.eigenvectors
        # everything the Hessian stage needs to take these pairs instead of computing them again
        arrays |= {"eigenvalues": eigen.eigenvalues, "residuals": eigen.residuals, "rayleigh": eigen.rayleigh}
        meta["eigenvalues"] = eigen.eigenvalues.tolist()
        meta["eigen"] = eigen.to_json()
    else:
        raise ValueError(f"landscape.directions must be 'random' or 'hessian', got {kind!r}")
    if "skipped_reason" not in meta:
        meta["max_abs_cosine"] = max_abs_cosine(directions)
    return {
        "directions": np.asarray(directions, dtype=np.float64),
        "names": np.array(layout.names),
        "offsets": np.array(layout.offsets, dtype=np.int64),
        **arrays,
        "metadata": meta,
    }


def load_directions(path: str | os.PathLike, model: nn.Module | None = None) -> dict[str, Any]:
    """Read ``directions.npz``; with ``model``, check that its layout matches (InputFileError naming the file)."""
    data = load_npz(path, required=("directions", "names", "offsets", "metadata"))
    d = data["directions"]
    if d.ndim != 2 or d.shape[1] != int(data["offsets"][-1]):
        raise InputFileError(f"{path}: 'directions' has shape {d.shape}, expected (k, {int(data['offsets'][-1])})")
    if model is not None:
        layout = Layout.of(model)
        stored = (tuple(map(str, data["names"])), tuple(tuple(s) for s in data["metadata"]["shapes"]))
        if stored != (layout.names, layout.shapes):
            raise InputFileError(
                f"{path}: parameter layout {list(zip(*stored))} does not match the model's "
                f"{list(zip(layout.names, layout.shapes))}"
            )
    return data


def main(args) -> int:
    """``losstopo directions``: write directions.npz for one trained run."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    device = resolve_device(args.device)
    family, model, hp, seed, _ = load_trained(args.run_dir, device)
    out = compute_directions(family, model, hp, seed, args.landscape, device)
    save_npz(args.out, **out)
    meta = out["metadata"]
    print(
        f"directions {args.run_dir}: {meta['kind']} k={meta['dim']} P={meta['n_params']} "
        f"{meta.get('skipped_reason') or 'max |cos| %.1e' % meta['max_abs_cosine']}",
        file=sys.stderr,
    )
    return 0
