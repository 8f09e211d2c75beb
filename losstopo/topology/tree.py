"""The merge tree and persistence pairs of a sampled landscape, as data, and their assembly from any join tree.

``MergeTree``, ``PersistencePairs`` and ``Topology`` are what every engine returns (the grid engine,
``losstopo.topology.grid``; the graph engine, ``losstopo.topology.graph``; TTK, ``losstopo.topology.ttk``).
``assemble_topology`` turns any merge tree given as nodes, arcs, a per-vertex arc and elder-rule pairs
into those dataclasses, with the same numbering, segmentation conventions, region and basin sizes, so
``summarize``, ``write_topology`` and the profile work unchanged. The sweep order is (value, flat C-order
index) throughout; node types are TTK's CriticalType codes. Semantics: docs/topology.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from losstopo.topology.jit import cached_njit

MINIMUM, SADDLE, ROOT, DEGENERATE = 0, 1, 3, 4  # TTK's CriticalType codes for join-tree nodes


@dataclass(frozen=True)
class MergeTree:
    """Join tree of the sublevel sets: minima are leaves, each component ends at a root.

    Nodes are numbered in sweep order (value, then flat index). Arc ``a`` joins node
    ``arc_down[a]`` to the next node above, ``arc_up[a]``; arcs are numbered by their lower node.
    ``arc_region_size`` counts the regular samples strictly inside the arc (TTK's RegionSize).
    ``segmentation`` (field shape, int32) is the arc of each sample: regular samples the arc they
    lie on, minima and saddles the arc above them, a root the arc below it (on a merge at the root,
    the elder branch's); -1 for non-finite samples and one-sample components.
    """

    node_vertex: np.ndarray  # int64, flat C-order index
    node_value: np.ndarray  # float64
    node_type: np.ndarray  # int8: 0 minimum, 1 saddle, 4 degenerate saddle (>= 3 basins), 3 root
    arc_down: np.ndarray  # int64 node index
    arc_up: np.ndarray  # int64 node index
    arc_region_size: np.ndarray  # int64
    segmentation: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.node_vertex.size)


@dataclass(frozen=True)
class PersistencePairs:
    """0-dim persistence by the elder rule: one row per minimum.

    ``death_vertex`` is -1 and ``death`` inf for the essential class of each component (born at its
    global minimum). ``basin_size`` is the number of samples in the dying component just before its
    death saddle (the whole component for an essential class). Rows: essential classes first, then
    finite pairs by (death, birth) in sweep order.
    """

    birth_vertex: np.ndarray
    death_vertex: np.ndarray
    birth: np.ndarray
    death: np.ndarray
    basin_size: np.ndarray

    @property
    def persistence(self) -> np.ndarray:
        return self.death - self.birth

    @property
    def essential(self) -> np.ndarray:
        return self.death_vertex < 0


@dataclass(frozen=True)
class Topology:
    """Everything the topology stage computes for one field."""

    field: np.ndarray  # the input as C-contiguous float64 (the caller's array itself if it already was)
    graph: str
    tree: MergeTree
    pairs: PersistencePairs

    @property
    def n_nonfinite(self) -> int:
        return int(self.field.size - np.count_nonzero(np.isfinite(self.field)))


def as_field(field) -> np.ndarray:
    """``field`` as a C-contiguous float64 array with >= 1 axis; ValueError for a 0-d or non-real array."""
    arr = np.asarray(field)
    if arr.ndim == 0:
        raise ValueError("the loss field is a 0-d array (a single number); expected a grid with >= 1 axis")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"the loss field must be real-valued, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def sweep_order(flat: np.ndarray) -> np.ndarray:
    """Finite samples in the sweep order: by value, ties by the lower index."""
    idx = np.flatnonzero(np.isfinite(flat))
    return idx[np.lexsort((idx, flat[idx]))]


@cached_njit
def add_root(roots, nr, r):
    """Append ``r`` to ``roots[:nr]`` unless already there (growing the buffer); returns (roots, nr)."""
    for q in range(nr):
        if roots[q] == r:
            return roots, nr
    if nr == roots.size:
        bigger = np.empty(2 * nr, np.int64)
        bigger[:nr] = roots
        roots = bigger
    roots[nr] = r
    return roots, nr + 1


@cached_njit
def subtree_sizes(arcs, node_up, region):
    """Samples in each node's subtree, nodes included; ``arcs`` lists lower nodes in sweep order,
    so every subtree is complete before it is added to the node above."""
    below = np.ones(node_up.size, np.int64)
    for a in arcs:
        below[node_up[a]] += below[a] + region[a]
    return below


@cached_njit
def _walk_branches(birth_node, death_node, up_arc, arc_up):
    """Branch decomposition: each pair's minimum climbs its up arcs until its death node (or, for
    an essential class, the root). Returns the branch of every arc, each branch's last arc (-1 if
    it has none) and top node, and 0, or the first pair whose walk is inconsistent, plus one."""
    branch_of_arc = np.full(arc_up.size, -1, np.int64)
    last_arc = np.full(birth_node.size, -1, np.int64)
    top_node = np.empty(birth_node.size, np.int64)
    for b in range(birth_node.size):
        n = birth_node[b]
        while True:
            a = up_arc[n]
            if a < 0:
                break
            if branch_of_arc[a] >= 0:
                return branch_of_arc, last_arc, top_node, b + 1
            branch_of_arc[a] = b
            last_arc[b] = a
            n = arc_up[a]
            if n == death_node[b]:
                break
        top_node[b] = n
        if n != death_node[b] and death_node[b] >= 0:
            return branch_of_arc, last_arc, top_node, b + 1
    return branch_of_arc, last_arc, top_node, 0


@dataclass(frozen=True)
class Branches:
    """Branch decomposition of a merge tree by the elder rule; branch b is pair (row) b.

    ``branch_of_arc``: the branch each arc belongs to. ``last_arc``: the arc by which a branch
    enters its death node (an essential branch: the arc into its root; -1 for a lone vertex).
    ``top_node``: death node, or the component's root. ``parent``: the branch a finite branch dies
    into (-1 for essential ones).
    """

    branch_of_arc: np.ndarray
    last_arc: np.ndarray
    top_node: np.ndarray
    parent: np.ndarray


def branch_decomposition(
    n_nodes: int, arc_down: np.ndarray, arc_up: np.ndarray, birth_node: np.ndarray, death_node: np.ndarray
) -> Branches:
    """Branches of a tree given by arcs (node ids, each node at most one up arc) and pairs
    (birth node, death node or -1). Raises ValueError when the pairs do not fit the tree."""
    up_arc = np.full(n_nodes, -1, np.int64)
    up_arc[arc_down] = np.arange(arc_down.size)
    branch_of_arc, last_arc, top_node, bad = _walk_branches(
        birth_node.astype(np.int64), death_node.astype(np.int64), up_arc, arc_up.astype(np.int64)
    )
    if bad:
        raise ValueError(
            f"pair {bad - 1} (birth node {birth_node[bad - 1]}, death node {death_node[bad - 1]}) "
            "does not follow the tree's arcs by the elder rule"
        )
    if (branch_of_arc < 0).any():
        raise ValueError(f"{(branch_of_arc < 0).sum()} arc(s) lie on no branch: the pairs do not cover the tree")
    finite = death_node >= 0
    # The branch that goes on through a node: the one entering it that does not die there.
    through = np.full(n_nodes, -1, np.int64)
    cont = death_node[branch_of_arc] != arc_up
    through[arc_up[cont]] = branch_of_arc[cont]
    parent = np.full(birth_node.size, -1, np.int64)
    parent[finite] = through[death_node[finite]]
    return Branches(branch_of_arc, last_arc, top_node, parent)


def assemble_topology(
    values, graph: str, node_vertex, arc_down_vertex, arc_up_vertex, vertex_arc, birth_vertex, death_vertex
) -> Topology:
    """A ``Topology`` in this package's conventions from any join tree of ``values``.

    The tree is given by its node vertices, its arcs as (lower vertex, upper vertex), for every
    regular vertex the index of its arc (entries at nodes and non-finite samples are ignored), and
    the elder-rule pairs (death vertex -1 for each component's essential class). Nodes are renumbered
    in the sweep order (value, then index), arcs by their lower node; node types follow from the arcs
    (no arc below: minimum; none above: root; two below: saddle; three or more: degenerate);
    segmentation, region sizes and basin sizes are recomputed. Raises ValueError when the input is not
    a merge tree with consistent pairs.
    """
    field = as_field(values)
    flat = field.reshape(-1)
    n = flat.size
    rank = np.full(n, -1, np.int64)
    rank[sweep_order(flat)] = np.arange(np.count_nonzero(np.isfinite(flat)))
    node_vertex = np.asarray(node_vertex, np.int64)
    if np.unique(node_vertex).size != node_vertex.size or (rank[node_vertex] < 0).any():
        raise ValueError("tree nodes must be distinct vertices with finite values")
    node_vertex = node_vertex[np.argsort(rank[node_vertex])]
    n_nodes = node_vertex.size
    node_of = np.full(n, -1, np.int64)
    node_of[node_vertex] = np.arange(n_nodes)

    down = node_of[np.asarray(arc_down_vertex, np.int64)]
    up = node_of[np.asarray(arc_up_vertex, np.int64)]
    if (down < 0).any() or (up < 0).any() or (rank[node_vertex[up]] <= rank[node_vertex[down]]).any():
        raise ValueError("every arc must join two tree nodes, from the lower to the higher in the sweep order")
    arc_order = np.argsort(down)
    if np.unique(down).size != down.size:
        raise ValueError("a tree node has more than one arc above it")
    new_arc = np.empty(down.size, np.int64)
    new_arc[arc_order] = np.arange(down.size)
    down, up = down[arc_order], up[arc_order]
    n_down = np.bincount(up, minlength=n_nodes)
    has_up = np.zeros(n_nodes, bool)
    has_up[down] = True
    if ((n_down == 1) & has_up).any():
        v = node_vertex[np.argmax((n_down == 1) & has_up)]
        raise ValueError(f"node at vertex {v} has one arc below and one above: a regular vertex, not a tree node")
    node_type = np.where(n_down == 0, MINIMUM, np.where(n_down == 2, SADDLE, DEGENERATE)).astype(np.int8)
    node_type[~has_up & (n_down > 0)] = ROOT

    birth_vertex = np.asarray(birth_vertex, np.int64)
    death_vertex = np.asarray(death_vertex, np.int64)
    essential = death_vertex < 0
    birth_node = node_of[birth_vertex]
    death_node = np.where(essential, -1, node_of[np.maximum(death_vertex, 0)])
    minima = np.flatnonzero(node_type == MINIMUM)
    if (birth_node < 0).any() or (death_node[~essential] < 0).any() or not np.array_equal(np.sort(birth_node), minima):
        raise ValueError("pairs must be born at the tree's minima, one pair per minimum, and die at tree nodes")
    br = branch_decomposition(n_nodes, down, up, birth_node, death_node)

    # Segmentation: regular vertices their arc; minima and saddles the arc above; a root the arc below
    # on the essential branch; -1 for non-finite samples and lone vertices.
    up_arc = np.full(n_nodes, -1, np.int64)
    up_arc[down] = np.arange(down.size)
    seg = np.full(n, -1, np.int64)
    regular = (rank >= 0) & (node_of < 0)
    vertex_arc = np.asarray(vertex_arc, np.int64).reshape(-1)
    if vertex_arc.size != n or (vertex_arc[regular] < 0).any() or (vertex_arc[regular] >= down.size).any():
        raise ValueError("every regular vertex needs the index of its arc")
    seg[regular] = new_arc[vertex_arc[regular]]
    seg[node_vertex] = up_arc
    ess_arc = np.flatnonzero(essential[br.branch_of_arc] & ~has_up[up])  # arcs into a root on the essential branch
    seg[node_vertex[up[ess_arc]]] = ess_arc
    region = np.bincount(seg[regular], minlength=down.size)

    node_up = np.full(n_nodes, -1, np.int64)  # per node: the node above and the regular samples between
    node_up[down] = up
    node_region = np.zeros(n_nodes, np.int64)
    node_region[down] = region
    below = subtree_sizes(down, node_up, node_region)
    has_arc = br.last_arc >= 0
    basin = np.ones(birth_node.size, np.int64)
    last = br.last_arc[has_arc]
    basin[has_arc] = np.where(essential[has_arc], below[up[last]], below[down[last]] + region[last])

    death_rank = np.where(essential, -1, rank[np.maximum(death_vertex, 0)])
    rows = np.lexsort((rank[birth_vertex], death_rank))  # essential classes first, then by (death, birth)
    pairs = PersistencePairs(
        birth_vertex=birth_vertex[rows],
        death_vertex=np.where(essential, -1, death_vertex)[rows],
        birth=flat[birth_vertex[rows]],
        death=np.where(essential, np.inf, flat[np.maximum(death_vertex, 0)])[rows],
        basin_size=basin[rows],
    )
    tree = MergeTree(
        node_vertex=node_vertex,
        node_value=flat[node_vertex],
        node_type=node_type,
        arc_down=down,
        arc_up=up,
        arc_region_size=region.astype(np.int64),
        segmentation=seg.astype(np.int32).reshape(field.shape),
    )
    return Topology(field=field, graph=graph, tree=tree, pairs=pairs)
