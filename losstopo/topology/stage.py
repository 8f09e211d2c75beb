"""``losstopo topology``: one landscape file in, the topology stage's files out (and its profile).

A grid landscape goes to the grid engine (``losstopo.topology.grid``) on the chosen stencil, scattered
samples to their k-NN graph (``losstopo.topology.knn``); ``--backend ttk`` runs TTK instead
(``losstopo.topology.ttk``). The files are those of ``losstopo.topology.files``. A landscape sampled at
further spans (``landscape.extra_spans``) gets the summary of each in topology.json's ``extra_spans``.
With ``--profile-svg`` / ``--profile-png`` the same process draws the topological landscape profile
(``losstopo.topology.profile``) from the topology in memory: one process per unit instead of two.
"""

from __future__ import annotations

import time

import numpy as np

from losstopo.topology.files import extra_spans, read_landscape_input, write_topology
from losstopo.topology.grid import compute_topology
from losstopo.topology.summary import check_threshold, summarize
from losstopo.topology.tree import Topology


def landscape_topology(
    loss: np.ndarray,
    points: np.ndarray | None = None,
    graph: str = "freudenthal",
    knn: int | None = None,
    backend: str = "native",
) -> tuple[Topology, dict]:
    """The topology of a sampled landscape and the summary entries it adds: a grid ``loss`` (points None) on
    the ``graph`` stencil, or scattered samples (``loss`` (N,) at ``points`` (N, k)) on their k-NN graph with
    ``knn`` neighbours (default 4k); ``backend`` ``native`` or ``ttk``. The k-NN and TTK modules
    (scipy.sparse) are imported only when used."""
    extra = {} if backend == "native" else {"backend": backend}
    if points is not None:
        from losstopo.topology.knn import scattered_topology

        topo, added = scattered_topology(loss, points, knn, backend)
        return topo, extra | added
    if backend == "ttk":
        from losstopo.topology.ttk import ttk_topology

        return ttk_topology(loss, graph=graph), extra
    return compute_topology(loss, graph=graph), extra


def main(args) -> int:
    """CLI handler: ``losstopo topology IN [--graph G] [--knn K] [--backend B] --out-dir DIR [--threshold T]
    [--profile-svg SVG --profile-png PNG [--profile-* ...]]``."""
    threshold = check_threshold(args.threshold)
    backend = getattr(args, "backend", "native")
    knn = getattr(args, "knn", None)
    draw = [getattr(args, "profile_svg", None), getattr(args, "profile_png", None)]
    if any(draw) and not all(draw):
        raise ValueError("--profile-svg and --profile-png go together: give both or neither")
    loss, points, data = read_landscape_input(args.input)
    spans, span_losses = extra_spans(data, loss, args.input)
    start = time.perf_counter()
    topo, extra = landscape_topology(loss, points, args.graph, knn, backend)
    if spans.size:
        extra["extra_spans"] = [
            {"span": float(span), **summarize(landscape_topology(field, None, args.graph, knn, backend)[0], threshold)}
            for span, field in zip(spans, span_losses)
        ]
    summary = write_topology(topo, args.out_dir, threshold, extra)
    what = f"{loss.size} points, k-NN graph (k = {extra['knn_k']})" if points is not None else f"shape {loss.shape}"
    at_spans = "".join(f"; span {e['span']:g}: {e['n_minima']} minima" for e in extra.get("extra_spans", []))
    print(
        f"losstopo topology: {args.input}: {what}, {summary['n_minima']} minima, "
        f"{summary['n_saddles']} saddles, {summary['n_nonfinite']} non-finite, "
        f"{summary['n_components']} component(s); {backend} backend{at_spans}; "
        f"{time.perf_counter() - start:.2f} s -> {args.out_dir}",
        flush=True,
    )
    if all(draw):
        from losstopo.topology.profile import draw_profile_files

        draw_profile_files(topo, {"svg": draw[0], "png": draw[1]}, args, prefix="profile_")
    return 0
