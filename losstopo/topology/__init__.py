"""Topology of a sampled loss landscape: merge tree, 0-dim persistence, segmentation, summary.

``compute_topology(field, graph)`` is the grid engine (numba, any grid dimension); ``graph_topology``
the same on any graph, e.g. the ``knn_graph`` of scattered samples (``scattered_topology``);
``summarize`` turns a result into the scalar metrics of ``topology.json``; ``write_topology`` /
``read_topology`` / ``load_topology`` are the stage's files. The topological landscape profile,
shape distances and the TTK backend live in the ``profile``, ``distances`` and ``ttk`` modules.
Semantics are documented in docs/topology.md and docs/profile.md.
"""

from losstopo.topology.distances import bottleneck, wasserstein
from losstopo.topology.files import load_topology, read_topology, write_topology
from losstopo.topology.graph import graph_topology, grid_adjacency
from losstopo.topology.grid import compute_topology
from losstopo.topology.knn import knn_graph, scattered_topology
from losstopo.topology.stencils import GRAPHS, stencil_steps
from losstopo.topology.summary import summarize
from losstopo.topology.tree import (
    DEGENERATE,
    MINIMUM,
    ROOT,
    SADDLE,
    MergeTree,
    PersistencePairs,
    Topology,
    assemble_topology,
)

__all__ = [
    "DEGENERATE",
    "GRAPHS",
    "MINIMUM",
    "ROOT",
    "SADDLE",
    "MergeTree",
    "PersistencePairs",
    "Topology",
    "assemble_topology",
    "bottleneck",
    "compute_topology",
    "graph_topology",
    "grid_adjacency",
    "knn_graph",
    "load_topology",
    "read_topology",
    "scattered_topology",
    "stencil_steps",
    "summarize",
    "wasserstein",
    "write_topology",
]
