"""Topological landscape profiles: valley widths against counted samples, nesting, simplification, files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from losstopo import cli
from losstopo.topology import compute_topology, write_topology
from losstopo.topology.files import load_topology
from losstopo.topology.graph import graph_topology, grid_adjacency
from losstopo.topology.knn import knn_graph
from losstopo.topology.profile import profile_geometry


def width_at(valley, y):
    i = np.flatnonzero(valley.levels == y)
    assert i.size == 1, f"level {y} is not in the valley's grid"
    return float(valley.width[i[0]])


def by_floor_vertex(profile):
    return {v.floor_vertex: v for v in profile.valleys}


# ---------------------------------------------------------------- hand-made trees


def test_one_basin_width_is_the_sublevel_count():
    x = np.arange(-3, 4)
    f = (x[:, None] ** 2 + 2 * x[None, :] ** 2 + 0.01 * x[None, :] + 0.001 * x[:, None]).astype(float) + 1
    prof = profile_geometry(compute_topology(f), levels=64)
    (valley,) = prof.valleys
    assert (valley.floor, valley.rim, valley.size, valley.parent) == (f.min(), f.max(), f.size, -1)
    for y in np.concatenate([valley.levels, np.unique(f)]):
        if y in valley.levels:
            assert width_at(valley, y) == np.count_nonzero(f <= y)
    assert valley.mean_loss == pytest.approx(f.mean()) and prof.width == f.size
    assert np.allclose((valley.left + valley.right) / 2, f.size / 2)  # a component's valley is centred


def test_two_basins_of_given_sizes():
    f = np.array([0, 3, 1, 2, 5.0])  # basin {0} and basin {1, 2} (minimum at index 2) merge at 3
    prof = profile_geometry(compute_topology(f), levels=6)  # levels 0, 1, ..., 5
    outer, inner = by_floor_vertex(prof)[0], by_floor_vertex(prof)[2]
    assert (outer.floor, outer.rim, outer.size) == (0, 5, 5) and (inner.floor, inner.rim, inner.size) == (1, 3, 2)
    assert inner.parent == prof.valleys.index(outer) and inner.rim_vertex == 1
    assert [width_at(outer, y) for y in range(6)] == [1, 2, 3, 4, 4, 5]
    assert [width_at(inner, y) for y in (1, 2, 3)] == [1, 2, 2]
    assert inner.mean_loss == pytest.approx(1.5) and outer.mean_loss == pytest.approx(2.2)
    assert prof.minima.tolist() == [[2.5, 0.0], [inner.centre_at(1), 1.0]]
    assert prof.saddles.tolist() == [[inner.centre_at(3), 3.0]]


def test_nested_basins():
    f = np.array([0, 4, 1, 2, 1.5, 5, 3, 6])  # basins at 0, 2, 4, 6; 4 dies into 2 at 2; 2 into 0 at 4
    prof = profile_geometry(compute_topology(f), levels=13)  # every half unit
    v = by_floor_vertex(prof)
    assert {k: (x.floor, x.rim, x.size) for k, x in v.items()} == {
        0: (0, 6, 8),
        2: (1, 4, 3),
        4: (1.5, 2, 1),
        6: (3, 5, 1),
    }
    index = {k: prof.valleys.index(x) for k, x in v.items()}
    assert (v[2].parent, v[4].parent, v[6].parent) == (index[0], index[2], index[0])
    assert [width_at(v[0], y) for y in (0, 1, 1.5, 2, 3, 4, 5, 6)] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [width_at(v[2], y) for y in (1, 1.5, 2, 3, 4)] == [1, 2, 3, 3, 3]
    assert [width_at(v[4], y) for y in (1.5, 2)] == [1, 1]
    assert [width_at(v[6], y) for y in (3, 4, 5)] == [1, 1, 1]
    # children largest first, left to right, inside the parent
    y = 3.0
    i = lambda x: np.flatnonzero(x.levels == y)[0]  # noqa: E731
    assert v[0].left[i(v[0])] <= v[2].left[i(v[2])] < v[2].right[i(v[2])] <= v[6].left[i(v[6])]
    assert v[6].right[i(v[6])] <= v[0].right[i(v[0])]


# ---------------------------------------------------------------- invariants on random landscapes


def check_profile(topo, adj, prof):
    """Widths against an independent count: the component of the sublevel set just below the rim
    (connected components of the graph restricted to the samples before the rim in the sweep
    order) that holds the floor, counted at each level; children nested inside parents."""
    flat = topo.field.reshape(-1)
    order = np.flatnonzero(np.isfinite(flat))
    order = order[np.lexsort((order, flat[order]))]
    rank = np.full(flat.size, flat.size)
    rank[order] = np.arange(order.size)
    valleys = prof.valleys
    for v in valleys:
        below = rank < (rank[v.rim_vertex] if v.parent >= 0 else flat.size)
        idx = np.flatnonzero(below)
        _, lab = connected_components(adj[below][:, below], directed=False)
        members = flat[idx[lab == lab[np.searchsorted(idx, v.floor_vertex)]]]
        assert v.size == members.size
        counted = np.searchsorted(np.sort(members), v.levels, side="right")
        assert np.array_equal(v.width, counted)
        assert np.all(np.diff(v.levels) > 0) and v.levels[0] == v.floor and v.levels[-1] == v.rim
    for i, v in enumerate(valleys):
        kids = sorted((c for c in valleys if c.parent == i), key=lambda c: (-c.size, rank[c.floor_vertex]))
        for c in kids:
            j = np.searchsorted(v.levels, c.levels)
            assert np.array_equal(v.levels[j], c.levels)
            assert np.all(c.left >= v.left[j] - 1e-9) and np.all(c.right <= v.right[j] + 1e-9)
        for a_i, a in enumerate(kids):  # siblings never overlap, largest on the left
            for b in kids[a_i + 1 :]:
                _, ia, ib = np.intersect1d(a.levels, b.levels, return_indices=True)
                assert np.all(a.right[ia] <= b.left[ib] + 1e-9)


@pytest.mark.parametrize("case", ["grid2d", "grid3d_holes", "knn"])
def test_widths_equal_counted_samples(case):
    rng = np.random.default_rng(["grid2d", "grid3d_holes", "knn"].index(case))
    if case == "knn":
        pts = rng.random((300, 2))
        adj = knn_graph(pts)
        f = np.sin(7 * pts[:, 0]) * np.cos(5 * pts[:, 1]) + rng.random(300) * 0.1 + 2
        topo = graph_topology(f, adj)
    else:
        shape = (14, 13) if case == "grid2d" else (6, 7, 5)
        f = rng.integers(1, 40, size=shape) / 4  # many ties
        if case == "grid3d_holes":
            f[rng.random(shape) < 0.1] = np.nan
        adj = grid_adjacency(shape, "freudenthal")
        topo = compute_topology(f, "freudenthal")
    prof = profile_geometry(topo, levels=40, max_basins=None)
    assert len(prof.valleys) == prof.n_basins == topo.pairs.birth.size
    check_profile(topo, adj, prof)
    outer = [v for v in prof.valleys if v.parent < 0]
    assert sum(v.size for v in outer) == prof.n_samples == np.isfinite(f).sum()


def test_simplification_keeps_the_persistent_basins():
    rng = np.random.default_rng(3)
    f = rng.random((20, 20)) + 1
    topo = compute_topology(f)
    full = profile_geometry(topo, levels=30)
    simple = profile_geometry(topo, threshold=0.2, levels=30)
    pers = topo.pairs.persistence
    kept = {b for b in range(pers.size) if topo.pairs.essential[b] or pers[b] >= 0.2 * (f.max() - f.min())}
    # a basin is drawn if it and every ancestor are persistent enough (parents are never less persistent)
    assert {v.basin for v in simple.valleys} == kept
    assert simple.threshold_absolute == pytest.approx(0.2 * (f.max() - f.min()))
    full_by_basin = {v.basin: v for v in full.valleys}
    for v in simple.valleys:  # a drawn valley keeps its widths: hidden sub-basins still count
        w = full_by_basin[v.basin]
        common = np.intersect1d(v.levels, w.levels)
        assert common.size >= 2
        assert np.array_equal(v.width[np.isin(v.levels, common)], w.width[np.isin(w.levels, common)])
    capped = profile_geometry(topo, max_basins=5, levels=30)
    assert len(capped.valleys) == 5
    top = np.argsort(-np.where(topo.pairs.essential, np.inf, pers), kind="stable")[:5]
    assert {v.basin for v in capped.valleys} == set(top.tolist())
    check_profile(topo, grid_adjacency(f.shape, "freudenthal"), capped)


def test_scales_and_bad_arguments():
    f = np.array([1, 4, 2, 3, 8.0])
    prof = profile_geometry(compute_topology(f), scale="log", levels=5)
    assert np.allclose(prof.valleys[0].levels[[0, -1]], [1, 8]) and 2.0 in prof.valleys[0].levels
    with pytest.raises(ValueError, match="positive losses"):
        profile_geometry(compute_topology(f - 1), scale="log")
    with pytest.raises(ValueError, match="scale"):
        profile_geometry(compute_topology(f), scale="sqrt")
    with pytest.raises(ValueError, match="threshold"):
        profile_geometry(compute_topology(f), threshold=-1)
    empty = profile_geometry(compute_topology(np.full((3, 3), np.nan)))
    assert empty.valleys == () and empty.n_samples == 0


# ---------------------------------------------------------------- files, drawing, CLI


def make_run(run_dir, f, swept, seed):
    run_dir.mkdir(parents=True)
    np.savez(run_dir / "landscape.npz", loss=f, axes=np.zeros((f.ndim, f.shape[0])))
    (run_dir / "run.json").write_text(json.dumps({"swept": swept, "seed": seed}))
    write_topology(compute_topology(f), run_dir / "topology")


def test_load_topology_round_trip(tmp_path):
    f = np.random.default_rng(1).random((9, 8))
    topo = compute_topology(f)
    write_topology(topo, tmp_path)
    back = load_topology(tmp_path, f)
    for part in ("tree", "pairs"):
        for name, value in vars(getattr(topo, part)).items():
            assert np.array_equal(value, getattr(getattr(back, part), name)), name
    assert profile_geometry(back).valleys[0].width.tolist() == profile_geometry(topo).valleys[0].width.tolist()


def test_cli_profile_and_grid(tmp_path, capsys):
    rng = np.random.default_rng(2)
    runs = []
    for beta in (1, 10):
        for seed in (0, 1):
            run = tmp_path / f"beta~{beta}" / f"seed~{seed}"
            make_run(run, rng.random((12, 12)) * beta + 1, {"beta": beta}, seed)
            runs.append(str(run))
    out = tmp_path / "one"
    rc = cli.main(
        [
            "profile",
            "--topology-dir",
            f"{runs[0]}/topology",
            "--landscape",
            f"{runs[0]}/landscape.npz",
            "--out-svg",
            f"{out}.svg",
            "--out-png",
            f"{out}.png",
            "--threshold",
            "0.05",
            "--scale",
            "linear",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "one.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "one.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc = cli.main(
        [
            "profile-grid",
            "--run-dirs",
            *runs,
            "--out-svg",
            str(tmp_path / "grid.svg"),
            "--out-png",
            str(tmp_path / "grid.png"),
            "--title",
            "pinn",
            "--levels",
            "32",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    svg = (tmp_path / "grid.svg").read_text()
    assert all(label in svg for label in ("beta=1", "beta=10", "seed 0", "seed 1"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    rc = cli.main(
        [
            "profile",
            "--topology-dir",
            f"{runs[0]}/topology",
            "--landscape",
            f"{runs[0]}/landscape.npz",
            "--out-svg",
            f"{out}.svg",
            "--out-png",
            f"{out}.png",
            "--cmap",
            "no_such_map",
        ]
    )
    assert rc == 2 and "colormap" in capsys.readouterr().err


def test_profile_of_scattered_samples(tmp_path, capsys):
    pts = np.random.default_rng(4).random((150, 2))
    np.savez(tmp_path / "landscape.npz", points=pts, loss=np.cos(6 * pts).sum(axis=1) + 3)
    assert cli.main(["topology", str(tmp_path / "landscape.npz"), "--out-dir", str(tmp_path / "topology")]) == 0
    rc = cli.main(
        [
            "profile",
            "--topology-dir",
            str(tmp_path / "topology"),
            "--landscape",
            str(tmp_path / "landscape.npz"),
            "--out-svg",
            str(tmp_path / "p.svg"),
            "--out-png",
            str(tmp_path / "p.png"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "p.png").stat().st_size > 1000
