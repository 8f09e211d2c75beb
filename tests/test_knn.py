"""The graph engine and k-NN graphs: against the grid engine, ripser, brute force; scattered sampling; CLI."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest
from ripser import ripser
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.stats import qmc

from losstopo import cli
from losstopo.landscape.scatter import scatter_points
from losstopo.sweep.schema import default
from losstopo.topology import MINIMUM, compute_topology, read_topology, summarize
from losstopo.topology.graph import graph_topology, grid_adjacency
from losstopo.topology.knn import default_k, knn_graph
from losstopo.topology.tree import assemble_topology

GRAPHS = ("axis", "freudenthal", "full")
TREE_FIELDS = ("node_vertex", "node_value", "node_type", "arc_down", "arc_up", "arc_region_size", "segmentation")
PAIR_FIELDS = ("birth_vertex", "death_vertex", "birth", "death", "basin_size")


def assert_same_topology(a, b):
    for name in TREE_FIELDS:
        assert np.array_equal(getattr(a.tree, name), getattr(b.tree, name)), name
    for name in PAIR_FIELDS:
        assert np.array_equal(getattr(a.pairs, name), getattr(b.pairs, name)), name


def field(rng, shape, ties=False, holes=False):
    f = rng.integers(1, 7, size=shape) * 1.0 if ties else rng.integers(1, 2**20, size=shape) / 1024
    if holes:
        f[rng.random(shape) < 0.2] = np.nan
    return f


def finite_pairs(births, deaths):
    return Counter((round(float(b), 9), round(float(d), 9)) for b, d in zip(births, deaths) if np.isfinite(d) and d > b)


def ripser_pairs(values, adj):
    """Lower-star 0-dim persistence of a graph by ripser: values on the diagonal, max on edges."""
    keep = np.isfinite(values)
    index = np.cumsum(keep) - 1
    coo = sparse.triu(adj, k=1).tocoo()
    both = keep[coo.row] & keep[coo.col]
    u, v = index[coo.row[both]], index[coo.col[both]]
    vals = values[keep]
    n = vals.size
    matrix = sparse.coo_matrix(
        (
            np.concatenate([vals, np.maximum(vals[u], vals[v])]),
            (np.concatenate([np.arange(n), u]), np.concatenate([np.arange(n), v])),
        ),
        shape=(n, n),
    )
    dgm = ripser(matrix, distance_matrix=True, maxdim=0)["dgms"][0]
    return finite_pairs(dgm[:, 0], dgm[:, 1]), int(np.isinf(dgm[:, 1]).sum())


# ---------------------------------------------------------------- k-NN graphs


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_knn_graph_equals_brute_force(dim):
    rng = np.random.default_rng(dim)
    pts = rng.random((70, dim))
    k = default_k(dim)
    adj = knn_graph(pts)
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    near = np.argsort(dist, axis=1)[:, :k]
    expect = np.zeros((70, 70), bool)
    expect[np.repeat(np.arange(70), k), near.ravel()] = True
    expect |= expect.T
    assert np.array_equal(adj.toarray() != 0, expect)
    assert adj.diagonal().sum() == 0 and k == 4 * dim
    assert np.all(np.diff(adj.indptr) >= k)  # symmetrised: at least k neighbours each


@pytest.mark.parametrize(
    "case, message",
    [
        ("duplicate", "duplicate sample"),
        ("k_too_big", "k=10 must be between 1"),
        ("k_zero", "k=0 must be"),
        ("nonfinite", "non-finite coordinates"),
        ("shape", "(N, n) array"),
    ],
)
def test_knn_graph_bad_input(case, message):
    pts = np.random.default_rng(0).random((10, 2))
    k = None
    if case == "duplicate":
        pts[7] = pts[3]
    elif case == "k_too_big":
        k = 10
    elif case == "k_zero":
        k = 0
    elif case == "nonfinite":
        pts[4, 1] = np.nan
    else:
        pts = pts.ravel()
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        knn_graph(pts, k)
    if case == "duplicate":
        assert "samples 3 and 7" in str(err.value)


# ---------------------------------------------------------------- the graph engine


@pytest.mark.parametrize("graph", GRAPHS)
def test_graph_engine_equals_grid_engine(graph):
    """Given a grid's own adjacency the graph engine reproduces every array of the grid engine."""
    rng = np.random.default_rng(GRAPHS.index(graph))
    for shape in [(30,), (9, 7), (5, 4, 6), (3, 4, 3, 3)]:
        adj = grid_adjacency(shape, graph)
        for ties, holes in [(False, False), (True, False), (True, True), (False, True)]:
            f = field(rng, shape, ties, holes)
            assert_same_topology(graph_topology(f, adj, graph), compute_topology(f, graph))


