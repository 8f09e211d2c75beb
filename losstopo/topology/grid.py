"""Merge tree (join tree of sublevel sets) and 0-dim persistence of a scalar field on a grid graph.

The sweep order is (value, flat C-order index); non-finite samples are not vertices. Rather than
sorting all samples and running a union-find in that order (random memory access on every
neighbour read), the work is split into passes that stream through the grid in index order:

1. ``_classify``: each sample's steepest lower neighbour, minima, and saddle candidates (samples
   whose lower neighbours are not connected among themselves; every other sample is regular).
2. ``_descend``: the basin (minimum reached by steepest descent) of every sample.
3. ``_basin_edges`` + ``_join``: the basin graph (per pair of touching basins, the lowest candidate
   joining them, kept in a hash table), then a union-find over basins along its edges in sweep
   order gives the saddles, the tree's arcs and the elder-rule pairs.
4. ``_segment``: every sample is placed on its arc by walking the branch decomposition.

All loops are numba-compiled and cached (``losstopo.topology.jit``); the Python glue only touches per-node arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from losstopo.topology.jit import cached_njit
from losstopo.topology.stencils import flat_offsets, link_adjacency, stencil_steps, step_masks
from losstopo.topology.tree import (
    DEGENERATE,
    MINIMUM,
    ROOT,
    SADDLE,
    MergeTree,
    PersistencePairs,
    Topology,
    add_root,
    as_field,
    subtree_sizes,
)


@nb.njit(inline="always")
def _lower(x, u, fv, v):
    """(value, index) order: is sample u (value x) below sample v (value fv)? NaN is never below."""
    return x < fv or (x == fv and u < v)


@cached_njit
def _connected(bits, adj):
    """Are the steps in ``bits`` connected through the link edges ``adj``? (breadth-first on bits)"""
    comp = bits & (~bits + np.uint64(1))  # lowest set bit
    frontier = comp
    while frontier:
        grown = np.uint64(0)
        for j in range(adj.size):
            if (frontier >> np.uint64(j)) & np.uint64(1):
                grown |= adj[j]
        frontier = grown & bits & ~comp
        comp |= frontier
    return comp == bits


@cached_njit
def _link_table(adj):
    """``_connected`` for every subset of a stencil of at most 16 steps, as a lookup table."""
    table = np.zeros(1 << adj.size, np.bool_)
    for bits in range(1, table.size):
        table[bits] = _connected(np.uint64(bits), adj)
    return table


@nb.njit(inline="always")
def _next_sample(coord, shape):
    """Advance the C-order odometer ``coord`` (start: all 0 but the last axis at -1) to the next sample;
    returns its boundary masks: the axes where it sits at index 0 (low) and at the last index (high)."""
    a = shape.size - 1
    coord[a] += 1
    while coord[a] == shape[a]:
        coord[a] = 0
        a -= 1
        coord[a] += 1
    low = 0
    high = 0
    for a in range(shape.size):
        if coord[a] == 0:
            low |= 1 << a
        if coord[a] == shape[a] - 1:
            high |= 1 << a
    return low, high


@cached_njit
def _classify(f, shape, offsets, neg, pos, adj, table, dest):
    """One streaming pass over the grid: steepest lower neighbour of every finite sample (``dest``,
    itself for a minimum, -1 where non-finite) and its kind: 1 minimum, 2 saddle candidate (its
    lower neighbours are not connected among themselves, so it may join basins), 0 otherwise.

    With ``adj`` empty (stencils over 64 steps) every sample with two or more lower neighbours is a
    candidate. Interior samples take a branch-free path: steps are in lexicographic order, so on a
    grid with every axis >= 2 the first half of ``offsets`` is negative (lower index: ties count as
    lower) and the second half positive (ties count as higher).
    """
    m = offsets.size
    half = m // 2
    use_link = adj.size == m
    kind = np.zeros(f.size, np.uint8)
    coord = np.zeros(shape.size, np.int64)
    coord[-1] = -1
    for v in range(f.size):
        low, high = _next_sample(coord, shape)
        fv = f[v]
        if fv != fv:
            dest[v] = -1
            continue
        n_low = 0
        bits = np.uint64(0)
        if (low | high) == 0:
            bx = fv
            bj = -1
            for j in range(half - 1, -1, -1):  # descending: among equal values the smallest index wins
                x = f[v + offsets[j]]
                is_low = x <= fv
                n_low += is_low
                bits |= np.uint64(is_low) << np.uint64(j)
                better = x <= bx
                bx = x if better else bx
                bj = j if better else bj
            for j in range(half, m):
                x = f[v + offsets[j]]
                is_low = x < fv
                n_low += is_low
                bits |= np.uint64(is_low) << np.uint64(j)
                better = x < bx
                bx = x if better else bx
                bj = j if better else bj
            dest[v] = v if bj < 0 else v + offsets[bj]
        else:
            best = v
            bx = fv
            for j in range(m):
                if (neg[j] & low) != 0 or (pos[j] & high) != 0:
                    continue
                u = v + offsets[j]
                x = f[u]
                if _lower(x, u, fv, v):
                    n_low += 1
                    if use_link:
                        bits |= np.uint64(1) << np.uint64(j)
                    if _lower(x, u, bx, best):
                        best = u
                        bx = x
            dest[v] = best
        if n_low == 0:
            kind[v] = 1
        elif n_low >= 2:
            if not use_link:
                kind[v] = 2
            elif table.size > 0:
                if not table[bits]:
                    kind[v] = 2
            elif not _connected(bits, adj):
                kind[v] = 2
    return kind


@cached_njit
def _descend(dest, label):
    """Label every finite sample with the minimum its steepest-descent path reaches (minima are
    pre-labelled); each path is walked once and then remembered."""
    for v in range(dest.size):
        if label[v] >= 0 or dest[v] < 0:
            continue
        u = v
        while label[u] < 0:
            u = dest[u]
        lab = label[u]
        u = v
        while label[u] < 0:
            label[u] = lab
            u = dest[u]


@nb.njit(inline="always")
def _slot(key, bits):
    """Fibonacci hash of a non-negative int64 key into ``bits`` bits."""
    return np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))


@cached_njit
def _rehash(keys, wit, wit_value, bits):
    """The open-addressing table (keys -1 where empty; witness and its value) grown to ``bits`` bits."""
    new_keys = np.full(1 << bits, -1, np.int64)
    new_wit = np.empty(1 << bits, np.int64)
    new_value = np.empty(1 << bits)
    mask = (1 << bits) - 1
    for t in range(keys.size):
        if keys[t] >= 0:
            s = _slot(keys[t], bits)
            while new_keys[s] >= 0:
                s = (s + 1) & mask
            new_keys[s] = keys[t]
            new_wit[s] = wit[t]
            new_value[s] = wit_value[t]
    return new_keys, new_wit, new_value


@cached_njit
def _basin_edges(f, kind, shape, offsets, neg, pos, label, n_basins):
    """Edges of the basin graph: for each pair of basins (a < b), the lowest sample in sweep order that
    lies in one of them and has a lower neighbour in the other (its witness).

    Why it suffices: a sample's descent path stays in every sublevel set it is in, so a sublevel set's
    components are its basins joined by the samples in it that touch a lower neighbour of another
    basin, and only the first such sample per basin pair can merge anything. Only saddle candidates
    (``kind`` 2) are visited: any other sample's lower neighbours are joined through lower samples
    already. A neighbour's basin is read before its value, as most neighbours share the sample's.
    Samples come in index order, so the table keeps each pair's first witness unless a later one
    has a strictly lower value. Returns (a, b, witness) arrays, in no particular order.
    """
    m = offsets.size
    bits = 12
    keys = np.full(1 << bits, -1, np.int64)
    wit = np.empty(1 << bits, np.int64)
    wit_value = np.empty(1 << bits)
    count = 0
    coord = np.zeros(shape.size, np.int64)
    coord[-1] = -1
    for v in range(f.size):
        low, high = _next_sample(coord, shape)
        if kind[v] != 2:
            continue
        lv = np.int64(label[v])
        edge = low | high
        fv = f[v]
        for j in range(m):
            if edge != 0 and ((neg[j] & low) != 0 or (pos[j] & high) != 0):
                continue
            u = v + offsets[j]
            lu = np.int64(label[u])
            if lu == lv or lu < 0 or not _lower(f[u], u, fv, v):  # labels first: most are equal
                continue
            key = min(lu, lv) * n_basins + max(lu, lv)
            mask = keys.size - 1
            s = _slot(key, bits)
            while keys[s] >= 0 and keys[s] != key:
                s = (s + 1) & mask
            if keys[s] < 0:
                keys[s] = key
                wit[s] = v
                wit_value[s] = fv
                count += 1
                if 2 * count > keys.size:
                    bits += 1
                    keys, wit, wit_value = _rehash(keys, wit, wit_value, bits)
            elif fv < wit_value[s]:
                wit[s] = v
                wit_value[s] = fv
    used = np.flatnonzero(keys >= 0)
    return keys[used] // n_basins, keys[used] % n_basins, wit[used]


@cached_njit
def _join(n_minima, ptr, basins):
    """Union-find over basins at the witnesses of the basin graph, in sweep order; elder rule.

    Witness c joins the basins ``basins[ptr[c]:ptr[c + 1]]``. Basin ids are in sweep order, so the
    union-find root of a component is its oldest minimum and names the branch (of the branch
    decomposition) that survives. Node j < n_minima is minimum j; saddles follow in sweep order.
    Returns, per node, the witness index (-1 for minima), type, up
    node (-1 while open) and branch (the basin whose branch continues above it); per pair the dying
    basin, the death node, the node whose arc enters the death and the surviving (parent) branch;
    per basin its component root and, at roots, the component's open (topmost) node.
    """
    n_max = n_minima + ptr.size - 1
    node_cand = np.full(n_max, -1, np.int64)
    node_type = np.zeros(n_max, np.int8)
    node_up = np.full(n_max, -1, np.int64)
    node_branch = np.arange(n_max)
    parent = np.arange(n_minima)
    open_node = np.arange(n_minima)
    pair_birth = np.empty(n_minima, np.int64)
    pair_death = np.empty(n_minima, np.int64)
    pair_below = np.empty(n_minima, np.int64)
    pair_parent = np.empty(n_minima, np.int64)
    n_pairs = 0
    n_nodes = n_minima
    roots = np.empty(64, np.int64)
    for c in range(ptr.size - 1):
        nr = 0
        for t in range(ptr[c], ptr[c + 1]):
            r = basins[t]
            while parent[r] != r:
                parent[r] = parent[parent[r]]
                r = parent[r]
            roots, nr = add_root(roots, nr, r)
        if nr < 2:
            continue
        node = n_nodes
        n_nodes += 1
        node_cand[node] = c
        node_type[node] = SADDLE if nr == 2 else DEGENERATE
        if nr == 2 and roots[1] < roots[0]:
            roots[0], roots[1] = roots[1], roots[0]
        elif nr > 2:
            roots[:nr] = np.sort(roots[:nr])
        elder = roots[0]  # pairs come out ordered by (death, birth)
        for q in range(nr):
            r = roots[q]
            node_up[open_node[r]] = node
            if r != elder:
                pair_birth[n_pairs] = r
                pair_death[n_pairs] = node
                pair_below[n_pairs] = open_node[r]
                pair_parent[n_pairs] = elder
                n_pairs += 1
                parent[r] = elder
        node_branch[node] = elder
        open_node[elder] = node
    for r in range(n_minima):  # full compression: parent is now each basin's component root
        root = r
        while parent[root] != root:
            root = parent[root]
        parent[r] = root
    return (
        node_cand[:n_nodes],
        node_type[:n_nodes],
        node_up[:n_nodes],
        node_branch[:n_nodes],
        pair_birth[:n_pairs],
        pair_death[:n_pairs],
        pair_below[:n_pairs],
        pair_parent[:n_pairs],
        parent,
        open_node,
    )


@cached_njit
def _component_tops(f, label, comp_of_basin, n_basins):
    """Last sample in sweep order of each component (indexed by its root basin)."""
    top = np.full(n_basins, -1, np.int64)
    for v in range(f.size):
        lab = label[v]
        if lab < 0:
            continue
        c = comp_of_basin[lab]
        t = top[c]
        if t < 0 or f[v] >= f[t]:  # ties: v grows with the loop, so the later sample wins
            top[c] = v
    return top


@nb.njit(inline="always")
def _bucket(x, low, scale, n_buckets):
    """Bucket of value ``x``: ``(x/2 - low/2) * scale`` clamped to 0..n_buckets-1, ``scale`` being
    n_buckets over half the value range (see ``_bucket_index``).

    A non-decreasing function of ``x`` for any float64 input (each operation is correctly rounded,
    hence monotone; halving keeps a range of +-1.8e308 finite), so values in a lower bucket are
    strictly lower, which is all the search relies on. Degenerate scales only unbalance buckets:
    ``scale`` 0 (one distinct value) sends everything to the first bucket, ``scale`` inf (a
    subnormal range) the lowest value to the first (0 * inf is NaN) and the rest to the last; the
    result is always in range.
    """
    pos = (0.5 * x - 0.5 * low) * scale
    if not pos >= 0.0:  # below the range, or NaN
        return 0
    if pos >= n_buckets - 1:  # at or above the last bucket's edge, +inf included
        return n_buckets - 1
    return np.int64(pos)


@cached_njit
def _bucket_index(key, branch_ptr):
    """Per branch, a table over its value range: for bucket q, the last node whose own bucket is
    below q (or the branch's first node). Node and sample buckets come from the same monotone
    ``_bucket``, so a sample in bucket q lies above node ``start[q]`` and below every node after
    ``start[q + 1]``; with 2 buckets per node a search among a few nodes remains."""
    n_branches = branch_ptr.size - 1
    bucket_ptr = np.zeros(n_branches + 1, np.int64)
    for b in range(n_branches):
        bucket_ptr[b + 1] = bucket_ptr[b] + 2 * (branch_ptr[b + 1] - branch_ptr[b])
    start = np.empty(bucket_ptr[-1], np.int64)
    low = np.empty(n_branches)
    scale = np.zeros(n_branches)
    for b in range(n_branches):
        first, end = branch_ptr[b], branch_ptr[b + 1]
        top = first
        for i in range(first, end):
            if np.isfinite(key[i]):
                top = i
        n_buckets = bucket_ptr[b + 1] - bucket_ptr[b]
        low[b] = key[first]
        half_range = 0.5 * key[top] - 0.5 * key[first]  # finite for any finite keys
        if half_range > 0:
            scale[b] = n_buckets / half_range
        i = first
        for q in range(n_buckets):
            while i + 1 < end and _bucket(key[i + 1], low[b], scale[b], n_buckets) < q:
                i += 1
            start[bucket_ptr[b] + q] = i
    return bucket_ptr, start, low, scale


@cached_njit
def _segment(f, label, node_vertex, node_is_root, branch_nodes, branch_ptr, death_node, parent_branch, arc_of_node):
    """Arc of every sample (the segmentation), in one streaming pass.

    A sample with basin label b lies on the tree path from minimum b up to its root. That path
    follows branch b up to b's death saddle, then the branch b merged into, and so on: hop to the
    parent branch while the sample is at or above the current branch's death, then find the
    branch's highest node (nodes sorted in sweep order) at or below the sample; the sample is on
    that node's up arc. Roots count as +inf so that none is ever returned. Also returns the number of
    samples on each arc (nodes included). Branches nest only a
    few levels deep and a bucket index locates the node, so each sample costs a few steps.
    """
    key = np.empty(branch_nodes.size)
    vert = np.empty(branch_nodes.size, np.int64)
    for i in range(branch_nodes.size):
        vert[i] = node_vertex[branch_nodes[i]]
        key[i] = np.inf if node_is_root[branch_nodes[i]] else f[vert[i]]
    bucket_ptr, start, low, scale = _bucket_index(key, branch_ptr)
    # Everything the loop reads about a branch in one 64-byte row (integers are exact as float64), and
    # about a node in one 24-byte row: each hop or lookup touches one cache line, not five arrays.
    DEATH, DEATH_VERT, PARENT, LOW, SCALE, BUCKET0, N_BUCKETS, END = 0, 1, 2, 3, 4, 5, 6, 7
    br_row = np.zeros(8 * death_node.size)
    for b in range(death_node.size):
        r = 8 * b
        br_row[r + DEATH] = np.inf
        if death_node[b] >= 0:
            br_row[r + DEATH_VERT] = node_vertex[death_node[b]]
            br_row[r + DEATH] = f[node_vertex[death_node[b]]]
        br_row[r + PARENT] = parent_branch[b]
        br_row[r + LOW] = low[b]
        br_row[r + SCALE] = scale[b]
        br_row[r + BUCKET0] = bucket_ptr[b]
        br_row[r + N_BUCKETS] = bucket_ptr[b + 1] - bucket_ptr[b]
        br_row[r + END] = branch_ptr[b + 1]
    node_row = np.empty(3 * branch_nodes.size)  # per node: key, vertex, arc above
    for i in range(branch_nodes.size):
        node_row[3 * i] = key[i]
        node_row[3 * i + 1] = vert[i]
        node_row[3 * i + 2] = arc_of_node[branch_nodes[i]]
    seg = np.empty(f.size, np.int32)
    count = np.zeros(branch_nodes.size, np.int64)
    for v in range(f.size):
        br = label[v]
        if br < 0:
            seg[v] = -1
            continue
        fv = f[v]
        fvert = np.float64(v)
        r = br * 8
        while br_row[r + DEATH] < fv or (br_row[r + DEATH] == fv and br_row[r + DEATH_VERT] <= fvert):
            r = np.int64(br_row[r + PARENT]) * 8  # v is at or above this branch's death: go to its parent
        b0 = np.int64(br_row[r + BUCKET0])
        n_buckets = np.int64(br_row[r + N_BUCKETS])
        q = _bucket(fv, br_row[r + LOW], br_row[r + SCALE], n_buckets)
        i = start[b0 + q]
        hi = start[b0 + q + 1] if q + 1 < n_buckets else np.int64(br_row[r + END]) - 1  # the node is in [i, hi]
        n = hi - i + 1
        while n > 1:  # binary search (tied values share a bucket); invariant: node i is at or below v
            half = n >> 1
            x = node_row[3 * (i + half)]
            if x < fv or (x == fv and node_row[3 * (i + half) + 1] <= fvert):
                i += half
            n -= half
        arc = np.int64(node_row[3 * i + 2])
        seg[v] = arc
        if arc >= 0:  # -1: a one-sample component
            count[arc] += 1
    return seg, count


@cached_njit
def _merge(f, vertex, split):
    """Sweep order of ``vertex`` whose two runs ``[:split]`` and ``[split:]`` are each in sweep order."""
    out = np.empty(vertex.size, np.int64)
    i, j = 0, split
    for k in range(vertex.size):
        if j == vertex.size or (i < split and _lower(f[vertex[i]], vertex[i], f[vertex[j]], vertex[j])):
            out[k] = i
            i += 1
        else:
            out[k] = j
            j += 1
    return out


@cached_njit
def _group(items, keys, n_groups):
    """Counting sort: ``items`` grouped by ``keys[item]``, order kept within a group; group bounds."""
    ptr = np.zeros(n_groups + 1, np.int64)
    for it in items:
        ptr[keys[it] + 1] += 1
    for g in range(n_groups):
        ptr[g + 1] += ptr[g]
    fill = ptr[:-1].copy()
    out = np.empty(items.size, np.int64)
    for it in items:
        out[fill[keys[it]]] = it
        fill[keys[it]] += 1
    return out, ptr


@dataclass
class _Nodes:
    """The tree as built (node ids: minima, then saddles, then added roots), before renumbering."""

    minima: np.ndarray  # vertex of basin b (basins in sweep order)
    label: np.ndarray  # basin of every sample, -1 where non-finite
    vertex: np.ndarray
    type: np.ndarray
    up: np.ndarray
    branch: np.ndarray
    pair_basin: np.ndarray
    pair_death: np.ndarray
    pair_below: np.ndarray
    pair_parent: np.ndarray
    comp_roots: np.ndarray  # basin of each component's global minimum
    essential_node: np.ndarray  # each component's topmost node
    n_added: int  # roots added after the sweep (the last nodes)


def _build_nodes(work: np.ndarray, shape: tuple[int, ...], graph: str) -> _Nodes:
    """Passes 1-3: basins, saddles, arcs and pairs; then each component is closed at its last sample."""
    steps = stencil_steps(len(shape), graph)
    offsets = flat_offsets(shape, steps)
    neg, pos = step_masks(steps)
    adj = link_adjacency(steps) if len(steps) <= 64 else np.zeros(0, np.uint64)
    table = _link_table(adj) if len(steps) <= 16 else np.zeros(0, np.bool_)
    dims = np.array(shape, np.int64)

    dest = np.empty(work.size, np.int32 if work.size < np.iinfo(np.int32).max else np.int64)
    kind = _classify(work, dims, offsets, neg, pos, adj, table, dest)
    minima = np.flatnonzero(kind == 1)
    minima = minima[np.argsort(work[minima], kind="stable")]  # basin id = rank of its minimum
    label = np.full(work.size, -1, np.int32)
    label[minima] = np.arange(minima.size, dtype=np.int32)
    _descend(dest, label)
    del dest
    edge_a, edge_b, witness = _basin_edges(work, kind, dims, offsets, neg, pos, label, minima.size)
    del kind
    order = np.lexsort((witness, work[witness]))  # the witnesses in sweep order, grouped
    edge_a, edge_b, witness = edge_a[order], edge_b[order], witness[order]
    first = np.flatnonzero(np.diff(witness, prepend=-1) != 0)
    ptr = 2 * np.append(first, witness.size)
    basins = np.stack([edge_a, edge_b], axis=1).reshape(-1)
    (
        node_cand,
        node_type,
        node_up,
        node_branch,
        pair_basin,
        pair_death,
        pair_below,
        pair_parent,
        comp_of_basin,
        open_node,
    ) = _join(minima.size, ptr, basins)
    node_vertex = np.concatenate([minima, witness[first[node_cand[minima.size :]]]]).astype(np.int64)

    # Close every component at its last sample: a new root node, or its topmost node itself.
    comp_roots = np.flatnonzero(comp_of_basin == np.arange(minima.size))
    tops = _component_tops(work, label, comp_of_basin, minima.size)[comp_roots]
    topmost = open_node[comp_roots]
    is_new = node_vertex[topmost] != tops
    node_type[topmost[~is_new & (node_type[topmost] != MINIMUM)]] = ROOT
    added = np.flatnonzero(is_new)
    added = added[np.lexsort((tops[added], work[tops[added]]))]  # new roots, in sweep order
    new_ids = np.empty(comp_roots.size, np.int64)
    new_ids[added] = node_vertex.size + np.arange(added.size)
    node_up[topmost[added]] = new_ids[added]
    return _Nodes(
        minima=minima,
        label=label,
        vertex=np.concatenate([node_vertex, tops[added]]),
        type=np.concatenate([node_type, np.full(added.size, ROOT, np.int8)]),
        up=np.concatenate([node_up, np.full(added.size, -1, np.int64)]),
        branch=np.concatenate([node_branch, comp_roots[added]]),
        pair_basin=pair_basin,
        pair_death=pair_death,
        pair_below=pair_below,
        pair_parent=pair_parent,
        comp_roots=comp_roots,
        essential_node=np.where(is_new, new_ids, topmost),
        n_added=added.size,
    )


def compute_topology(field, graph: str = "freudenthal") -> Topology:
    """Merge tree, persistence pairs and segmentation of ``field`` on the ``graph`` stencil.

    Streaming passes over the grid and no global sort: steepest-descent basins; the basin graph
    (the lowest sample joining each pair of touching basins); a union-find over basins along its
    edges in sweep order; one pass putting every sample on its arc. The sweep order is (value, flat
    C-order index) throughout. ``field``: any real array with >= 1 axis (non-finite samples are
    holes); every finite float64 value works, subnormal to +-1.8e308. Raises ValueError for a 0-d
    or non-real array or an unknown ``graph``. Method: docs/topology.md.
    """
    values = as_field(field)
    flat = values.reshape(-1)
    finite = np.isfinite(flat)
    work = flat if finite.all() else np.where(finite, flat, np.nan)  # one non-finite marker: NaN
    nodes = _build_nodes(work, values.shape, graph)
    n_nodes = nodes.vertex.size

    # Final numbering: nodes in sweep order (merging the sorted runs minima, saddles, added roots),
    # arcs by their lower node.
    n_swept = n_nodes - nodes.n_added
    perm = _merge(work, nodes.vertex[:n_swept], nodes.minima.size)
    perm = np.concatenate([perm, np.arange(n_swept, n_nodes)])
    perm = perm[_merge(work, nodes.vertex[perm], n_swept)]
    new_id = np.empty_like(perm)
    new_id[perm] = np.arange(n_nodes)
    has_arc = nodes.up >= 0
    n_arcs = np.count_nonzero(has_arc)
    arcs = perm[has_arc[perm]]  # lower node of each arc, in arc order
    arc_of_node = np.full(n_nodes, -1, np.int64)
    arc_of_node[arcs] = np.arange(n_arcs)

    # Pass 4: segmentation; then regular samples per arc and basin sizes.
    branch_nodes, branch_ptr = _group(perm, nodes.branch, nodes.minima.size)
    death_node = np.full(nodes.minima.size, -1, np.int64)
    death_node[nodes.pair_basin] = nodes.pair_death
    parent_branch = np.full(nodes.minima.size, -1, np.int64)
    parent_branch[nodes.pair_basin] = nodes.pair_parent
    seg, on_arc = _segment(
        work,
        nodes.label,
        nodes.vertex,
        nodes.type == ROOT,
        branch_nodes,
        branch_ptr,
        death_node,
        parent_branch,
        arc_of_node,
    )
    node_seg = seg[nodes.vertex]
    region = np.zeros(n_nodes, np.int64)  # regular samples on each node's up arc
    region[arcs] = on_arc[:n_arcs] - np.bincount(node_seg[node_seg >= 0], minlength=n_arcs)
    below = subtree_sizes(arcs, nodes.up, region)
    tree = MergeTree(
        node_vertex=nodes.vertex[perm],
        node_value=flat[nodes.vertex[perm]],
        node_type=nodes.type[perm],
        arc_down=new_id[arcs],
        arc_up=new_id[nodes.up[arcs]],
        arc_region_size=region[arcs],
        segmentation=seg.reshape(values.shape),
    )

    # Essential classes (in birth order), then the pairs as _join made them: by (death, birth).
    birth_vertex = nodes.minima[np.concatenate([nodes.comp_roots, nodes.pair_basin])].astype(np.int64)
    death_node = np.concatenate([np.full(nodes.comp_roots.size, -1), nodes.pair_death])
    essential = death_node < 0
    death_vertex = np.where(essential, -1, nodes.vertex[death_node])
    pairs = PersistencePairs(
        birth_vertex=birth_vertex,
        death_vertex=death_vertex,
        birth=flat[birth_vertex],
        death=np.where(essential, np.inf, flat[death_vertex]),
        basin_size=np.concatenate([below[nodes.essential_node], below[nodes.pair_below] + region[nodes.pair_below]]),
    )
    return Topology(field=values, graph=graph, tree=tree, pairs=pairs)
