"""Merge tree, 0-dim persistence and segmentation on any graph; the k-NN graph of scattered samples.

The grid engine (``mergetree.py``) streams through a grid with a stencil. Scattered samples have no
grid, so here the landscape is a lower-star filtration of an arbitrary undirected graph given as a
sparse adjacency matrix: a union-find sweep over the vertices in (value, index) order (numba), the
same rule the grid engine follows. ``assemble_topology`` turns any merge tree given as nodes, arcs, a
per-vertex arc and elder-rule pairs (ours, or TTK's) into the same ``Topology`` dataclasses, with
the same numbering, segmentation conventions, region and basin sizes, so ``summarize``,
``write_topology`` and the profile work unchanged. Semantics: docs/topology.md, docs/profile.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from scipy import sparse

from losstopo.topology.graph import stencil_steps
from losstopo.topology.mergetree import (
    DEGENERATE,
    MINIMUM,
    ROOT,
    SADDLE,
    MergeTree,
    PersistencePairs,
    Topology,
    _add_root,
    _as_field,
    _subtree_sizes,
)


def default_k(dim: int) -> int:
    """The papers' neighbourhood size: k = 4n for samples in an n-dimensional subspace."""
    return 4 * int(dim)


def _check_points(points) -> np.ndarray:
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] < 1:
        raise ValueError(f"points must be an (N, n) array of coordinates, got shape {pts.shape}")
    if pts.dtype.kind not in "biuf":
        raise ValueError(f"points must be real-valued, got dtype {pts.dtype}")
    pts = np.ascontiguousarray(pts, dtype=np.float64)
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise ValueError(f"points: {bad.sum()} sample(s) have non-finite coordinates, e.g. sample {np.argmax(bad)}")
    order = np.lexsort(pts.T[::-1])
    same = np.flatnonzero((pts[order[1:]] == pts[order[:-1]]).all(axis=1))
    if same.size:
        i, j = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        raise ValueError(f"points: {same.size} duplicate sample(s), e.g. samples {i} and {j} both at "
                         f"{pts[i].tolist()}; a k-NN graph needs distinct points")
    return pts


def knn_graph(points, k: int | None = None) -> sparse.csr_matrix:
    """Symmetrised exact k-nearest-neighbour graph: u ~ v when v is among u's k nearest or u among v's.

    ``k`` defaults to 4n (n = number of coordinates). Distances are Euclidean (cKDTree, exact).
    Raises ValueError for duplicate or non-finite points and for k outside 1..N-1. Returns a
    symmetric CSR matrix with sorted indices and no diagonal.
    """
    pts = _check_points(points)
    n_points, dim = pts.shape
    k = default_k(dim) if k is None else int(k)
    if not 1 <= k < n_points:
        raise ValueError(f"knn: k={k} must be between 1 and the number of samples minus one ({n_points - 1})")
    from scipy.spatial import cKDTree  # imported here: grid landscapes never pay for scipy.spatial

    _, idx = cKDTree(pts).query(pts, k=k + 1)  # distinct points: each sample is its own unique nearest
    rows = np.repeat(np.arange(n_points), k)
    adj = sparse.csr_matrix((np.ones(rows.size, np.int8), (rows, idx[:, 1:].ravel())), shape=(n_points,) * 2)
    adj = (adj + adj.T).tocsr()
    adj.sort_indices()
    return adj


def grid_adjacency(shape: tuple[int, ...], graph: str) -> sparse.csr_matrix:
    """The adjacency of a grid stencil (``axis``, ``freudenthal``, ``full``) over C-order flat indices.

    Built from coordinates, independently of the grid engine's flat offsets; used to run the graph
    engine or TTK's line-cell input on a grid.
    """
    shape = tuple(int(s) for s in shape)
    coords = np.indices(shape).reshape(len(shape), -1).T
    rows, cols = [], []
    for step in stencil_steps(len(shape), graph):
        nb_ = coords + step
        ok = np.all((nb_ >= 0) & (nb_ < shape), axis=1)
        rows.append(np.flatnonzero(ok))
        cols.append(np.ravel_multi_index(nb_[ok].T, shape))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    n = int(np.prod(shape))
    adj = sparse.csr_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(n, n))
    adj.sort_indices()
    return adj


