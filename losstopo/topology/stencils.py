"""Grid neighbourhoods (stencils) of any dimension, as per-axis steps and flat C-order offsets.

A stencil is a set of steps d in {-1, 0, 1}^k, closed under negation. Vertex v and v + d are joined by
an edge when both lie inside the grid; the engine checks that with per-axis bit masks (see
:func:`step_masks`), so no padding is needed and any dimension k >= 1 works. Steps are listed in
lexicographic order, so on a grid whose axes all have >= 2 samples the flat offsets increase and the
first half of them is negative; the engine's interior fast path relies on that.
"""

from __future__ import annotations

import itertools

import numpy as np

GRAPHS = ("axis", "freudenthal", "full")


def _in_freudenthal(d: tuple[int, ...]) -> bool:
    """TTK's triangulation: Kuhn/Freudenthal with the fastest-varying (last, C-order) axis flipped."""
    flipped = d[:-1] + (-d[-1],)
    return any(d) and (all(x in (0, 1) for x in flipped) or all(x in (0, -1) for x in flipped))


def stencil_steps(k: int, graph: str) -> np.ndarray:
    """Steps (m, k) of a stencil in k dimensions, in lexicographic order.

    ``axis``: 2k steps along one axis. ``freudenthal``: 2(2^k - 1) steps, the edges of TTK's regular
    grid triangulation extended to any k. ``full``: all 3^k - 1 steps (the cubical complex's vertices
    joined through any shared cube).
    """
    if k < 1:
        raise ValueError(f"a grid needs at least one axis, got k={k}")
    if graph not in GRAPHS:
        raise ValueError(f"unknown graph {graph!r}; expected one of {', '.join(GRAPHS)}")
    steps = [d for d in itertools.product((-1, 0, 1), repeat=k) if any(d)]
    if graph == "axis":
        steps = [d for d in steps if sum(map(abs, d)) == 1]
    elif graph == "freudenthal":
        steps = [d for d in steps if _in_freudenthal(d)]
    return np.array(steps, dtype=np.int64).reshape(-1, k)


def flat_offsets(shape: tuple[int, ...], steps: np.ndarray) -> np.ndarray:
    """Flat C-order index offset of each step on a grid of ``shape``."""
    strides = np.cumprod((1,) + tuple(shape[:0:-1]))[::-1].astype(np.int64)
    return steps @ strides


def step_masks(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bit masks per step: axes it decreases (``neg``) and axes it increases (``pos``).

    A step from v is valid unless it decreases an axis where v sits at 0 or increases one where v
    sits at the last index; with per-vertex boundary masks that is two ANDs per step.
    """
    k = steps.shape[1]
    if k > 62:
        raise ValueError(f"grids of at most 62 dimensions are supported, got {k}")
    bits = np.int64(1) << np.arange(k, dtype=np.int64)
    neg = ((steps < 0) * bits).sum(axis=1).astype(np.int64)
    pos = ((steps > 0) * bits).sum(axis=1).astype(np.int64)
    return neg, pos


def link_adjacency(steps: np.ndarray) -> np.ndarray:
    """Bit mask per step j of the steps j' whose vertices are adjacent to each other (a link edge).

    Two neighbours v + d and v + d' of v are joined when d' - d is itself a step. Used to test
    whether a vertex's lower neighbours are connected among themselves (then it cannot be a saddle).
    Only defined for stencils of at most 64 steps.
    """
    m = len(steps)
    if m > 64:
        raise ValueError(f"link masks need at most 64 steps, got {m}")
    index = {tuple(d): j for j, d in enumerate(steps.tolist())}
    adj = np.zeros(m, dtype=np.uint64)
    for j, d in enumerate(steps.tolist()):
        for jj, dd in enumerate(steps.tolist()):
            if tuple(b - a for a, b in zip(d, dd)) in index:
                adj[j] |= np.uint64(1) << np.uint64(jj)
    return adj
