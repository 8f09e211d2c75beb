"""``losstopo topology``: one landscape file in, the topology stage's files out.

A grid landscape goes to the grid engine (``losstopo.topology.grid``) on the chosen stencil, scattered
samples to their k-NN graph (``losstopo.topology.knn``); ``--backend ttk`` runs TTK instead
(``losstopo.topology.ttk``). The files are those of ``losstopo.topology.files``.
"""

from __future__ import annotations

import time

from losstopo.topology.files import load_landscape_input, write_topology
from losstopo.topology.grid import compute_topology
from losstopo.topology.knn import scattered_topology
from losstopo.topology.summary import check_threshold
from losstopo.topology.ttk import ttk_topology


def main(args) -> int:
    """CLI handler: ``losstopo topology IN [--graph G] [--knn K] [--backend B] --out-dir DIR [--threshold T]``."""
    threshold = check_threshold(args.threshold)
    backend = getattr(args, "backend", "native")
    knn = getattr(args, "knn", None)
    loss, points = load_landscape_input(args.input)
    start = time.perf_counter()
    extra = {} if backend == "native" else {"backend": backend}
    if points is not None:
        topo, added = scattered_topology(loss, points, knn, backend)
        extra |= added
    elif backend == "ttk":
        topo = ttk_topology(loss, graph=args.graph)
    else:
        topo = compute_topology(loss, graph=args.graph)
    summary = write_topology(topo, args.out_dir, threshold, extra)
    what = f"{loss.size} points, k-NN graph (k = {extra['knn_k']})" if points is not None else f"shape {loss.shape}"
    print(
        f"losstopo topology: {args.input}: {what}, {summary['n_minima']} minima, "
        f"{summary['n_saddles']} saddles, {summary['n_nonfinite']} non-finite, "
        f"{summary['n_components']} component(s); {backend} backend; "
        f"{time.perf_counter() - start:.2f} s -> {args.out_dir}"
    )
    return 0