@pytest.mark.parametrize("kind", ["erdos_renyi", "knn", "sparse_forest"])
def test_graph_engine_equals_ripser(kind):
    rng = np.random.default_rng(["erdos_renyi", "knn", "sparse_forest"].index(kind))
    for trial in range(6):
        n = 80
        if kind == "knn":
            adj = knn_graph(rng.random((n, 3)), k=int(rng.integers(2, 8)))
        else:
            p = 0.08 if kind == "erdos_renyi" else 0.012  # the sparse one has many components
            adj = sparse.csr_matrix(np.triu(rng.random((n, n)) < p, 1))
        f = field(rng, (n,), ties=trial % 2 == 1, holes=trial % 3 == 2)
        topo = graph_topology(f, adj)
        ours = finite_pairs(topo.pairs.birth, topo.pairs.death), int(topo.pairs.essential.sum())
        assert ours == ripser_pairs(f, adj)


def test_basin_sizes_and_regions_on_random_graphs():
    """Basin size = the component of the dying minimum among the vertices below its death saddle."""
    rng = np.random.default_rng(5)
    for trial in range(5):
        n = 120
        adj = knn_graph(rng.random((n, 2)), k=3)
        f = field(rng, (n,), ties=trial % 2 == 0, holes=trial == 4)
        topo = graph_topology(f, adj)
        t, p = topo.tree, topo.pairs
        order = np.flatnonzero(np.isfinite(f))
        order = order[np.lexsort((order, f[order]))]
        rank = np.full(n, n)
        rank[order] = np.arange(order.size)
        for b, d, size in zip(p.birth_vertex, p.death_vertex, p.basin_size):
            below = rank < (rank[d] if d >= 0 else n)
            sub = adj[below][:, below]
            _, lab = connected_components(sub, directed=False)
            idx = np.flatnonzero(below)
            assert size == np.sum(lab == lab[np.searchsorted(idx, b)])
        assert t.arc_region_size.sum() + t.n_nodes == np.isfinite(f).sum()
        seg = t.segmentation
        assert np.all(seg[~np.isfinite(f)] == -1)
        # every regular sample's arc spans its value
        regular = np.isfinite(f) & ~np.isin(np.arange(n), t.node_vertex)
        lo, hi = t.node_value[t.arc_down[seg[regular]]], t.node_value[t.arc_up[seg[regular]]]
        assert np.all((lo <= f[regular]) & (f[regular] <= hi))


def test_disconnected_graph_has_one_essential_class_per_component():
    rng = np.random.default_rng(8)
    pts = np.concatenate([rng.random((40, 2)), rng.random((40, 2)) + 10])  # two far clusters
    f = np.sin(5 * pts).sum(axis=1)
    topo = graph_topology(f, knn_graph(pts, k=4))
    s = summarize(topo)
    assert s["n_components"] == 2 and (topo.tree.node_type == 3).sum() == 2
    assert sorted(topo.pairs.basin_size[topo.pairs.essential].tolist()) == [40, 40]


def test_hand_made_graph_tree():
    # path 0-1-2-3-4 with values [0, 3, 1, 2, 5]: two basins merging at vertex 1 (as on a 1-D grid)
    adj = sparse.csr_matrix((np.ones(4), ([0, 1, 2, 3], [1, 2, 3, 4])), shape=(5, 5))
    topo = graph_topology(np.array([0, 3, 1, 2, 5.0]), adj)
    assert topo.tree.node_vertex.tolist() == [0, 2, 1, 4] and topo.tree.node_type.tolist() == [0, 0, 1, 3]
    assert topo.pairs.birth_vertex.tolist() == [0, 2] and topo.pairs.basin_size.tolist() == [5, 2]
    # a star whose centre is the last vertex: a merge at the root (three basins die there)
    star = sparse.csr_matrix((np.ones(3), ([3, 3, 3], [0, 1, 2])), shape=(4, 4))
    topo = graph_topology(np.array([1.0, 2.0, 3.0, 9.0]), star)
    assert topo.tree.node_type.tolist() == [0, 0, 0, 3]
    assert topo.pairs.death_vertex.tolist() == [-1, 3, 3] and topo.tree.segmentation.tolist() == [0, 1, 2, 0]


