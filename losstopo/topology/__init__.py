"""Topology of a sampled loss landscape: merge tree, 0-dim persistence, segmentation, summary.

``compute_topology(field, graph)`` is the engine (numba, any grid dimension); ``summarize`` turns
its result into the scalar metrics of ``topology.json``; ``write_topology`` / ``read_topology``
are the stage's files. Semantics are documented in docs/topology.md.
"""

from losstopo.topology.command import read_topology, write_topology
from losstopo.topology.graph import GRAPHS, stencil_steps
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
    "compute_topology", "read_topology", "stencil_steps", "summarize", "write_topology",
]
