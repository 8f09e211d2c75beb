"""Topology of a sampled loss landscape: merge tree, 0-dim persistence, segmentation, summary.

``compute_topology(field, graph)`` is the grid engine (numba, any grid dimension); ``graph_topology``
the same on any graph, e.g. the ``knn_graph`` of scattered samples (``scattered_topology``);
``summarize`` turns a result into the scalar metrics of ``topology.json``; ``write_topology`` /
``read_topology`` / ``load_topology`` are the stage's files. The topological landscape profile,
shape distances and the TTK backend live in the ``profile``, ``distances`` and ``ttk`` modules.
Semantics are documented in docs/topology.md and docs/profile.md. Names are imported on first use, so
the numba-free modules (``records``: the stage's files read back and checked) cost no numba import and the
topology stage does not pay for the shape distances' scipy.optimize.
"""

from losstopo import lazy_exports

_EXPORTS = {
    "losstopo.topology.distances": ["bottleneck", "wasserstein"],
    "losstopo.topology.files": ["load_topology", "read_topology", "write_topology"],
    "losstopo.topology.graph": ["graph_topology", "grid_adjacency"],
    "losstopo.topology.grid": ["compute_topology"],
    "losstopo.topology.knn": ["knn_graph", "scattered_topology"],
    "losstopo.topology.records": ["read_pairs", "read_summary"],
    "losstopo.topology.stencils": ["GRAPHS", "stencil_steps"],
    "losstopo.topology.summary": ["summarize"],
    "losstopo.topology.tree": [
        "DEGENERATE",
        "MINIMUM",
        "ROOT",
        "SADDLE",
        "MergeTree",
        "PersistencePairs",
        "Topology",
        "assemble_topology",
    ],
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