def test_assemble_rejects_inconsistent_trees():
    f = np.array([0, 3, 1, 2, 5.0])
    args = dict(
        node_vertex=[0, 2, 1, 4],
        arc_down_vertex=[0, 2, 1],
        arc_up_vertex=[1, 1, 4],
        vertex_arc=[-1, -1, -1, 1, -1],
        birth_vertex=[0, 2],
        death_vertex=[-1, 1],
    )
    assert assemble_topology(f, "x", **args).pairs.basin_size.tolist() == [5, 2]
    with pytest.raises(ValueError, match="elder rule|cover"):
        assemble_topology(f, "x", **{**args, "death_vertex": [-1, 4]})
    with pytest.raises(ValueError, match="one pair per minimum"):
        assemble_topology(f, "x", **{**args, "birth_vertex": [0, 1]})
    with pytest.raises(ValueError, match="regular vertex needs"):
        assemble_topology(f, "x", **{**args, "vertex_arc": [-1] * 5})
    with pytest.raises(ValueError, match="lower to the higher"):
        assemble_topology(f, "x", **{**args, "arc_down_vertex": [1, 2, 1], "arc_up_vertex": [0, 1, 4]})


def lone_vertices(values):
    """The grid engine's answer for a field of one-sample components (issue 12, fault 3): each finite
    vertex a minimum alone, no arcs, segmentation -1, one essential class of basin size 1."""
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.lexsort((finite, values[finite]))]
    return order.tolist(), [int(MINIMUM)] * order.size, [1] * order.size


@pytest.mark.parametrize(
    "values, adjacency",
    [
        ([2.5], sparse.csr_matrix((1, 1))),  # a single vertex
        ([1.0, -2.0, 0.5, 0.5], sparse.csr_matrix((4, 4))),  # isolated vertices, a tie
        ([1.0, np.nan], sparse.csr_matrix([[0, 1], [1, 0]])),  # the only neighbour is non-finite
        ([np.nan, np.inf, -np.inf], sparse.csr_matrix(np.ones((3, 3)))),  # nothing finite
        (np.zeros(0), sparse.csr_matrix((0, 0))),  # no vertex
        ([3.0, 1.0], sparse.csr_matrix(np.eye(2))),  # self-loops only
        ([3.0, 1.0], sparse.coo_matrix(([1.0, -1.0], ([0, 0], [1, 1])), shape=(2, 2))),  # duplicates summing to 0
    ],
)
def test_graph_without_arcs(values, adjacency):
    values = np.asarray(values, float)
    topo = graph_topology(values, adjacency)
    t, p = topo.tree, topo.pairs
    got = t.node_vertex.tolist(), t.node_type.tolist(), p.basin_size.tolist()
    assert got == lone_vertices(values)
    assert t.arc_down.size == 0 and np.all(t.segmentation == -1) and np.all(p.essential)
    assert p.birth_vertex.tolist() == got[0]
    if values.size == 1:
        assert_same_topology(topo, compute_topology(values, "axis"))


@pytest.mark.parametrize("graph", GRAPHS)
def test_graph_without_arcs_equals_grid_engine(graph):
    """Non-finite samples cut every edge of a grid (a checkerboard for ``axis``, every other sample on
    each axis for the others): both engines give one lone minimum per finite sample."""
    shape = (6, 5, 4)
    idx = np.indices(shape)
    cut = idx.sum(axis=0) % 2 == 1 if graph == "axis" else np.any(idx % 2 == 1, axis=0)
    f = np.where(cut, np.nan, np.random.default_rng(4).integers(0, 3, shape) * 1.0)
    topo = graph_topology(f, grid_adjacency(shape, graph), graph)
    assert_same_topology(topo, compute_topology(f, graph))
    assert [topo.tree.node_vertex.tolist(), topo.tree.node_type.tolist(), topo.pairs.basin_size.tolist()] == list(
        lone_vertices(f.ravel())
    )


