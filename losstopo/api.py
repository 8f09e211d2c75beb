"""The notebook API on top of every stage: one loss landscape of any model, in memory and in the workflow's
``landscape.npz``.

:func:`compute_landscape` picks the directions (random filter-normalised, Hessian, trajectory or given),
samples the loss on a grid or at scattered points with the batched sampler, and returns a
:class:`Landscape`: the loss, its coordinates, the loss at the model and the metadata the workflow records.
The Landscape computes its topology (merge tree, persistence pairs, summary), its topological profile and
a heatmap, and saves to and loads from the ``landscape.npz`` format of ``losstopo sample``, which
``losstopo topology`` and ``losstopo profile`` read. Settings left out take the config schema's defaults
(``config/README.md``: ``landscape``, ``topology``, ``profile``). docs/api.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import torch

from losstopo.io import InputFileError, atomic_path, save_npz
from losstopo.landscape.directions import Directions, Layout, max_abs_cosine, pick_directions
from losstopo.landscape.drawing import draw_landscape
from losstopo.landscape.sampling import grid_axes, sample
from losstopo.landscape.scatter import scatter_points
from losstopo.objective import Objective, require_objective
from losstopo.sweep.schema import default, landscape_defaults, load_schema
from losstopo.topology.files import read_landscape_input
from losstopo.topology.profile import Profile, profile_geometry, render_profile
from losstopo.topology.stage import landscape_topology
from losstopo.topology.summary import summarize
from losstopo.topology.tree import Topology

# the landscape settings of the config schema that compute_landscape takes (the rest are the workflow's)
SETTINGS = ("dim", "resolution", "span", "seed", "normalize_1d", "sampling", "n_samples", "batch_size", "method")
PROFILE_OPTIONS = ("threshold", "max_basins", "levels", "scale")


def _settings(given: dict[str, Any]) -> dict[str, Any]:
    """The landscape settings: ``given`` (None = left out) over the schema's defaults, each value checked
    against its schema (ValueError naming the argument)."""
    schema = load_schema()["definitions"]["landscape"]["properties"]
    settings = landscape_defaults() | {key: value for key, value in given.items() if value is not None}
    for key in SETTINGS:
        try:
            jsonschema.validate(settings[key], schema[key])
        except jsonschema.ValidationError as exc:
            raise ValueError(f"{key}={settings[key]!r}: {exc.message}") from None
    return {key: settings[key] for key in SETTINGS}


@dataclass(eq=False)
class Landscape:
    """A sampled loss landscape.

    ``loss``: the loss (float64, the objective's loss units) on a grid, shape (r,)*k in C order over
    ``axes`` (k, r), or at scattered samples, shape (N,) at ``points`` (N, k) (``axes`` None); point a has
    parameters theta_0 + sum_i a_i d_i. ``center_loss``: the loss at the model (theta_0). ``metadata``: the
    settings, the directions' metadata (kind, eigenvalues, trajectory path, ...), the evaluation set and
    the sampler's method and speed, as ``landscape.npz`` records them. ``directions``: the directions
    themselves, in memory only (None for a loaded landscape).
    """

    loss: np.ndarray
    axes: np.ndarray | None = None
    points: np.ndarray | None = None
    center_loss: float = float("nan")
    metadata: dict[str, Any] = field(default_factory=dict)
    directions: Directions | None = field(default=None, repr=False)
    _topology: dict[tuple, tuple[Topology, dict]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.loss = np.asarray(self.loss, dtype=np.float64)
        if (self.axes is None) == (self.points is None):
            raise ValueError("a landscape has either axes (a grid) or points (scattered samples)")
        if self.axes is not None:
            self.axes = np.asarray(self.axes, dtype=np.float64)
            shape = tuple(a.size for a in self.axes)
            if self.axes.ndim != 2 or self.loss.shape != shape:
                raise ValueError(f"loss has shape {self.loss.shape} but axes {self.axes.shape} make a grid of {shape}")
        else:
            self.points = np.asarray(self.points, dtype=np.float64)
            if self.points.ndim != 2 or self.loss.shape != (len(self.points),):
                raise ValueError(
                    f"loss has shape {self.loss.shape} for points of shape {self.points.shape}; "
                    "expected one loss per point"
                )

    @property
    def dim(self) -> int:
        """k, the number of directions."""
        return len(self.axes) if self.axes is not None else self.points.shape[1]

    # ------------------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike) -> None:
        """Write ``landscape.npz`` as ``losstopo sample`` does (keys ``loss``, ``axes`` or ``points``,
        ``center_loss``, ``metadata``), atomically."""
        where = {"axes": self.axes} if self.axes is not None else {"points": self.points}
        save_npz(path, loss=self.loss, **where, center_loss=np.float64(self.center_loss), metadata=self.metadata)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Landscape":
        """A ``landscape.npz`` written by :meth:`save` or by the workflow; InputFileError naming the file
        when it is not one."""
        loss, points, data = read_landscape_input(path)
        missing = [key for key in ("center_loss", *(() if points is not None else ("axes",))) if key not in data]
        if missing:
            raise InputFileError(f"{path}: missing array(s) {', '.join(missing)}; not a landscape.npz")
        try:
            return cls(loss, data.get("axes"), points, float(data["center_loss"]), data.get("metadata", {}))
        except ValueError as exc:
            raise InputFileError(f"{path}: {exc}") from None

    # ------------------------------------------------------------------------------- topology

    def topology(self, graph: str | None = None, knn: int | None = None, backend: str | None = None) -> Topology:
        """The merge tree (``.tree``) and 0-dimensional persistence pairs (``.pairs``: ``birth``, ``death``,
        inf for each component's global minimum) of the loss (docs/topology.md): on the grid's ``graph``
        stencil (``axis``, ``freudenthal``, ``full``), or on the symmetrised k-NN graph of scattered samples
        (``knn`` neighbours, default 4k); ``backend`` ``native`` or ``ttk``. Defaults: the config's
        ``topology`` block. Computed once per setting."""
        return self._topology_and_extra(graph, knn, backend)[0]

    def _topology_and_extra(self, graph, knn, backend) -> tuple[Topology, dict]:
        graph = graph or default("topology", "graph")
        backend = backend or default("topology", "backend")
        key = (graph, knn, backend)
        if key not in self._topology:
            self._topology[key] = landscape_topology(self.loss, self.points, graph, knn, backend)
        return self._topology[key]

    def summary(
        self, threshold: float | None = None, graph: str | None = None, knn: int | None = None, backend=None
    ) -> dict[str, Any]:
        """The scalar topology metrics of ``topology.json`` (counts of minima and saddles, persistence
        statistics raw, relative and in decades, basin sizes; docs/topology.md), plain and after removing
        pairs whose persistence is below ``threshold`` times the loss range (default: the config's
        ``topology.threshold``)."""
        topo, extra = self._topology_and_extra(graph, knn, backend)
        threshold = default("topology", "threshold") if threshold is None else threshold
        return summarize(topo, threshold) | extra

    def profile(self, graph: str | None = None, **options) -> Profile:
        """The topological landscape profile (docs/profile.md): the merge tree as nested valleys, as
        polygons. ``options``: ``threshold``, ``max_basins``, ``levels``, ``scale`` (defaults: the config's
        ``profile`` block)."""
        unknown = sorted(set(options) - set(PROFILE_OPTIONS))
        if unknown:
            raise ValueError(f"unknown profile option(s) {', '.join(unknown)}; known: {', '.join(PROFILE_OPTIONS)}")
        settings = {key: default("profile", key) for key in PROFILE_OPTIONS} | options
        return profile_geometry(self.topology(graph), **settings)

    def save_profile(
        self, *paths: str | os.PathLike, title: str = "", cmap: str | None = None, graph: str | None = None, **options
    ) -> Profile:
        """Draw the profile (:meth:`profile` with ``options``) into each of ``paths``, in the format of its
        suffix (``.png``, ``.svg``, ``.pdf``), as ``losstopo profile`` does; returns the profile."""
        profile = self.profile(graph, **options)
        targets = {Path(p).suffix.lstrip(".").lower(): p for p in paths}
        bad = [fmt for fmt in targets if fmt not in ("png", "svg", "pdf")]
        if not paths or bad:
            raise ValueError(f"save_profile needs paths ending in .png, .svg or .pdf; got {list(map(str, paths))}")
        render_profile(profile, targets, title, cmap or default("profile", "cmap"))
        return profile

    # ------------------------------------------------------------------------------- drawing

    def plot(self, path: str | os.PathLike | None = None, ax=None, title: str = ""):
        """The log10-loss heatmap of the landscape (a grid's central 2-D slice, a curve for k = 1,
        scattered samples on the first two directions) with the training path of trajectory directions;
        on ``ax``, or on a new figure saved to ``path`` when given (format by suffix). Returns the figure."""
        from matplotlib.figure import Figure

        if ax is None:
            ax = Figure(figsize=(4.6, 3.8), layout="constrained").add_subplot()
        draw_landscape(ax, self.loss, self.axes, self.points, self.metadata)
        ax.set_title(title, fontsize=9)
        if path is not None:
            with atomic_path(path) as tmp:
                ax.figure.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=150)
        return ax.figure


def _given_directions(objective: Objective, vectors) -> Directions:
    """Directions the caller computed: a (k, P) array in the model's flat layout (``Layout``)."""
    layout = Layout.of(objective.model)
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[1] != layout.size:
        raise ValueError(f"directions have shape {vectors.shape}; expected (k, {layout.size}), one row per direction")
    if not np.isfinite(vectors).all():
        raise ValueError("directions hold non-finite values")
    meta = {
        "kind": "given",
        "dim": len(vectors),
        "n_params": layout.size,
        "shapes": [list(s) for s in layout.shapes],
        "max_abs_cosine": max_abs_cosine(vectors),
    }
    return Directions(vectors, meta)


def compute_landscape(
    objective: Objective,
    directions: str | Directions | np.ndarray = "random",
    *,
    dim: int | None = None,
    resolution: int | None = None,
    span: float | None = None,
    seed: int | None = None,
    normalize_1d: bool | None = None,
    sampling: str | None = None,
    n_samples: int | None = None,
    batch_size: int | str | None = None,
    method: str | None = None,
    trajectory=None,
    epochs=None,
    progress: bool = True,
) -> Landscape:
    """The loss of ``objective`` (``losstopo.make_objective``) around its model's parameters.

    ``directions``: ``"random"`` (filter-normalised, Li et al. 2018; from ``seed``), ``"hessian"`` (the
    top-``dim`` Hessian eigenvectors), ``"trajectory"`` (the PCA of ``trajectory``, the states along
    training: state_dicts or flat vectors, numbered by ``epochs``; Li et al. 2018), a :class:`Directions`
    (e.g. another landscape's ``.directions``) or a (k, P) array in the flat parameter layout. Samples:
    ``sampling="grid"``, ``resolution`` points per axis over [-``span``, ``span``]^dim (0 exactly at the
    centre for odd ``resolution``), or ``"random"``/``"sobol"``: the origin and ``n_samples`` points in
    that cube. Evaluation: ``method`` ``batched`` (``torch.vmap``, chunks of ``batch_size`` points, ``auto``
    from the objective's ``bytes_per_eval``) or ``loop``. Every setting left out is the config schema's
    default (``landscape`` block; ``dim`` defaults to the number of given directions).

    Bad settings, directions of the wrong shape and a non-deterministic objective raise ValueError before
    the sampling (Hessian directions are computed first; they also refuse a non-deterministic objective).
    """
    objective = require_objective(objective)
    found = None
    if not isinstance(directions, str):
        found = directions if isinstance(directions, Directions) else _given_directions(objective, directions)
        if dim is not None and dim != len(found.vectors):
            raise ValueError(f"dim={dim} but {len(found.vectors)} directions were given")
        dim = len(found.vectors)
    if trajectory is not None and directions != "trajectory":
        raise ValueError("trajectory is only used with directions='trajectory'")
    settings = _settings(
        {
            "dim": dim,
            "resolution": resolution,
            "span": span,
            "seed": seed,
            "normalize_1d": normalize_1d,
            "sampling": sampling,
            "n_samples": n_samples,
            "batch_size": batch_size,
            "method": method,
        }
    )
    k, span = settings["dim"], float(settings["span"])
    if settings["sampling"] == "grid":
        axes, points = grid_axes(k, settings["resolution"], span), None
    else:
        axes = None
        points = scatter_points(settings["n_samples"], k, span, settings["sampling"], seed=[settings["seed"], 0])
    if found is None:
        found = pick_directions(
            objective.model,
            directions,
            k,
            seed=settings["seed"],
            normalize_1d=settings["normalize_1d"],
            objective=objective,
            trajectory=trajectory,
            epochs=epochs,
        )
    result = sample(
        objective,
        found.vectors,
        axes,
        points=points,
        batch_size=settings["batch_size"],
        method=settings["method"],
        progress=progress,
    )
    with torch.no_grad():
        center = float(objective.loss_of_model())
    params = next(objective.model.parameters())
    metadata = {
        "landscape": settings
        | {"directions": found.metadata["kind"], "precision": str(params.dtype).removeprefix("torch.")},
        "directions": found.metadata,
        "eval_set": objective.metadata,
        "method": result.method,
        "batch_size": result.batch_size,
        "wall_time_s": result.wall_s,
        "points_per_s": result.loss.size / max(result.wall_s, 1e-12),
        "n_points": int(result.loss.size),
        "device": str(params.device),
        "torch_version": torch.__version__,
    }
    loss = result.loss.reshape((settings["resolution"],) * k) if axes is not None else result.loss
    return Landscape(loss, axes, points, center, metadata, found)
