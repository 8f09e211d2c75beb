"""Stage 2: the k directions in parameter space that span a landscape's subspace.

Random directions (Li et al. 2018): a seeded Gaussian vector per direction, filter-normalised, then
made mutually orthogonal. Hessian directions: the top-k eigenvectors from :mod:`losstopo.curvature.hessian`,
stored with their eigenvalues, residuals and Rayleigh quotients, which the Hessian stage can reuse.
Trajectory directions (Li et al. 2018): the top-k principal components of the parameters along training
(:mod:`losstopo.landscape.trajectory`), with the training path projected on them.

The flat parameter order is ``model.named_parameters()``, each tensor flattened (C order) and
concatenated; ``directions.npz`` stores that layout so sampling can check it against the model.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from losstopo.device import resolve_device
from losstopo.io import InputFileError, load_npz, save_npz
from losstopo.landscape.trajectory import load_trajectory, pca_directions
from losstopo.sweep.config import validate_block
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


KINDS = ("random", "hessian", "trajectory")


@dataclass
class Directions:
    """k directions in parameter space and what they are.

    ``vectors`` (k, P) float64 in the flat layout; ``metadata``: kind, dim, seed, run_seed, normalize_1d,
    n_params, shapes, max_abs_cosine, and per kind the eigenvalues (Hessian) or the explained variance
    ratio, training path and its epochs (trajectory), as ``directions.npz`` and ``landscape.npz`` record them
    (Hessian directions also the Lanczos report ``eigen``); ``arrays``: the same per-kind values as arrays
    (``eigenvalues``, ``residuals``, ``rayleigh`` (k,); ``training_path`` (T, k),
    ``training_epochs`` (T,), ``explained_variance_ratio`` (k,)).
    """

    vectors: np.ndarray
    metadata: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def flat_states(model: nn.Module, trajectory) -> np.ndarray:
    """The parameter vectors of a trajectory as rows (T, P) float64 in the model's flat layout.

    ``trajectory`` is a (T, P) array or tensor, or a sequence of states: state_dicts (the model's parameter
    names, buffers ignored) or flat (P,) vectors. ValueError naming the state and the parameter that does not fit.
    """
    layout = Layout.of(model)
    if isinstance(trajectory, (np.ndarray, torch.Tensor)) and trajectory.ndim == 2:
        trajectory = list(trajectory)
    rows = []
    for i, state in enumerate(trajectory):
        if isinstance(state, Mapping):
            missing = [n for n in layout.names if n not in state]
            if missing:
                raise ValueError(f"trajectory state {i}: no parameter {missing[0]!r} (a state_dict of another model?)")
            for name, shape in zip(layout.names, layout.shapes):
                if tuple(state[name].shape) != shape:
                    raise ValueError(
                        f"trajectory state {i}: parameter {name!r} has shape {tuple(state[name].shape)}, "
                        f"the model's has {shape}"
                    )
            state = torch.cat([torch.as_tensor(state[n]).detach().reshape(-1).double().cpu() for n in layout.names])
        row = np.asarray(state.detach().cpu().double() if isinstance(state, torch.Tensor) else state, np.float64)
        if row.shape != (layout.size,):
            raise ValueError(f"trajectory state {i} has shape {row.shape}; the model has {layout.size} parameters")
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, layout.size))


def trajectory_directions(model: nn.Module, trajectory, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Li et al. 2018's trajectory directions about the model's parameters (the final ones): the top-k PCA
    directions of the states along training (:func:`flat_states`), not filter-normalised, each scaled to the
    path's extent along it. Returns (directions (k, P), path (T, k) in [-1, 1], explained variance ratio (k,));
    see :func:`losstopo.landscape.trajectory.pca_directions` for the method and the errors raised."""
    return pca_directions(flat_states(model, trajectory), flat_parameters(model).cpu().numpy(), k)


def _settings(model: nn.Module, kind: str, k: int, seed: int, run_seed: int, normalize_1d: bool) -> dict[str, Any]:
    layout = Layout.of(model)
    return {
        "kind": kind,
        "dim": int(k),
        "seed": int(seed),
        "run_seed": int(run_seed),
        "normalize_1d": bool(normalize_1d),
        "n_params": layout.size,
        "shapes": [list(s) for s in layout.shapes],
    }