def test_duplicate_edges_count_once():
    """A COO matrix with repeated entries and self-loops gives the tree of its simple graph."""
    f = np.array([0.0, 2.0, 1.0, 3.0])
    simple = sparse.csr_matrix(([1, 1, 1], ([0, 1, 2], [1, 2, 3])), shape=(4, 4))
    noisy = sparse.coo_matrix(([1, 1, 1, 5, 1, 1], ([0, 0, 1, 3, 3, 2], [1, 1, 2, 3, 2, 1])), shape=(4, 4))
    assert_same_topology(graph_topology(f, noisy), graph_topology(f, simple))
    assert_same_topology(graph_topology(f, simple), compute_topology(f, "axis"))


# ---------------------------------------------------------------- scattered sampling


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_scatter_points(method):
    pts = scatter_points(128, 3, 0.5, method, seed=[1, 2])
    assert pts.shape == (129, 3) and np.all(pts[0] == 0)
    assert np.all(np.abs(pts) <= 0.5) and np.unique(pts, axis=0).shape[0] == 129
    assert np.array_equal(pts, scatter_points(128, 3, 0.5, method, seed=[1, 2]))
    assert not np.array_equal(pts, scatter_points(128, 3, 0.5, method, seed=[1, 3]))
    assert np.array_equal(scatter_points(100, 3, 0.5, method, seed=[1, 2]), pts[:101])  # a prefix


def test_sobol_is_more_uniform_than_random():
    sobol = scatter_points(256, 2, 1.0, "sobol", seed=0)[1:]
    rand = scatter_points(256, 2, 1.0, "random", seed=0)[1:]
    assert qmc.discrepancy((sobol + 1) / 2) < qmc.discrepancy((rand + 1) / 2) / 3


def test_scatter_bad_arguments():
    for kwargs, msg in [
        ({"method": "grid"}, "sampling"),
        ({"n": 0}, "n_samples"),
        ({"span": 0.0}, "span"),
        ({"dim": 0}, "dim"),
    ]:
        with pytest.raises(ValueError, match=msg):
            scatter_points(**{"n": 10, "dim": 2, "span": 1.0, **kwargs})


