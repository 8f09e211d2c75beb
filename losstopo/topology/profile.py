"""Topological landscape profiles (paper 1): the merge tree drawn as nested valleys.

Every basin (branch of the merge tree's elder-rule decomposition, i.e. one row of the persistence
pairs) becomes a valley. Its floor is its minimum, its rim the saddle where it merges into an older
basin (for a component's oldest basin, the component's highest sample), and its width at loss level
y is the number of samples of the basin and its sub-basins with loss <= y. Child basins sit side by
side inside their parent, largest first, centred between the two halves of the parent's own
samples, so every child lies inside its parent at every level and siblings never overlap.

``profile_geometry`` is pure (polygons as arrays: testable); ``draw_profile`` / ``render_profile`` /
``render_profile_grid`` draw them with matplotlib. See docs/profile.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from losstopo.io import InputFileError, atomic_path, load_json
from losstopo.topology.files import load_landscape_input, load_topology
from losstopo.topology.summary import check_threshold
from losstopo.topology.tree import Topology, branch_decomposition, sweep_order

SCALES = ("linear", "log")


@dataclass(frozen=True)
class Valley:
    """One basin's valley: boundaries ``left``/``right`` at loss ``levels`` (floor to rim, ascending)."""

    basin: int  # row of the persistence pairs (the branch)
    parent: int  # index of the enclosing valley in Profile.valleys, -1 for a component's outer valley
    floor: float
    rim: float
    floor_vertex: int
    rim_vertex: int  # the merge saddle; for an outer valley the component's highest sample
    size: int  # samples of the basin and its sub-basins (its width at the rim)
    mean_loss: float
    levels: np.ndarray
    left: np.ndarray
    right: np.ndarray

    @property
    def width(self) -> np.ndarray:
        return self.right - self.left

    def centre_at(self, y: float) -> float:
        i = int(np.clip(np.searchsorted(self.levels, y), 0, self.levels.size - 1))
        return float((self.left[i] + self.right[i]) / 2)

    def polygon(self) -> np.ndarray:
        """(m, 2) outline: up the left boundary, down the right one."""
        return np.concatenate([np.stack([self.left, self.levels], 1), np.stack([self.right, self.levels], 1)[::-1]])


@dataclass(frozen=True)
class Profile:
    """The valleys of one landscape (parents before children) and what was left out."""

    valleys: tuple[Valley, ...]
    n_samples: int  # finite samples (vertices)
    width: float  # x extent: all components side by side
    loss_min: float
    loss_max: float
    scale: str
    threshold_absolute: float
    n_basins: int  # basins before simplification

    @property
    def minima(self) -> np.ndarray:
        """(m, 2) marker positions (x, loss) of the drawn valleys' floors."""
        return np.array([(v.centre_at(v.floor), v.floor) for v in self.valleys]).reshape(-1, 2)

    @property
    def saddles(self) -> np.ndarray:
        """(s, 2) marker positions of the merge saddles: the rim centre of every inner valley."""
        return np.array([(v.centre_at(v.rim), v.rim) for v in self.valleys if v.parent >= 0]).reshape(-1, 2)


def _levels(lo: float, hi: float, n: int, scale: str) -> np.ndarray:
    if hi <= lo:
        return np.array([lo])
    return np.geomspace(lo, hi, n) if scale == "log" else np.linspace(lo, hi, n)


