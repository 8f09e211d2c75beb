"""Scalar summary of a landscape's topology (``topology.json``): counts, persistence, basin sizes.

Persistence statistics run over the finite (minimum, saddle) pairs only. The essential class of
each component (global minimum, death = inf) is left out of them and reported on its own as
``essential_persistence`` = max - min of the finite values, which is what TTK's diagram shows for
its (global minimum, global maximum) pair.

Beside them sit the total and average persistence in TTK's convention (``*_persistence_ttk``), the one
the papers computed: TTK's 0-dimensional diagram pairs each component's global minimum with its global
maximum, so the essential pair counts with persistence max - min. On a landscape with one minimum ours
is 0 and TTK's is the loss range.

Raw persistence is in loss units, so it follows the loss scale: a landscape whose loss is 10 times
larger has 10 times the persistence. Two scale-free variants sit beside each persistence statistic:
``*_rel`` divides by the landscape's loss range (max - min), ``*_log`` is the persistence of log10 loss
(log10 death - log10 birth, in decades; the merge tree of log loss is the same tree, as log is
increasing), defined only when every finite loss is > 0.
"""

from __future__ import annotations

import numpy as np

from losstopo.topology.tree import DEGENERATE, MINIMUM, ROOT, SADDLE, Topology

N_TOP = 5


def _none_if_nan(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _stats(pers: np.ndarray | None, suffix: str) -> dict:
    """Total, mean and max of ``pers`` (0 when empty); every value None when ``pers`` is None (undefined)."""
    names = [f"{stat}_persistence{suffix}" for stat in ("total", "avg", "max")]
    if pers is None:
        return dict.fromkeys(names)
    top = float(pers.max()) if pers.size else 0.0
    return dict(zip(names, (float(pers.sum()), float(pers.mean()) if pers.size else 0.0, top)))


def _persistence_stats(
    birth: np.ndarray, death: np.ndarray, loss_range: float, positive: bool, suffix: str = ""
) -> dict:
    """Count, total, mean and max of the finite pairs' persistence; the same relative to ``loss_range``
    (``_rel``, None when the range is not > 0) and of log10 loss (``_log``, None unless ``positive``)."""
    pers = death - birth
    return {
        f"n_pairs{suffix}": int(pers.size),
        **_stats(pers, suffix),
        **_stats(pers / loss_range if loss_range > 0 else None, f"{suffix}_rel"),
        **_stats(np.log10(death) - np.log10(birth) if positive else None, f"{suffix}_log"),
    }


def _ttk_stats(
    pers: np.ndarray,
    pers_log: np.ndarray | None,
    essential: float,
    essential_log: float | None,
    n_essential: int,
    loss_range: float,
    suffix: str = "",
) -> dict:
    """Total and average persistence in TTK's convention: the finite pairs' persistences ``pers`` (and of log10
    loss, ``pers_log``, None when undefined) plus the ``n_essential`` (global minimum, global maximum) pairs,
    whose persistences sum to ``essential`` (``essential_log``). Scale-free variants: ``_log`` of total and
    average, ``_rel`` of the average only (the total relative to the range is ``total_persistence_rel`` plus the
    number of components: no new information). Every value is None when the landscape has no finite sample.
    """
    count = pers.size + n_essential
    names = [f"total_persistence_ttk{suffix}", f"avg_persistence_ttk{suffix}", f"avg_persistence_ttk{suffix}_rel"]
    names += [f"total_persistence_ttk{suffix}_log", f"avg_persistence_ttk{suffix}_log"]
    if n_essential == 0:
        return dict.fromkeys(names)
    total = float(pers.sum()) + essential
    out = dict(zip(names, (total, total / count, total / loss_range / count if loss_range > 0 else None)))
    total_log = None if pers_log is None or essential_log is None else float(pers_log.sum()) + essential_log
    out[names[3]], out[names[4]] = (None, None) if total_log is None else (total_log, total_log / count)
    return out


def _essential_pairs(topo: Topology, positive: bool) -> tuple[float, float | None]:
    """Sum over components of (global maximum - global minimum), and the same of log10 loss (None unless
    ``positive``): TTK's essential pairs. A one-sample component adds 0; a component with more samples ends
    at its root (the last vertex of its sweep), so the sum is that of the roots less that of their minima."""
    tree, pairs = topo.tree, topo.pairs
    has_up = np.zeros(tree.n_nodes, bool)
    has_up[tree.arc_down] = True
    alone = tree.node_vertex[(tree.node_type == MINIMUM) & ~has_up]
    births = pairs.birth[pairs.essential & ~np.isin(pairs.birth_vertex, alone)]
    tops = tree.node_value[tree.node_type == ROOT]
    with np.errstate(over="ignore"):
        total = float(tops.sum() - births.sum())
    return total, float(np.log10(tops).sum() - np.log10(births).sum()) if positive else None


def check_threshold(threshold: float) -> float:
    threshold = float(threshold)
    if not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"the relative persistence threshold must be a finite number >= 0, got {threshold}")
    return threshold


