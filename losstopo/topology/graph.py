"""Merge tree, 0-dim persistence and segmentation on any undirected graph (the graph engine).

The grid engine (``losstopo.topology.grid``) streams through a grid with a stencil. Scattered samples
have no grid, so here the landscape is a lower-star filtration of an arbitrary undirected graph given as
a sparse adjacency matrix: a union-find sweep over the vertices in (value, index) order (numba), the
same rule the grid engine follows, then ``assemble_topology``. ``grid_adjacency`` gives a grid stencil's
graph, to run this engine or TTK on a grid. Semantics: docs/topology.md, docs/profile.md.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from losstopo.topology.jit import cached_njit
from losstopo.topology.stencils import stencil_steps
from losstopo.topology.tree import Topology, add_root, as_field, assemble_topology, sweep_order


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


@cached_njit
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@cached_njit
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
            roots, nr = add_root(roots, nr, r)
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
    one-sample grid is. An empty or all-non-finite input gives an empty tree. ``graph`` is the name recorded in
    the result.
    A disconnected graph gives one essential class (and one root) per component.
    """
    field = as_field(values)
    flat = field.reshape(-1)
    adj = _symmetric_csr(adjacency, flat.size)
    order = sweep_order(flat)
    node_vertex, node_up, seg_node, pair_birth, pair_death, comp = _sweep(
        order, adj.indptr.astype(np.int64), adj.indices.astype(np.int64), flat.size
    )
    has_up = node_up >= 0
    arc_of_node = np.full(node_vertex.size, -1, np.int64)
    arc_of_node[has_up] = np.arange(np.count_nonzero(has_up))
    vertex_arc = np.full(flat.size, -1, np.int64)
    vertex_arc[seg_node >= 0] = arc_of_node[seg_node[seg_node >= 0]]
    return assemble_topology(
        field,
        graph,
        node_vertex,
        arc_down_vertex=node_vertex[has_up],
        arc_up_vertex=node_vertex[node_up[has_up]],
        vertex_arc=vertex_arc,
        birth_vertex=np.concatenate([comp, pair_birth]),
        death_vertex=np.concatenate([np.full(comp.size, -1, np.int64), pair_death]),
    )