def profile_geometry(
    topo: Topology,
    threshold: float = 0.0,
    max_basins: int | None = 200,
    levels: int = 256,
    scale: str = "linear",
    gap: float = 0.02,
) -> Profile:
    """The valleys of ``topo`` as polygons.

    Simplification: a basin whose persistence is below ``threshold * (loss_max - loss_min)`` is not
    drawn and its samples count as its parent's own; at most ``max_basins`` basins are drawn (the
    most persistent; every component's outer valley always). Widths are exact at the ``levels`` grid
    (linear or geometric between the finite min and max), at every drawn floor and rim. Components
    lie side by side, largest first, ``gap * n_samples`` apart. ``scale="log"`` needs positive losses.
    """
    threshold = check_threshold(threshold)
    if scale not in SCALES:
        raise ValueError(f"profile scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if max_basins is not None and int(max_basins) < 1:
        raise ValueError(f"max_basins must be at least 1, got {max_basins}")
    if int(levels) < 2:
        raise ValueError(f"a profile needs at least 2 loss levels, got {levels}")
    flat = topo.field.reshape(-1)
    finite = np.isfinite(flat)
    tree, pairs = topo.tree, topo.pairs
    n = int(finite.sum())
    if n == 0:
        return Profile((), 0, 0.0, np.nan, np.nan, scale, 0.0, 0)
    lo, hi = float(flat[finite].min()), float(flat[finite].max())
    if scale == "log" and lo <= 0:
        raise ValueError(f"a log loss axis needs positive losses; the smallest is {lo}")

    # Branches: the basin of every sample, each basin's rim and parent.
    node_of = np.full(flat.size, -1, np.int64)
    node_of[tree.node_vertex] = np.arange(tree.n_nodes)
    essential = pairs.essential
    birth_node = node_of[pairs.birth_vertex]
    death_node = np.where(essential, -1, node_of[np.maximum(pairs.death_vertex, 0)])
    br = branch_decomposition(tree.n_nodes, tree.arc_down, tree.arc_up, birth_node, death_node)
    seg = tree.segmentation.reshape(-1)
    basin_of = np.full(flat.size, -1, np.int64)
    on_arc = seg >= 0
    basin_of[on_arc] = br.branch_of_arc[seg[on_arc]]
    lone = finite & ~on_arc  # one-sample components: their own minimum's basin
    row_of_birth = np.full(flat.size, -1, np.int64)
    row_of_birth[pairs.birth_vertex] = np.arange(pairs.birth.size)
    basin_of[lone] = row_of_birth[lone]
    rim_vertex = np.where(essential, tree.node_vertex[br.top_node], pairs.death_vertex)
    rim = flat[rim_vertex]
    persistence = rim - pairs.birth

    # Simplification, parents before children (a parent dies later in the sweep, or never).
    absolute = threshold * (hi - lo)
    keep = essential | (persistence >= absolute)
    if max_basins is not None and keep.sum() > max_basins:
        candidates = np.flatnonzero(keep & ~essential)
        room = max(int(max_basins) - int(essential.sum()), 0)
        keep[candidates[np.lexsort((candidates, -persistence[candidates]))][room:]] = False
    rank = np.empty(flat.size, np.int64)
    rank[sweep_order(flat)] = np.arange(n)
    top_down = np.argsort(np.where(essential, n, rank[rim_vertex]), kind="stable")[::-1]
    rep = np.arange(pairs.birth.size)  # the drawn basin whose own samples a basin's samples become
    for b in top_down:
        if not essential[b] and not (keep[b] and keep[br.parent[b]]):
            keep[b] = False
            rep[b] = rep[br.parent[b]]

    # Widths on a common level grid: own samples counted by searchsorted, children added bottom-up.
    drawn = top_down[keep[top_down]]  # slot s = drawn[s]: parents before children
    slot = np.full(pairs.birth.size, -1, np.int64)
    slot[drawn] = np.arange(drawn.size)
    parent = np.where(essential[drawn], -1, slot[br.parent[drawn]])
    owner = slot[rep[basin_of[finite]]]
    values = flat[finite]
    grouped = np.lexsort((values, owner))
    sorted_values = values[grouped]
    ptr = np.searchsorted(owner[grouped], np.arange(drawn.size + 1))
    grid = np.unique(np.concatenate([_levels(lo, hi, levels, scale), pairs.birth[drawn], rim[drawn]]))
    own = np.stack(
        [np.searchsorted(sorted_values[ptr[s] : ptr[s + 1]], grid, side="right") for s in range(drawn.size)]
    ).astype(np.float64)
    width = own.copy()
    total = np.array([sorted_values[ptr[s] : ptr[s + 1]].sum() for s in range(drawn.size)])
    for s in range(drawn.size - 1, -1, -1):
        if parent[s] >= 0:
            width[parent[s]] += width[s]
            total[parent[s]] += total[s]
    size = pairs.basin_size[drawn]

    # Layout top-down: components side by side, largest first; inside a valley, half of its own
    # samples, its children (largest first), the other half.
    children: dict[int, list[int]] = {}
    for s in range(drawn.size):
        children.setdefault(int(parent[s]), []).append(s)
    for kids in children.values():
        kids.sort(key=lambda s: (-size[s], rank[pairs.birth_vertex[drawn[s]]]))
    left = np.zeros_like(width)
    x0 = 0.0
    for s in children.get(-1, []):
        left[s] = x0 + (size[s] - width[s]) / 2
        x0 += size[s] + gap * n
    for s in range(drawn.size):
        cursor = left[s] + own[s] / 2
        for c in children.get(s, []):
            left[c] = cursor
            cursor = cursor + width[c]
    valleys = []
    for s, b in enumerate(drawn):
        on = (grid >= pairs.birth[b]) & (grid <= rim[b])
        valleys.append(
            Valley(
                basin=int(b),
                parent=int(parent[s]),
                floor=float(pairs.birth[b]),
                rim=float(rim[b]),
                floor_vertex=int(pairs.birth_vertex[b]),
                rim_vertex=int(rim_vertex[b]),
                size=int(size[s]),
                mean_loss=float(total[s] / size[s]),
                levels=grid[on],
                left=left[s][on],
                right=(left[s] + width[s])[on],
            )
        )
    return Profile(tuple(valleys), n, max(x0 - gap * n, 0.0), lo, hi, scale, float(absolute), int(pairs.birth.size))


# ---------------------------------------------------------------- drawing


def _norm(lo: float, hi: float, scale: str):
    from matplotlib.colors import LogNorm, Normalize

    if not (np.isfinite(lo) and np.isfinite(hi)):
        return Normalize(0, 1)
    return LogNorm(lo, max(hi, lo * (1 + 1e-12))) if scale == "log" else Normalize(lo, hi if hi > lo else lo + 1)


def _set_ylim(ax, lo: float, hi: float, scale: str) -> None:
    """Loss range plus 3 % (of the log range on a log axis)."""
    if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
        ax.set_ylim(
            *(
                (lo / (hi / lo) ** 0.03, hi * (hi / lo) ** 0.03)
                if scale == "log"
                else (lo - 0.03 * (hi - lo), hi + 0.03 * (hi - lo))
            )
        )


def draw_profile(ax, profile: Profile, cmap: str = "viridis", norm=None, marker_size: float = 14) -> None:
    """Fill every valley (parents first, children on top) with its mean loss's colour; mark floors
    (minima, triangles) and rims of inner valleys (saddles, dots); set the loss axis scale."""
    from matplotlib import colormaps
    from matplotlib.patches import Polygon

    if cmap not in colormaps:
        raise ValueError(f"unknown colormap {cmap!r} (any matplotlib colormap name, e.g. viridis, magma)")
    colours = colormaps[cmap]
    norm = norm or _norm(profile.loss_min, profile.loss_max, profile.scale)
    for v in profile.valleys:
        ax.add_patch(
            Polygon(v.polygon(), closed=True, facecolor=colours(norm(v.mean_loss)), edgecolor="0.15", linewidth=0.4)
        )
    if marker_size > 0 and profile.valleys:
        ax.scatter(*profile.minima.T, marker="v", s=marker_size, color="black", zorder=3, label="minimum")
        if len(profile.saddles):
            ax.scatter(
                *profile.saddles.T,
                marker="o",
                s=0.7 * marker_size,
                facecolor="white",
                edgecolor="black",
                zorder=3,
                linewidths=0.6,
                label="saddle",
            )
    ax.set_yscale(profile.scale)
    if profile.valleys:
        ax.set_xlim(0, max(profile.width, 1))
        _set_ylim(ax, profile.loss_min, profile.loss_max, profile.scale)
    else:
        ax.text(0.5, 0.5, "no finite samples", ha="center", va="center", transform=ax.transAxes)


def _save(fig, paths: dict[str, str | os.PathLike]) -> None:
    for fmt, path in paths.items():
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")


def _colourbar(fig, ax, norm, cmap, fontsize: float = 8):
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.85)
    bar.set_label("mean loss of the basin", fontsize=fontsize)
    bar.ax.tick_params(which="both", labelsize=fontsize)


