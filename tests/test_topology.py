"""The topology engine against gudhi, ripser, a plain-Python union-find, and hand-made trees."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import gudhi
import numpy as np
import pytest
from ripser import ripser
from scipy import sparse

from losstopo import cli
from losstopo.topology import (
    DEGENERATE,
    MINIMUM,
    ROOT,
    SADDLE,
    compute_topology,
    read_topology,
    stencil_steps,
    summarize,
    write_topology,
)
from losstopo.topology.stencils import flat_offsets

GRAPHS = ("axis", "freudenthal", "full")


def finite_pairs(pairs, decimals=9):
    """Multiset of finite (birth, death) pairs with positive persistence, rounded for comparison."""
    return Counter((round(float(b), decimals), round(float(d), decimals)) for b, d in pairs if np.isfinite(d) and d > b)


def ours(f, graph):
    topo = compute_topology(f, graph)
    p = topo.pairs
    return finite_pairs(zip(p.birth, p.death)), int(p.essential.sum())


def gudhi_pairs(cc):
    cc.persistence(homology_coeff_field=2, min_persistence=-1)
    dgm = cc.persistence_intervals_in_dimension(0)
    return finite_pairs(dgm), int(np.isinf(dgm[:, 1]).sum())


def grid_edges(shape, graph):
    """Edges of the stencil graph, built from coordinates (independent of flat offsets)."""
    coords = np.indices(shape).reshape(len(shape), -1).T
    us, vs = [], []
    for d in stencil_steps(len(shape), graph):
        nb = coords + d
        ok = np.all((nb >= 0) & (nb < shape), axis=1)
        us.append(np.flatnonzero(ok))
        vs.append(np.ravel_multi_index(nb[ok].T, shape))
    u, v = np.concatenate(us), np.concatenate(vs)
    return u[u < v], v[u < v]


def ripser_pairs(f, graph):
    """Lower-star 0-dim persistence by ripser: vertex values on the diagonal, max on edges."""
    flat = f.ravel()
    keep = np.isfinite(flat)
    index = np.cumsum(keep) - 1
    u, v = grid_edges(f.shape, graph)
    both = keep[u] & keep[v]
    u, v = index[u[both]], index[v[both]]
    vals = flat[keep]
    assert np.all(vals > 0)  # a zero entry would vanish from the sparse matrix
    n = vals.size
    rows = np.concatenate([np.arange(n), u])
    cols = np.concatenate([np.arange(n), v])
    data = np.concatenate([vals, np.maximum(vals[u], vals[v])])
    dgm = ripser(sparse.coo_matrix((data, (rows, cols)), shape=(n, n)), distance_matrix=True, maxdim=0)["dgms"][0]
    return finite_pairs(dgm), int(np.isinf(dgm[:, 1]).sum())


def f32_field(rng, shape, ties=False):
    """Positive values exact in float32 (ripser computes in float32); optionally with many ties."""
    return rng.integers(1, 7, size=shape) * 1.0 if ties else rng.integers(1, 2**20, size=shape) / 1024


# ---------------------------------------------------------------- stencils


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_neighbour_counts(k):
    counts = {g: len(stencil_steps(k, g)) for g in GRAPHS}
    assert counts == {"axis": 2 * k, "freudenthal": 2 * (2**k - 1), "full": 3**k - 1}
    for g in GRAPHS:
        steps = stencil_steps(k, g)
        assert {tuple(d) for d in steps} == {tuple(-d) for d in steps}  # symmetric
        offsets = flat_offsets((4,) * k, steps)
        assert np.all(np.diff(offsets) > 0) and np.all(offsets[: len(offsets) // 2] < 0)


def test_freudenthal_is_ttk_triangulation():
    assert {tuple(d) for d in stencil_steps(2, "freudenthal")} == {(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)}
    steps3 = {tuple(d) for d in stencil_steps(3, "freudenthal")}
    for d in itertools.product((-1, 0, 1), repeat=3):
        flipped = (d[0], d[1], -d[2])
        expect = any(d) and (set(flipped) <= {0, 1} or set(flipped) <= {0, -1})
        assert (d in steps3) == expect


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown graph"):
        compute_topology(np.zeros((3, 3)), "hex")
    with pytest.raises(ValueError, match="0-d"):
        compute_topology(np.float64(1.0))
    with pytest.raises(ValueError, match="real-valued"):
        compute_topology(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="threshold"):
        summarize(compute_topology(np.arange(4.0)), threshold=-0.1)


# ---------------------------------------------------------------- independent references


@pytest.mark.parametrize("shape", [(17, 13), (7, 6, 5), (5, 4, 4, 3)])
@pytest.mark.parametrize("ties", [False, True])
def test_axis_equals_gudhi_vertices(shape, ties):
    rng = np.random.default_rng(len(shape) + 10 * ties)
    for _ in range(3):
        f = f32_field(rng, shape, ties)
        assert ours(f, "axis") == gudhi_pairs(gudhi.CubicalComplex(vertices=f))


@pytest.mark.parametrize("shape", [(17, 13), (7, 6, 5), (5, 4, 4, 3)])
@pytest.mark.parametrize("ties", [False, True])
def test_full_equals_gudhi_top_cells(shape, ties):
    rng = np.random.default_rng(100 + len(shape) + 10 * ties)
    for _ in range(3):
        f = f32_field(rng, shape, ties)
        assert ours(f, "full") == gudhi_pairs(gudhi.CubicalComplex(top_dimensional_cells=f))


@pytest.mark.parametrize("shape", [(40,), (12, 11), (6, 5, 7), (4, 3, 4, 3), (3, 3, 2, 3, 3)])
@pytest.mark.parametrize("graph", GRAPHS)
def test_equals_ripser_lower_star(shape, graph):
    rng = np.random.default_rng([len(shape), GRAPHS.index(graph)])
    for ties in (False, True):
        f = f32_field(rng, shape, ties)
        assert ours(f, graph) == ripser_pairs(f, graph)


@pytest.mark.parametrize("graph", GRAPHS)
def test_nonfinite_equals_ripser_on_the_finite_subgraph(graph):
    rng = np.random.default_rng(7)
    for shape in [(30,), (9, 8), (5, 5, 4)]:
        f = f32_field(rng, shape)
        f[rng.random(shape) < 0.25] = np.nan
        f[rng.random(shape) < 0.05] = -np.inf
        f[rng.random(shape) < 0.05] = np.inf
        assert ours(f, graph) == ripser_pairs(f, graph)


def reference_tree(f, graph):
    """Plain-Python union-find sweep in (value, index) order, written for clarity, not speed.

    Returns {vertex: type}, {(down vertex, up vertex, regular count)}, {vertex: arc's down vertex or
    None} and {(birth vertex, death vertex or -1, basin size)}.
    """
    flat, shape = f.ravel(), f.shape
    steps = stencil_steps(f.ndim, graph)
    order = sorted(np.flatnonzero(np.isfinite(flat)).tolist(), key=lambda v: (flat[v], v))
    parent, open_arc, size, below_elder = {}, {}, {}, {}
    types, up, seg, pairs = {}, {}, {}, set()

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for v in order:
        c = np.array(np.unravel_index(v, shape))
        nbs = [int(np.ravel_multi_index(c + d, shape)) for d in steps if np.all((c + d >= 0) & (c + d < shape))]
        roots = {find(u) for u in nbs if u in parent}  # processed before v: lower in the order
        parent[v] = v
        if len(roots) == 1:
            (r,) = roots
            parent[v], seg[v] = r, open_arc[r]
            size[r] += 1
            continue
        types[v], seg[v], size[v], root = MINIMUM, v, 1, v
        if roots:
            types[v] = SADDLE if len(roots) == 2 else DEGENERATE
            root = min(roots, key=lambda r: (flat[r], r))  # elder rule
            for r in roots:
                up[open_arc[r]] = v
                if r != root:
                    pairs.add((r, v, size[r]))
                    parent[r] = root
            below_elder[v] = open_arc[root]
            parent[v], size[root] = root, 1 + sum(size[r] for r in roots)
        open_arc[root] = v
    for r in [v for v in parent if parent[v] == v]:
        members = [u for u in parent if find(u) == r]
        top, node = max(members, key=lambda u: (flat[u], u)), open_arc[r]
        pairs.add((r, -1, len(members)))
        if top != node:
            types[top], up[node] = ROOT, top
        elif types[node] == MINIMUM:
            seg[top] = None
        else:
            types[top], seg[top] = ROOT, below_elder[top]
    regular = Counter(seg[v] for v in parent if v not in types)
    arcs = {(d, u, regular[d]) for d, u in up.items()}
    return types, arcs, seg, pairs


def engine_tree(f, graph):
    topo = compute_topology(f, graph)
    t, p = topo.tree, topo.pairs
    types = dict(zip(t.node_vertex.tolist(), t.node_type.tolist()))
    arcs = set(zip(t.node_vertex[t.arc_down].tolist(), t.node_vertex[t.arc_up].tolist(), t.arc_region_size.tolist()))
    flat_seg = t.segmentation.ravel()
    seg = {
        v: (int(t.node_vertex[t.arc_down[a]]) if a >= 0 else None)
        for v, a in enumerate(flat_seg.tolist())
        if np.isfinite(f.flat[v])
    }
    pairs = set(zip(p.birth_vertex.tolist(), p.death_vertex.tolist(), p.basin_size.tolist()))
    assert np.all(flat_seg[~np.isfinite(f.ravel())] == -1)
    assert t.arc_region_size.sum() + t.n_nodes == np.isfinite(f).sum()
    return types, arcs, seg, pairs


@pytest.mark.parametrize("graph", GRAPHS)
def test_tree_segmentation_and_basins_equal_reference(graph):
    rng = np.random.default_rng(3)
    for shape in [(25,), (7, 6), (4, 5, 3), (3, 3, 3, 3)]:
        for ties, holes in [(False, False), (True, False), (True, True)]:
            f = f32_field(rng, shape, ties)
            if holes:
                f[rng.random(shape) < 0.2] = np.nan
            assert engine_tree(f, graph) == reference_tree(f, graph)


# ---------------------------------------------------------------- extreme magnitudes (issue 12, fault 2)

BIG = np.finfo(np.float64).max
EXTREMES = np.array(
    [
        0.0,
        -0.0,
        5e-324,
        -5e-324,
        1e-323,
        1e-308,
        -1e-308,
        2.2250738585072014e-308,
        1e-300,
        1.0,
        -1.0,
        1e300,
        1e308,
        -1e308,
        np.nextafter(BIG, 0),
        -np.nextafter(BIG, 0),
        BIG,
        -BIG,
    ]
)


def extreme_fields(rng, shape):
    """Fields whose value ranges underflow (subnormals), overflow (+-1.8e308) or are constant, with ties."""
    g = rng.standard_normal(shape)
    g /= np.abs(g).max()
    yield EXTREMES[rng.integers(0, EXTREMES.size, shape)]  # every magnitude at once, many ties
    yield EXTREMES[rng.integers(0, 5, shape)]  # zeros of both signs and the smallest subnormals
    yield g * BIG  # the whole float64 range
    yield g * 1e-310  # subnormal only
    yield np.where(rng.random(shape) < 0.5, g * 1e-310, g * 1e307)
    yield rng.integers(-2, 3, shape) * (BIG / 2)
    yield np.full(shape, -BIG)


@pytest.mark.parametrize(
    "field, seg, pairs",
    [
        ([0.0, 1e-308, 0.0, 1.0], [0, 2, 1, 2], [(0.0, 1e-308)]),
        ([-1e308, 1e308, -1e308], [0, 0, 1], [(-1e308, 1e308)]),
        ([-BIG, BIG, 0.0, BIG, -BIG], [0, 3, 2, 3, 1], [(0.0, BIG), (-BIG, BIG)]),
        ([5e-324, 0.0, -0.0, 5e-324, 1e-323, 0.0], [0, 0, 0, 0, 0, 1], [(0.0, 1e-323)]),
    ],
)
def test_extreme_magnitudes_known_trees(field, seg, pairs):
    topo = compute_topology(np.array(field), "axis")
    p = topo.pairs
    assert topo.tree.segmentation.tolist() == seg
    assert list(zip(p.birth[~p.essential].tolist(), p.death[~p.essential].tolist())) == pairs


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_extreme_magnitudes_summary(threshold):
    """A persistence of 2e308 overflows to inf but is still kept by the simplification (it is the whole range)."""
    s = summarize(compute_topology(np.array([-1e308, 1e308, -1e308]), "axis"), threshold=threshold)
    assert (s["n_pairs"], s["n_pairs_simplified"], s["max_persistence_simplified"]) == (1, 1, np.inf)
    tiny = summarize(compute_topology(np.array([0.0, 5e-324, 0.0, 1e-323]), "axis"), threshold=threshold)
    assert (tiny["n_pairs"], tiny["n_pairs_simplified"]) == (1, 1)


@pytest.mark.parametrize("graph", GRAPHS)
def test_extreme_magnitudes_equal_references(graph):
    """Every array against the plain union-find (small fields) and the graph engine's sorted sweep
    (which shares no bucketing with the grid engine), pairs against gudhi; 1-D to 4-D."""
    from losstopo.topology.graph import graph_topology, grid_adjacency

    rng = np.random.default_rng(GRAPHS.index(graph))
    for shape in [(1,), (2,), (37,), (9, 8), (1, 7), (5, 4, 6), (4, 3, 3, 4), (6, 6, 6, 6)]:
        adj = grid_adjacency(shape, graph)
        for f in extreme_fields(rng, shape):
            topo = compute_topology(f, graph)
            other = graph_topology(f, adj, graph)
            for name in ("node_vertex", "node_type", "arc_down", "arc_up", "arc_region_size", "segmentation"):
                assert np.array_equal(getattr(topo.tree, name), getattr(other.tree, name)), name
            for name in ("birth_vertex", "death_vertex", "basin_size"):
                assert np.array_equal(getattr(topo.pairs, name), getattr(other.pairs, name)), name
            if f.size <= 150:
                assert engine_tree(f, graph) == reference_tree(f, graph)
            if graph == "axis":
                dgm = gudhi_pairs(gudhi.CubicalComplex(vertices=f))
                assert ours(f, graph) == dgm


# ---------------------------------------------------------------- hand-made trees


def tree_of(f, graph="axis"):
    t = compute_topology(np.asarray(f, float), graph).tree
    nodes = dict(zip(t.node_vertex.tolist(), t.node_type.tolist()))
    arcs = {
        (int(t.node_vertex[d]), int(t.node_vertex[u])): int(r)
        for d, u, r in zip(t.arc_down, t.arc_up, t.arc_region_size)
    }
    seg = [int(t.node_vertex[t.arc_down[a]]) if a >= 0 else None for a in t.segmentation.ravel()]
    return nodes, arcs, seg


def test_one_basin():
    x = np.arange(-3, 4)
    f = (x[:, None] ** 2 + 2 * x[None, :] ** 2 + 0.01 * x[None, :] + 0.001 * x[:, None]).astype(float)
    for graph in GRAPHS:
        nodes, arcs, seg = tree_of(f, graph)
        assert nodes == {24: MINIMUM, 48: ROOT}
        assert arcs == {(24, 48): f.size - 2}
        assert set(seg) == {24}
    s = summarize(compute_topology(f))
    got = (s["n_minima"], s["n_saddles"], s["n_pairs"], s["avg_persistence"], s["total_persistence"])
    assert got == (1, 0, 0, 0.0, 0.0)
    assert s["basin_sizes_top"] == [f.size]


def test_two_basins():
    nodes, arcs, seg = tree_of([0, 3, 1, 2, 5])
    assert nodes == {0: MINIMUM, 2: MINIMUM, 1: SADDLE, 4: ROOT}
    assert arcs == {(0, 1): 0, (2, 1): 1, (1, 4): 0}
    assert seg == [0, 1, 2, 2, 1]
    p = compute_topology(np.array([0, 3, 1, 2, 5.0])).pairs
    assert p.birth_vertex.tolist() == [0, 2] and p.death_vertex.tolist() == [-1, 1]
    assert p.death.tolist() == [np.inf, 3.0] and p.basin_size.tolist() == [5, 2]


def test_nested_basins():
    f = [0, 4, 1, 2, 1.5, 5, 3, 6]
    nodes, arcs, seg = tree_of(f)
    assert nodes == {0: MINIMUM, 2: MINIMUM, 4: MINIMUM, 6: MINIMUM, 3: SADDLE, 1: SADDLE, 5: SADDLE, 7: ROOT}
    assert arcs == {(0, 1): 0, (2, 3): 0, (4, 3): 0, (3, 1): 0, (1, 5): 0, (6, 5): 0, (5, 7): 0}
    p = compute_topology(np.array(f)).pairs
    assert sorted(zip(p.birth.tolist(), p.death.tolist())) == [(0, np.inf), (1, 4), (1.5, 2), (3, 5)]
    assert dict(zip(p.birth_vertex.tolist(), p.basin_size.tolist())) == {0: 8, 2: 3, 4: 1, 6: 1}
    s = summarize(compute_topology(np.array(f)), threshold=0.4)  # removes persistence < 2.4
    assert (s["n_minima"], s["n_saddles"], s["total_persistence"], s["max_persistence"]) == (4, 3, 5.5, 3.0)
    assert (s["n_minima_simplified"], s["n_saddles_simplified"], s["total_persistence_simplified"]) == (2, 1, 3.0)
    assert s["basin_sizes_top"] == [8, 3, 1, 1] and s["essential_persistence"] == 6.0
    # TTK's convention adds the (global minimum, global maximum) pair: persistence 6 - 0
    assert (s["total_persistence_ttk"], s["avg_persistence_ttk"]) == (11.5, 11.5 / 4)
    assert (s["total_persistence_ttk_simplified"], s["avg_persistence_ttk_simplified"]) == (9.0, 4.5)
    assert s["avg_persistence_ttk_rel"] == 11.5 / 4 / 6 and s["avg_persistence_ttk_log"] is None  # loss 0: no log


def test_ttk_convention_on_one_minimum_and_on_several_components():
    """One basin: ours says 0, TTK's the loss range. Components (split by holes): one essential pair each,
    a one-sample component with persistence 0."""
    s = summarize(compute_topology(np.array([3.0, 1.0, 2.0, 10.0])))
    assert (s["n_minima"], s["avg_persistence"], s["avg_persistence_ttk"], s["avg_persistence_ttk_rel"]) == (1, 0, 9, 1)
    assert s["total_persistence_ttk_log"] == pytest.approx(1.0) == s["avg_persistence_ttk_log"]
    s = summarize(compute_topology(np.array([2, np.nan, 1, np.nan, 5, 7, 6, 8])))
    # components {2}, {1}, {5, 7, 6, 8}: essential 0, 0, 3; finite pair (6, 7)
    assert (s["n_components"], s["total_persistence"]) == (3, 1.0)
    assert (s["total_persistence_ttk"], s["avg_persistence_ttk"]) == (4.0, 1.0)
    assert s["total_persistence_ttk_log"] == pytest.approx(np.log10(8 / 5) + np.log10(7 / 6))
    empty = summarize(compute_topology(np.full(3, np.nan)))
    assert empty["avg_persistence_ttk"] is None and empty["avg_persistence"] == 0.0


def test_ties_follow_the_flat_index():
    nodes, arcs, seg = tree_of(np.full((3, 3), 2.0))  # a plateau: the first sample is the only minimum
    assert nodes == {0: MINIMUM, 8: ROOT} and arcs == {(0, 8): 7}
    nodes, _, _ = tree_of([1, 2, 1, 3])  # equal minima: the one with the lower index is the elder
    assert nodes == {0: MINIMUM, 2: MINIMUM, 1: SADDLE, 3: ROOT}
    p = compute_topology(np.array([1, 2, 1, 3.0])).pairs
    assert p.birth_vertex.tolist() == [0, 2] and p.death_vertex.tolist() == [-1, 1]


@pytest.mark.parametrize("graph", GRAPHS)
def test_ties_equal_index_perturbation(graph):
    """Breaking ties by flat index is the same as adding a tiny increasing ramp to the values."""
    rng = np.random.default_rng(11)
    f = rng.integers(0, 4, size=(9, 8, 7)).astype(float)
    ramp = f + np.arange(f.size).reshape(f.shape) * 1e-6
    a, b = compute_topology(f, graph), compute_topology(ramp, graph)
    for name in ("node_vertex", "node_type", "arc_down", "arc_up", "arc_region_size", "segmentation"):
        assert np.array_equal(getattr(a.tree, name), getattr(b.tree, name))
    assert np.array_equal(a.pairs.birth_vertex, b.pairs.birth_vertex)
    assert np.array_equal(a.pairs.death_vertex, b.pairs.death_vertex)
    c = compute_topology(f.copy(), graph)  # and repeated runs agree exactly
    assert np.array_equal(a.tree.segmentation, c.tree.segmentation)
    assert np.array_equal(a.pairs.basin_size, c.pairs.basin_size)


def test_degenerate_saddle():
    f = [[9, 1, 9], [2, 5, 3], [9, 4, 9]]  # the centre joins four basins at once
    nodes, arcs, _ = tree_of(f)
    assert nodes == {1: MINIMUM, 3: MINIMUM, 5: MINIMUM, 7: MINIMUM, 4: DEGENERATE, 8: ROOT}
    assert arcs == {(1, 4): 0, (3, 4): 0, (5, 4): 0, (7, 4): 0, (4, 8): 3}
    topo = compute_topology(np.array(f, float), "axis")
    s = summarize(topo)
    assert (s["n_minima"], s["n_saddles"], s["n_degenerate_saddles"], s["n_pairs"]) == (4, 1, 1, 3)
    s = summarize(topo, threshold=0.15)  # removes persistence < 1.2
    assert (s["n_minima_simplified"], s["n_saddles_simplified"], s["n_degenerate_saddles_simplified"]) == (3, 1, 1)


def test_nan_hole_is_not_a_minimum():
    x = np.arange(-3, 4)
    f = (x[:, None] ** 2 + x[None, :] ** 2 + 0.1 * x[None, :] + 0.01 * x[:, None]).astype(float)
    for bad in (np.nan, -np.inf, np.inf):
        g = f.copy()
        g[3, 3] = bad  # the minimum itself
        topo = compute_topology(g, "freudenthal")
        assert 24 not in topo.tree.node_vertex and topo.tree.segmentation[3, 3] == -1
        assert topo.n_nonfinite == 1 and summarize(topo)["n_nonfinite"] == 1
        assert np.isfinite(topo.pairs.birth).all()
    nodes, _, seg = tree_of([2, np.nan, 1, 3])  # a hole that splits the line: two components
    assert nodes == {0: MINIMUM, 2: MINIMUM, 3: ROOT} and seg == [None, None, 2, 2]
    s = summarize(compute_topology(np.array([2, np.nan, 1, 3])))
    assert (s["n_components"], s["n_minima"], s["n_pairs"], s["n_nonfinite"]) == (2, 2, 0, 1)


@pytest.mark.parametrize("graph", GRAPHS)
def test_singleton_axes_and_empty_fields(graph):
    """A (n, 1) array (as the PINN landscapes are stored) is the line it holds."""
    f = f32_field(np.random.default_rng(2), (60,))
    a, b = compute_topology(f, graph), compute_topology(f.reshape(1, 60, 1), graph)
    assert np.array_equal(a.tree.node_vertex, b.tree.node_vertex)
    assert np.array_equal(a.tree.arc_region_size, b.tree.arc_region_size)
    assert np.array_equal(a.tree.segmentation, b.tree.segmentation.ravel())
    assert np.array_equal(a.pairs.death_vertex, b.pairs.death_vertex)
    one = compute_topology(np.array([[4.0]]), graph)
    assert one.tree.node_type.tolist() == [MINIMUM] and one.pairs.basin_size.tolist() == [1]
    empty = summarize(compute_topology(np.zeros((3, 0)), graph))
    assert (empty["n_samples"], empty["n_minima"], empty["loss_center"]) == (0, 0, None)


def test_all_nonfinite():
    topo = compute_topology(np.array([[np.nan, np.inf], [-np.inf, np.nan]]))
    assert topo.tree.n_nodes == 0 and topo.pairs.birth.size == 0
    assert np.all(topo.tree.segmentation == -1)
    s = summarize(topo, threshold=0.1)
    got = (s["n_minima"], s["n_saddles"], s["n_nonfinite"], s["avg_persistence"], s["loss_min"])
    assert got == (0, 0, 4, 0.0, None)


def test_summary_statistics_match_pairs():
    rng = np.random.default_rng(5)
    f = rng.standard_normal((15, 14))
    topo = compute_topology(f)
    s = summarize(topo, threshold=0.05)
    p = topo.pairs
    pers = p.persistence[~p.essential]
    assert s["n_pairs"] == s["n_minima"] - 1 == pers.size
    assert s["total_persistence"] == pytest.approx(pers.sum())
    assert s["avg_persistence"] == pytest.approx(pers.mean())
    assert s["max_persistence"] == pytest.approx(pers.max())
    kept = pers[pers >= 0.05 * (f.max() - f.min())]
    assert s["n_pairs_simplified"] == kept.size == s["n_minima_simplified"] - 1
    assert s["total_persistence_simplified"] == pytest.approx(kept.sum())
    assert s["loss_center"] == f[7, 7] and s["essential_persistence"] == pytest.approx(f.max() - f.min())
    order = np.lexsort((p.birth_vertex, p.birth))
    assert s["basin_sizes_top"] == p.basin_size[order][:5].tolist() and s["basin_sizes_top"][0] == f.size


# ---------------------------------------------------------------- files and CLI


def run_cli(argv, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as exc:  # argparse refused an option (e.g. a threshold the config would refuse)
        rc = exc.code
    return rc, capsys.readouterr().err


def test_cli_npy_and_npz(tmp_path, capsys):
    rng = np.random.default_rng(9)
    loss = rng.standard_normal((11, 9, 7))
    np.save(tmp_path / "a.npy", loss)
    np.savez(tmp_path / "landscape.npz", loss=loss, axes=np.linspace(-1, 1, 11))
    for name in ("a.npy", "landscape.npz"):
        out = tmp_path / f"out_{name}"
        rc, err = run_cli(
            ["topology", str(tmp_path / name), "--graph", "freudenthal", "--out-dir", str(out), "--threshold", "0.1"],
            capsys,
        )
        assert rc == 0, err
        got = read_topology(out)
        topo = compute_topology(loss, "freudenthal")
        assert got["summary"] == json.loads(json.dumps(summarize(topo, 0.1)))
        assert np.array_equal(got["segmentation"], topo.tree.segmentation)
        assert got["pairs"].columns.tolist()[:2] == ["birth", "death"]
        assert np.isinf(got["pairs"]["death"].iloc[0]) and got["pairs"]["death_vertex"].iloc[0] == -1
        assert got["pairs"]["birth_vertex"].tolist() == topo.pairs.birth_vertex.tolist()
        assert got["nodes"]["type"].tolist() == topo.tree.node_type.tolist()
        assert got["arcs"]["region_size"].tolist() == topo.tree.arc_region_size.tolist()
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_write_topology_api(tmp_path):
    topo = compute_topology(np.array([0, 3, 1, 2, 5.0]))
    summary = write_topology(topo, tmp_path / "t", threshold=0.0)
    assert summary["n_minima"] == 2 and read_topology(tmp_path / "t")["arcs"].shape[0] == 3


@pytest.mark.parametrize("case", ["missing", "no_loss", "zero_d", "bad_threshold"])
def test_cli_bad_input(tmp_path, capsys, case):
    path = tmp_path / "in.npz"
    threshold = "0"
    if case == "no_loss":
        np.savez(path, grid=np.zeros((3, 3)))
    elif case == "zero_d":
        path = tmp_path / "in.npy"
        np.save(path, np.float64(1.0))
    elif case == "bad_threshold":
        np.savez(path, loss=np.zeros((3, 3)))
        threshold = "-1"
    rc, err = run_cli(["topology", str(path), "--out-dir", str(tmp_path / "out"), "--threshold", threshold], capsys)
    assert rc == 2
    assert (str(path) in err) if case != "bad_threshold" else ("threshold" in err)
    assert {"missing": "not found", "no_loss": "loss", "zero_d": "0-d", "bad_threshold": "less than the minimum of 0"}[
        case
    ] in err
    assert not (tmp_path / "out").exists()
