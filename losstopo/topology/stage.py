"""``losstopo topology``: one landscape file in, the topology stage's files out.

A grid landscape goes to the grid engine (``losstopo.topology.grid``) on the chosen stencil, scattered
samples to their k-NN graph (``losstopo.topology.knn``); ``--backend ttk`` runs TTK instead
(``losstopo.topology.ttk``). The files are those of ``losstopo.topology.files``.
"""

from __future__ import annotations

import time

import numpy as np

from losstopo.topology.files import load_landscape_input, write_topology
from losstopo.topology.grid import compute_topology
from losstopo.topology.knn import scattered_topology
from losstopo.topology.summary import check_threshold
from losstopo.topology.tree import Topology
from losstopo.topology.ttk import ttk_topology


def landscape_topology(
    loss: np.ndarray,
    points: np.ndarray | None = None,
    graph: str = "freudenthal",
    knn: int | None = None,
    backend: str = "native",
) -> tuple[Topology, dict]:
    """The topology of a sampled landscape and the summary entries it adds: a grid ``loss`` (points None) on
    the ``graph`` stencil, or scattered samples (``loss`` (N,) at ``points`` (N, k)) on their k-NN graph with
    ``knn`` neighbours (default 4k); ``backend`` ``native`` or ``ttk``."""
    extra = {} if backend == "native" else {"backend": backend}
    if points is not None:
        topo, added = scattered_topology(loss, points, knn, backend)
        return topo, extra | added
    if backend == "ttk":
        return ttk_topology(loss, graph=graph), extra
    return compute_topology(loss, graph=graph), extra


def main(args) -> int:
    """CLI handler: ``losstopo topology IN [--graph G] [--knn K] [--backend B] --out-dir DIR [--threshold T]``."""
    threshold = check_threshold(args.threshold)
    backend = getattr(args, "backend", "native")
    loss, points = load_landscape_input(args.input)
    start = time.perf_counter()
    topo, extra = landscape_topology(loss, points, args.graph, getattr(args, "knn", None), backend)
    summary = write_topology(topo, args.out_dir, threshold, extra)
    what = f"{loss.size} points, k-NN graph (k = {extra['knn_k']})" if points is not None else f"shape {loss.shape}"
    print(
        f"losstopo topology: {args.input}: {what}, {summary['n_minima']} minima, "
        f"{summary['n_saddles']} saddles, {summary['n_nonfinite']} non-finite, "
        f"{summary['n_components']} component(s); {backend} backend; "
        f"{time.perf_counter() - start:.2f} s -> {args.out_dir}"
    )
    return 0