def _symmetric_csr(adjacency, n: int) -> sparse.csr_matrix:
    coo = sparse.coo_matrix(adjacency)
    if coo.shape != (n, n):
        raise ValueError(f"the adjacency matrix has shape {coo.shape}; expected ({n}, {n}), one row per sample")
    coo.sum_duplicates()  # repeated entries are one matrix entry: an edge when their sum is nonzero
    keep = (coo.row != coo.col) & (coo.data != 0)
    rows = np.concatenate([coo.row[keep], coo.col[keep]])
    cols = np.concatenate([coo.col[keep], coo.row[keep]])
    adj = sparse.csr_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(n, n))
    adj.sum_duplicates()
    return adj


def sweep_order(flat: np.ndarray) -> np.ndarray:
    """Finite samples in the sweep order: by value, ties by the lower index."""
    idx = np.flatnonzero(np.isfinite(flat))
    return idx[np.lexsort((idx, flat[idx]))]


@nb.njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@nb.njit(cache=True)
def _sweep(order, indptr, indices, n):
    """Union-find over the vertices in sweep order; a component's union-find root is its first
    (lowest) vertex, so the elder at a merge is the root of least rank.

    Returns the node vertices (creation order), each node's up node (-1 while none), for every
    vertex the node whose up arc it lies on (regular vertices; -1 otherwise), the finite pairs
    (birth vertex, death vertex) in (death, birth) order, and each component's root vertex.
    """
    rank = np.full(n, -1, np.int64)
    for i in range(order.size):
        rank[order[i]] = i
    parent = np.full(n, -1, np.int64)
    open_node = np.full(n, -1, np.int64)  # at a union-find root: the component's topmost node so far
    node_vertex = np.empty(order.size + 1, np.int64)
    node_up = np.full(order.size + 1, -1, np.int64)
    seg_node = np.full(n, -1, np.int64)
    pair_birth = np.empty(order.size, np.int64)
    pair_death = np.empty(order.size, np.int64)
    roots = np.empty(16, np.int64)
    n_nodes = 0
    n_pairs = 0
    for i in range(order.size):
        v = order[i]
        nr = 0
        for t in range(indptr[v], indptr[v + 1]):
            u = indices[t]
            if rank[u] < 0 or rank[u] >= i:  # not a vertex, or above v
                continue
            r = _find(parent, u)
            roots, nr = _add_root(roots, nr, r)
        if nr == 0:  # a minimum
            parent[v] = v
            node_vertex[n_nodes] = v
            open_node[v] = n_nodes
            n_nodes += 1
        elif nr == 1:  # regular: extends its component
            parent[v] = roots[0]
            seg_node[v] = open_node[roots[0]]
        else:  # a saddle: the elder (lowest root) survives, the others die here
            for q in range(1, nr):  # insertion sort by rank: pairs come out by (death, birth)
                r = roots[q]
                p = q - 1
                while p >= 0 and rank[roots[p]] > rank[r]:
                    roots[p + 1] = roots[p]
                    p -= 1
                roots[p + 1] = r
            node = n_nodes
            n_nodes += 1
            node_vertex[node] = v
            elder = roots[0]
            for q in range(nr):
                r = roots[q]
                node_up[open_node[r]] = node
                if q > 0:
                    pair_birth[n_pairs] = r
                    pair_death[n_pairs] = v
                    n_pairs += 1
                    parent[r] = elder
            parent[v] = elder
            open_node[elder] = node
    # Close each component at its last vertex: a new root node unless that vertex is already a node.
    last = np.full(n, -1, np.int64)
    for i in range(order.size):
        v = order[i]
        last[_find(parent, v)] = v
    comp = np.empty(order.size, np.int64)
    n_comp = 0
    extra = np.empty(order.size, np.int64)
    n_extra = 0
    for i in range(order.size):
        r = order[i]
        if parent[r] != r:
            continue
        comp[n_comp] = r
        n_comp += 1
        t = open_node[r]
        if node_vertex[t] != last[r]:
            extra[n_extra] = last[r]
            node_up[t] = n_nodes + n_extra
            n_extra += 1
    for e in range(n_extra):
        node_vertex[n_nodes + e] = extra[e]
    n_nodes += n_extra
    return node_vertex[:n_nodes], node_up[:n_nodes], seg_node, pair_birth[:n_pairs], pair_death[:n_pairs], comp[:n_comp]