def render_profile(
    profile: Profile, paths: dict[str, str | os.PathLike], title: str = "", cmap: str = "viridis"
) -> None:
    """One landscape's profile, written in each format of ``paths`` ({"svg": ..., "png": ...})."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    norm = _norm(profile.loss_min, profile.loss_max, profile.scale)
    draw_profile(ax, profile, cmap, norm)
    ax.tick_params(which="both", labelsize=8)
    _colourbar(fig, ax, norm, cmap)
    ax.set_xlabel("samples (valley width at a loss level = samples of the basin at or below it)")
    ax.set_ylabel("loss")
    drawn = len(profile.valleys)
    ax.set_title(
        f"{title}\n{drawn} of {profile.n_basins} basins drawn "
        f"(persistence >= {profile.threshold_absolute:.3g})".strip(),
        fontsize=9,
    )
    if drawn:
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    _save(fig, paths)


def render_profile_grid(
    panels: dict[tuple[str, str], Profile],
    rows: list[str],
    cols: list[str],
    paths: dict[str, str | os.PathLike],
    title: str = "",
    cmap: str = "viridis",
) -> None:
    """The sweep's profiles in a grid: one row per setting, one column per seed. Panels of a row share
    the loss axis and the colour scale; a missing panel is left blank."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.6 * len(cols) + 1.2, 2.2 * len(rows) + 0.6), layout="constrained")
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    for r, row in enumerate(rows):
        shown = [panels[(row, col)] for col in cols if (row, col) in panels and panels[(row, col)].valleys]
        lo = min((p.loss_min for p in shown), default=np.nan)
        hi = max((p.loss_max for p in shown), default=np.nan)
        scale = shown[0].scale if shown else "linear"
        norm = _norm(lo, hi, scale)
        for c, col in enumerate(cols):
            ax = axes[r, c]
            if (row, col) not in panels:
                ax.set_axis_off()
                continue
            draw_profile(ax, panels[(row, col)], cmap, norm, marker_size=5)
            _set_ylim(ax, lo, hi, scale)
            ax.tick_params(which="both", labelsize=6)
            if r == 0:
                ax.set_title(col, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{row}\nloss", fontsize=7)
        _colourbar(fig, axes[r, :].tolist(), norm, cmap, fontsize=6)
    fig.suptitle(title or "topological landscape profiles", fontsize=10)
    fig.supxlabel("samples", fontsize=8)
    _save(fig, paths)


# ---------------------------------------------------------------- files and CLI


def profile_of_run(topology_dir, landscape, **options) -> Profile:
    """The profile of a run from its topology outputs and its landscape (.npz / .npy)."""
    loss, _ = load_landscape_input(landscape)
    return profile_geometry(load_topology(topology_dir, loss), **options)


def _options(args, prefix: str = "") -> dict:
    """The geometry options of the command line's profile options (``--{prefix}threshold`` ...)."""
    return {key: getattr(args, prefix + key) for key in ("threshold", "max_basins", "levels", "scale")}


def draw_profile_files(topo: Topology, paths: dict[str, str | os.PathLike], args, prefix: str = "") -> Profile:
    """Draw ``topo``'s profile into ``paths`` ({"svg": ..., "png": ...}) with the command line's profile
    options, named ``--{prefix}threshold`` etc. (``losstopo profile``: no prefix; ``losstopo topology``:
    ``profile_``), and say so on stdout."""
    profile = profile_geometry(topo, **_options(args, prefix))
    render_profile(profile, paths, getattr(args, prefix + "title") or "", getattr(args, prefix + "cmap"))
    print(f"losstopo profile: {len(profile.valleys)} of {profile.n_basins} basins drawn -> {', '.join(paths.values())}")
    return profile


def main(args) -> int:
    """``losstopo profile``: profile.svg / profile.png of one run."""
    loss, _ = load_landscape_input(args.landscape)
    draw_profile_files(load_topology(args.topology_dir, loss), {"svg": args.out_svg, "png": args.out_png}, args)
    return 0


def _setting_label(swept: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in swept.items()) or "all runs"


def grid_main(args) -> int:
    """``losstopo profile-grid``: every run's profile, rows = settings of the swept hyperparameters,
    columns = seeds (each run folder holds run.json, landscape.npz and topology/)."""
    panels, settings, seeds = {}, {}, set()
    for run_dir in map(Path, args.run_dirs):
        info = load_json(run_dir / "run.json")
        if not isinstance(info.get("swept"), dict) or "seed" not in info:
            raise InputFileError(f"{run_dir / 'run.json'}: expected 'swept' (an object) and 'seed'")
        row = _setting_label(info["swept"])
        settings[row] = tuple(info["swept"].values())
        seeds.add(int(info["seed"]))
        panels[(row, f"seed {info['seed']}")] = profile_of_run(
            run_dir / "topology", run_dir / "landscape.npz", **_options(args)
        )
    rows = sorted(
        settings, key=lambda r: tuple((0, v) if isinstance(v, (int, float)) else (1, str(v)) for v in settings[r])
    )
    cols = [f"seed {s}" for s in sorted(seeds)]
    render_profile_grid(panels, rows, cols, {"svg": args.out_svg, "png": args.out_png}, args.title or "", args.cmap)
    print(
        f"losstopo profile-grid: {len(panels)} profiles in {len(rows)} x {len(cols)} -> {args.out_svg}, {args.out_png}"
    )
    return 0