def pick_directions(
    model: nn.Module,
    kind: str = "random",
    k: int = 2,
    *,
    seed: int = 0,
    run_seed: int = 0,
    normalize_1d: bool = False,
    objective=None,
    trajectory=None,
    epochs=None,
) -> Directions:
    """k directions of ``kind`` around the model's parameters: ``random`` (filter-normalised, from ``seed``
    and ``run_seed``), ``hessian`` (top-k eigenvectors of ``objective``'s Hessian, an Objective on this
    model) or ``trajectory`` (PCA of ``trajectory``, the states along training, numbered by ``epochs``,
    default 0..T-1). ValueError for an unknown kind or a missing ``objective`` / ``trajectory``."""
    if kind not in KINDS:
        raise ValueError(f"landscape.directions must be one of {', '.join(KINDS)}, got {kind!r}")
    meta = _settings(model, kind, k, seed, run_seed, normalize_1d)
    arrays: dict[str, np.ndarray] = {}
    if kind == "random":
        vectors = random_directions(model, k, run_seed, seed, normalize_1d)
    elif kind == "hessian":
        if objective is None:
            raise ValueError("Hessian directions need the objective (its loss and evaluation set)")
        from losstopo.curvature.hessian import direction_eigenpairs  # scipy.linalg: only Hessian directions need it

        combined = int(direction_seed(run_seed, seed).generate_state(1)[0])
        eigen = direction_eigenpairs(objective, k, seed=combined)
        vectors = eigen.eigenvectors
        # everything the Hessian stage needs to take these pairs instead of computing them again
        arrays |= {"eigenvalues": eigen.eigenvalues, "residuals": eigen.residuals, "rayleigh": eigen.rayleigh}
        meta["eigen"] = eigen.to_json()
    else:
        if trajectory is None:
            raise ValueError("trajectory directions need the trajectory: the states along training")
        vectors, path, ratio = trajectory_directions(model, trajectory, k)
        arrays |= {
            "training_path": path,
            "training_epochs": np.arange(len(path)) if epochs is None else np.asarray(epochs, dtype=np.int64),
            "explained_variance_ratio": ratio,
        }
        if arrays["training_epochs"].shape != (len(path),):
            raise ValueError(f"epochs has {arrays['training_epochs'].size} entries for {len(path)} trajectory states")
    meta |= {key: value.tolist() for key, value in arrays.items()}
    meta["max_abs_cosine"] = max_abs_cosine(vectors)
    return Directions(np.asarray(vectors, dtype=np.float64), meta, arrays)


def compute_directions(
    family,
    model: nn.Module,
    hp: dict[str, Any],
    run_seed: int,
    landscape: dict[str, Any],
    device: torch.device,
    trajectory: str | os.PathLike | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    """Everything ``directions.npz`` holds, for one trained model and the landscape settings (checked as
    the config's landscape block: a ConfigError naming the key).

    ``trajectory`` is the run's ``checkpoints.pt`` (trajectory directions); a checkpoint unit of ``epoch``
    uses the states up to it. A model with non-finite parameters, or a trajectory of fewer than dim + 1
    states (a run that stopped early), gets NaN directions and a ``skipped_reason``, like a diverged run.
    """
    landscape = validate_block("landscape", landscape)
    kind = landscape.get("directions", "random")
    k = int(landscape.get("dim", 2))
    seed = int(landscape.get("seed", 0))
    normalize_1d = bool(landscape.get("normalize_1d", False))
    layout = Layout.of(model)
    skip, states, epochs = None, None, None
    if not torch.isfinite(flat_parameters(model)).all():
        skip = "model parameters are not finite (diverged training)"
    elif kind == "trajectory":
        if trajectory is None:
            raise ValueError("landscape.directions trajectory needs the run's checkpoints.pt (--trajectory)")
        epochs, states = load_trajectory(trajectory, epoch)
        if len(states) < k + 1:
            skip = f"the trajectory holds {len(states)} state(s), too few for {k} directions (training stopped early)"
    if skip is not None:
        log.warning("directions skipped: %s", skip)
        nan = {"eigenvalues": np.full(k, np.nan)} if kind == "hessian" else {}
        found = Directions(
            np.full((k, layout.size), np.nan),
            _settings(model, kind, k, seed, run_seed, normalize_1d) | {"skipped_reason": skip},
            nan,
        )
    else:
        objective = family.objective(model, hp, run_seed, device, torch.float64) if kind == "hessian" else None
        found = pick_directions(
            model,
            kind,
            k,
            seed=seed,
            run_seed=run_seed,
            normalize_1d=normalize_1d,
            objective=objective,
            trajectory=states,
            epochs=epochs,
        )
    return {
        "directions": found.vectors,
        "names": np.array(layout.names),
        "offsets": np.array(layout.offsets, dtype=np.int64),
        **found.arrays,
        "metadata": found.metadata,
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
    family, model, hp, seed, info = load_trained(args.run_dir, device)
    out = compute_directions(family, model, hp, seed, args.landscape, device, args.trajectory, info.get("epoch"))
    save_npz(args.out, **out)
    meta = out["metadata"]
    print(
        f"directions {args.run_dir}: {meta['kind']} k={meta['dim']} P={meta['n_params']} "
        f"{meta.get('skipped_reason') or 'max |cos| %.1e' % meta['max_abs_cosine']}",
        file=sys.stderr,
    )
    return 0
