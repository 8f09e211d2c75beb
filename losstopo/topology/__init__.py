"""Topology of a sampled loss landscape: merge tree, 0-dim persistence, segmentation, summary.

``compute_topology(field, graph)`` is the engine (numba, any grid dimension); ``graph_topology`` the
same on any graph, e.g. the ``knn_graph`` of scattered samples; ``summarize`` turns a result into the
scalar metrics of ``topology.json``; ``write_topology`` / ``read_topology`` / ``load_topology`` are the
stage's files. Profiles, shape distances and the TTK backend live in the ``profile``, ``distances``
and ``ttk`` submodules. Semantics are documented in docs/topology.md and docs/profile.md.
"""

from losstopo.topology.command import load_topology, read_topology, write_topology
from losstopo.topology.graph import GRAPHS, stencil_steps
from losstopo.topology.knn import graph_topology, knn_graph
from losstopo.topology.mergetree import (
    DEGENERATE,
    MINIMUM,
    ROOT,
    SADDLE,
    MergeTree,
    PersistencePairs,
    Topology,
    compute_topology,
)
from losstopo.topology.summary import summarize

__all__ = [
    "GRAPHS", "MINIMUM", "SADDLE", "ROOT", "DEGENERATE", "MergeTree", "PersistencePairs", "Topology",
    "compute_topology", "graph_topology", "knn_graph", "load_topology", "read_topology", "stencil_steps", "summarize",
    "write_topology",
]