def test_scattered_sampling_chain(tmp_path, capsys):
    """train -> directions -> sample (Sobol points) -> topology on the k-NN graph, through the CLI."""
    import torch

    from losstopo.io import load_npz
    from losstopo.landscape import sampling as smp
    from losstopo.landscape.directions import load_directions
    from losstopo.trained import load_trained

    run = tmp_path / "run"
    tiny = '{"width": 6, "depth": 2, "n_collocation": 40, "n_initial": 10, "n_boundary": 6, "lbfgs_steps": 10}'
    assert (
        cli.main(
            ["train", "--family", "pinn", "--seed", "2", "--out-dir", str(run), "--device", "cpu", "--params", tiny]
        )
        == 0
    )
    assert (
        cli.main(
            [
                "directions",
                "--run-dir",
                str(run),
                "--landscape",
                '{"dim": 2, "seed": 1}',
                "--out",
                str(tmp_path / "d.npz"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    settings = '{"dim": 2, "seed": 1, "span": 0.5, "sampling": "sobol", "n_samples": 63}'
    assert (
        cli.main(
            [
                "sample",
                "--run-dir",
                str(run),
                "--directions",
                str(tmp_path / "d.npz"),
                "--landscape",
                settings,
                "--out",
                str(tmp_path / "landscape.npz"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    data = load_npz(tmp_path / "landscape.npz", required=("loss", "points", "center_loss", "metadata"))
    assert data["loss"].shape == (64,) and "axes" not in data and data["metadata"]["n_points"] == 64
    assert np.array_equal(data["points"], scatter_points(63, 2, 0.5, "sobol", seed=[1, 2]))
    assert data["loss"][0] == pytest.approx(float(data["center_loss"]), rel=1e-12)
    family, model, hp, seed, _ = load_trained(run, "cpu")
    objective = family.objective(model, hp, seed, "cpu", torch.float64)
    d = load_directions(tmp_path / "d.npz", model)["directions"]
    loop = smp.sample(objective, d, None, points=data["points"], method="loop", progress=False).loss
    np.testing.assert_allclose(data["loss"], loop, rtol=1e-6)
    axes = smp.grid_axes(2, 5, 0.5)  # a grid given as points gives the grid's losses
    grid = smp.sample(objective, d, axes, batch_size=7, progress=False).loss
    as_points = smp.sample(objective, d, None, points=smp.grid_points(axes, 0, 25), batch_size=7, progress=False)
    assert np.array_equal(grid, as_points.loss)
    assert cli.main(["topology", str(tmp_path / "landscape.npz"), "--out-dir", str(tmp_path / "topology")]) == 0
    summary = read_topology(tmp_path / "topology")["summary"]
    assert summary["knn_k"] == 8 and summary["loss_center"] == data["loss"][0] and summary["n_vertices"] == 64
    with pytest.raises(ValueError, match="sampling"):
        smp.resolve_settings({"sampling": "halton"}, 2)


# ---------------------------------------------------------------- CLI


def run_topology(tmp_path, capsys, arrays, *extra):
    path = tmp_path / "landscape.npz"
    np.savez(path, **arrays)
    rc = cli.main(["topology", str(path), "--out-dir", str(tmp_path / "out"), *extra])
    return rc, capsys.readouterr().err


def test_cli_points_and_values(tmp_path, capsys):
    pts = scatter_points(199, 2, 1.0, "sobol", seed=4)
    loss = np.cos(3 * pts).sum(axis=1) + 3
    loss[17] = np.nan
    rc, err = run_topology(tmp_path, capsys, {"points": pts, "loss": loss})
    assert rc == 0, err
    got = read_topology(tmp_path / "out")
    keep = np.flatnonzero(np.isfinite(loss))
    sub = knn_graph(pts[keep], 8).tocoo()
    adj = sparse.csr_matrix((sub.data, (keep[sub.row], keep[sub.col])), shape=(200, 200))
    topo = graph_topology(loss, adj, "knn")
    summary = got["summary"]
    assert summary["knn_k"] == 8 and summary["graph"] == "knn" and summary["n_nonfinite"] == 1
    assert summary["loss_center"] == loss[0] and summary["shape"] == [200]
    assert np.array_equal(got["segmentation"], topo.tree.segmentation)
    assert got["pairs"]["birth_vertex"].tolist() == topo.pairs.birth_vertex.tolist()
    threshold = default("topology", "threshold")  # the CLI's default, the config schema's
    assert summary == json.loads(
        json.dumps(summarize(topo, threshold) | {"knn_k": 8, "n_dims": 2, "loss_center": loss[0]})
    )
    rc, err = run_topology(tmp_path, capsys, {"points": pts, "loss": loss}, "--knn", "3")
    assert rc == 0 and read_topology(tmp_path / "out")["summary"]["knn_k"] == 3


@pytest.mark.parametrize(
    "case, message",
    [
        ("length", "'points' has 10 rows but 'loss' has shape (9,)"),
        ("duplicate", "duplicate sample"),
        ("k", "k=12 must be between 1"),
        ("ttk", "topologytoolkit"),
    ],
)
def test_cli_points_bad_input(tmp_path, capsys, case, message):
    pts = np.random.default_rng(0).random((10, 2))
    loss = np.arange(10.0)
    extra = []
    if case == "length":
        loss = loss[:9]
    elif case == "duplicate":
        pts[5] = pts[2]
    elif case == "k":
        extra = ["--knn", "12"]
    else:
        from losstopo.topology.ttk import ttk_available

        if ttk_available():
            pytest.skip("topologytoolkit is installed: the TTK backend works here")
        extra = ["--backend", "ttk"]
    rc, err = run_topology(tmp_path, capsys, {"points": pts, "loss": loss}, *extra)
    assert rc == 2 and message in err
    assert not (tmp_path / "out").exists()


def test_cli_all_nonfinite_points(tmp_path, capsys):
    rc, err = run_topology(
        tmp_path, capsys, {"points": np.random.default_rng(1).random((12, 2)), "loss": np.full(12, np.nan)}
    )
    assert rc == 0, err
    s = read_topology(tmp_path / "out")["summary"]
    assert (s["n_minima"], s["n_nonfinite"], s["loss_center"]) == (0, 12, None)