def graph_topology(values, adjacency, graph: str = "knn") -> Topology:
    """Merge tree, persistence pairs and segmentation of ``values`` on an undirected graph.

    ``values`` (N,) or any shape (flattened in C order: vertex = flat index); ``adjacency`` an (N, N)
    scipy sparse matrix whose nonzero pattern is the edge set (symmetrised here; the diagonal, i.e.
    self-loops, is ignored; repeated COO entries count once, by their sum). Non-finite values are not
    vertices; a vertex without finite neighbours is a minimum alone in its component (no arc), as a
    one-sample grid is. An empty or all-non-finite input gives an empty tree. ``graph`` is the name recorded in the result.
    A disconnected graph gives one essential class (and one root) per component.
    """
    field = _as_field(values)
    flat = field.reshape(-1)
    adj = _symmetric_csr(adjacency, flat.size)
    order = sweep_order(flat)
    node_vertex, node_up, seg_node, pair_birth, pair_death, comp = _sweep(
        order, adj.indptr.astype(np.int64), adj.indices.astype(np.int64), flat.size)
    has_up = node_up >= 0
    arc_of_node = np.full(node_vertex.size, -1, np.int64)
    arc_of_node[has_up] = np.arange(np.count_nonzero(has_up))
    vertex_arc = np.full(flat.size, -1, np.int64)
    vertex_arc[seg_node >= 0] = arc_of_node[seg_node[seg_node >= 0]]
    return assemble_topology(
        field, graph, node_vertex,
        arc_down_vertex=node_vertex[has_up], arc_up_vertex=node_vertex[node_up[has_up]], vertex_arc=vertex_arc,
        birth_vertex=np.concatenate([comp, pair_birth]),
        death_vertex=np.concatenate([np.full(comp.size, -1, np.int64), pair_death]))


# ---------------------------------------------------------------- trees from nodes, arcs and pairs


@nb.njit(cache=True)
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


def branch_decomposition(n_nodes: int, arc_down: np.ndarray, arc_up: np.ndarray, birth_node: np.ndarray,
                         death_node: np.ndarray) -> Branches:
    """Branches of a tree given by arcs (node ids, each node at most one up arc) and pairs
    (birth node, death node or -1). Raises ValueError when the pairs do not fit the tree."""
    up_arc = np.full(n_nodes, -1, np.int64)
    up_arc[arc_down] = np.arange(arc_down.size)
    branch_of_arc, last_arc, top_node, bad = _walk_branches(
        birth_node.astype(np.int64), death_node.astype(np.int64), up_arc, arc_up.astype(np.int64))
    if bad:
        raise ValueError(f"pair {bad - 1} (birth node {birth_node[bad - 1]}, death node {death_node[bad - 1]}) "
                         "does not follow the tree's arcs by the elder rule")
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


def assemble_topology(values, graph: str, node_vertex, arc_down_vertex, arc_up_vertex, vertex_arc, birth_vertex,
                      death_vertex) -> Topology:
    """A ``Topology`` in this package's conventions from any join tree of ``values``.

    The tree is given by its node vertices, its arcs as (lower vertex, upper vertex), for every
    regular vertex the index of its arc (entries at nodes and non-finite samples are ignored), and
    the elder-rule pairs (death vertex -1 for each component's essential class). Nodes are renumbered
    in the sweep order (value, then index), arcs by their lower node; node types follow from the arcs
    (no arc below: minimum; none above: root; two below: saddle; three or more: degenerate);
    segmentation, region sizes and basin sizes are recomputed. Raises ValueError when the input is not
    a merge tree with consistent pairs.
    """
    field = _as_field(values)
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
    below = _subtree_sizes(down, node_up, node_region)
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