def summarize(topo: Topology, threshold: float = 0.0) -> dict:
    """Summary metrics of ``topo``, plain and after simplification at a relative ``threshold``.

    Simplification removes the finite pairs with persistence < threshold * (max - min): their
    minima and, where no surviving pair dies at it, their saddle. ``threshold = 0`` removes
    nothing. Basin sizes are those of the ``N_TOP`` lowest minima (sweep order): the samples in the
    basin just before it merges into an older one, the whole component for a global minimum.
    """
    threshold = check_threshold(threshold)
    tree, pairs = topo.tree, topo.pairs
    finite_values = topo.field[np.isfinite(topo.field)]
    lo = float(finite_values.min()) if finite_values.size else np.nan
    hi = float(finite_values.max()) if finite_values.size else np.nan
    centre = topo.field[tuple(s // 2 for s in topo.field.shape)] if topo.field.size else np.nan

    saddle = (tree.node_type == SADDLE) | (tree.node_type == DEGENERATE)
    finite = ~pairs.essential
    birth, death = pairs.birth[finite], pairs.death[finite]
    positive = bool(finite_values.size) and lo > 0
    with np.errstate(over="ignore"):  # beyond 1.8e308 a persistence or range is inf, as it should read
        pers = pairs.persistence[finite]
        loss_range = float(hi - lo) if finite_values.size else 0.0
        absolute = threshold * (hi - lo) if finite_values.size else 0.0
    # Where the range overflows (a field spanning +-1e308) compare halves, which never overflow.
    scale = 1.0 if np.isfinite(absolute) else 0.5
    keep = scale * death - scale * birth >= threshold * (scale * hi - scale * lo)
    # Saddles that survive: those where at least one kept pair dies (a death at a root is no saddle).
    deaths, n_dying = np.unique(pairs.death_vertex[finite][keep], return_counts=True)
    surviving = np.isin(deaths, tree.node_vertex[saddle])
    # TTK's convention: the same finite pairs (all, or those kept) and every component's essential pair
    essential = (*_essential_pairs(topo, positive), int(pairs.essential.sum()), loss_range)
    pers_log = np.log10(death) - np.log10(birth) if positive else None

    out = {
        "graph": topo.graph,
        "shape": list(topo.field.shape),
        "n_samples": int(topo.field.size),
        "n_vertices": int(finite_values.size),
        "n_nonfinite": topo.n_nonfinite,
        "n_components": int(pairs.essential.sum()),
        "n_nodes": tree.n_nodes,
        "n_minima": int((tree.node_type == MINIMUM).sum()),
        "n_saddles": int(saddle.sum()),
        "n_degenerate_saddles": int((tree.node_type == DEGENERATE).sum()),
        **_persistence_stats(birth, death, loss_range, positive),
        "essential_persistence": _none_if_nan(hi - lo),
        "loss_min": _none_if_nan(lo),
        "loss_max": _none_if_nan(hi),
        "loss_center": _none_if_nan(centre),
        "threshold": threshold,
        "threshold_absolute": float(absolute),
        "n_minima_simplified": int((tree.node_type == MINIMUM).sum() - (~keep).sum()),
        "n_saddles_simplified": int(surviving.sum()),
        "n_degenerate_saddles_simplified": int((surviving & (n_dying >= 2)).sum()),
        **_persistence_stats(birth[keep], death[keep], loss_range, positive, "_simplified"),
        "persistence_top": np.sort(pers)[::-1][:N_TOP].tolist(),
    }
    out |= _ttk_stats(pers, pers_log, *essential)
    out |= _ttk_stats(pers[keep], None if pers_log is None else pers_log[keep], *essential, "_simplified")
    lowest = np.lexsort((pairs.birth_vertex, pairs.birth))[:N_TOP]
    out["basin_sizes_top"] = pairs.basin_size[lowest].tolist()
    return out
