"""Conformance with TTK's own join trees (../shared/conformance; skipped where that folder is absent).

2-D: 71 LossLens landscapes with TTK's MergeTree.csv / PersistenceDiagram.csv and the derived arcs.
3-D: 31 LossLens PINN cubes whose trees were computed with TTK's FTM, in two vertex layouts.
TTK's CSVs round values to 8 digits, so everything is compared by vertex id. The summary's persistence in
TTK's convention (``*_persistence_ttk``: the global minimum paired with the global maximum) is checked against
TTK's own 0-dimensional diagram on every landscape: PersistenceDiagram.csv (2-D), pairs.csv with the essential
pair of summary.json (3-D).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from losstopo.topology import compute_topology, summarize

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "conformance"
LOSSLENS_2D = sorted((ROOT / "losslens" / "2d").glob("*/*/")) if ROOT.is_dir() else []
TTK_3D = sorted(p for p in (ROOT / "ttk3d").glob("*/") if (p / "nodes.csv").exists()) if ROOT.is_dir() else []

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(not ROOT.is_dir(), reason=f"conformance data not found at {ROOT}"),
]


def node_set(tree):
    return set(zip(tree.node_vertex.tolist(), tree.node_type.tolist()))


def arc_set(tree):
    return set(zip(tree.node_vertex[tree.arc_down].tolist(), tree.node_vertex[tree.arc_up].tolist()))


def finite_pairs(pairs):
    keep = ~pairs.essential
    return list(zip(pairs.birth_vertex[keep].tolist(), pairs.death_vertex[keep].tolist()))


def check_ttk_convention(summary, birth, death):
    """The summary's TTK-convention persistence against TTK's 0-dim pairs (``birth``, ``death``: float64 values of
    every (minimum, saddle) pair and the essential (global minimum, global maximum) pair)."""
    pers, loss_range, n = death - birth, death.max() - birth.min(), birth.size
    expected = {
        "total_persistence_ttk": pers.sum(),
        "avg_persistence_ttk": pers.mean(),
        "avg_persistence_ttk_rel": pers.mean() / loss_range,
        "total_persistence_ttk_log": (np.log10(death) - np.log10(birth)).sum() if birth.min() > 0 else None,
    }
    if expected["total_persistence_ttk_log"] is not None:
        expected["avg_persistence_ttk_log"] = expected["total_persistence_ttk_log"] / n
    for key, value in expected.items():
        assert summary[key] == (None if value is None else pytest.approx(value, rel=1e-12, abs=0)), key


def test_all_conformance_cases_present():
    assert len(LOSSLENS_2D) == 71 and len(TTK_3D) == 31


@pytest.mark.parametrize("case", LOSSLENS_2D, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_losslens_2d_matches_ttk(case):
    # TTK's vertex id is v = i + 40 j for loss[i, j]; the C-order index of loss.T is exactly that.
    loss = np.load(case / "loss.npy").reshape(40, 40)
    topo = compute_topology(np.ascontiguousarray(loss.T), "freudenthal")
    tree = topo.tree
    mt = pd.read_csv(case / "MergeTree.csv")
    arcs = pd.read_csv(case / "arcs_derived.csv")
    diagram = pd.read_csv(case / "PersistenceDiagram.csv").to_numpy().reshape(-1, 2, 8)

    assert node_set(tree) == set(zip(mt.VertexId, mt.CriticalType))
    ours_arcs = set(
        zip(
            tree.node_vertex[tree.arc_down].tolist(),
            tree.node_vertex[tree.arc_up].tolist(),
            tree.arc_region_size.tolist(),
        )
    )
    assert ours_arcs == set(zip(arcs.downVertexId, arcs.upVertexId, arcs.RegionSize))
    # RegionSize of each non-root TTK node = regular samples on the arc above it.
    region = dict(zip(tree.node_vertex[tree.arc_down].tolist(), tree.arc_region_size.tolist()))
    assert region == dict(zip(mt.VertexId[mt.CriticalType != 3], mt.RegionSize[mt.CriticalType != 3]))

    types = diagram[:, :, 1].astype(int)
    ids = diagram[:, :, 0].astype(int)
    min_saddle = (types[:, 0] == 0) & np.isin(types[:, 1], (1, 4))
    assert sorted(finite_pairs(topo.pairs)) == sorted(map(tuple, ids[min_saddle].tolist()))
    (essential,) = ids[(types[:, 0] == 0) & (types[:, 1] == 3)].tolist()
    assert topo.pairs.birth_vertex[topo.pairs.essential].tolist() == [essential[0]]
    assert tree.node_vertex[tree.node_type == 3].tolist() == [essential[1]]

    s = summarize(topo)
    zero_dim = types[:, 0] == 0  # (minimum, saddle) pairs and the essential (minimum, maximum) pair
    flat = np.ascontiguousarray(loss.T).ravel()
    check_ttk_convention(s, flat[ids[zero_dim, 0]], flat[ids[zero_dim, 1]])
    # and against TTK's printed values (8 significant digits: each pair off by at most 1e-7 of the largest loss)
    printed = diagram[zero_dim, 1, 6] - diagram[zero_dim, 1, 5]
    assert s["total_persistence_ttk"] == pytest.approx(
        printed.sum(), rel=0, abs=1e-7 * np.abs(loss).max() * printed.size
    )
    assert s["n_minima"] == (mt.CriticalType == 0).sum()
    assert s["n_saddles"] == mt.CriticalType.isin((1, 4)).sum()
    assert s["n_degenerate_saddles"] == (mt.CriticalType == 4).sum()


@pytest.mark.parametrize("layout", ["primary", "layoutC"])
@pytest.mark.parametrize("case", TTK_3D, ids=lambda p: p.name)
def test_ttk3d_matches_ftm(case, layout):
    cube = np.load(ROOT / "losslens" / "3d" / "pinn_hessian" / f"{case.name}.npy").reshape(40, 40, 40)
    if layout == "primary":  # TTK vertex a + 40 b + 1600 c is the C-order index of cube.transpose(2, 1, 0)
        field, folder = np.ascontiguousarray(cube.transpose(2, 1, 0)), case
    else:  # TTK vertex = the cube's own C-order index
        field, folder = cube, case / "layoutC"
    topo = compute_topology(field, "freudenthal")
    nodes = pd.read_csv(folder / "nodes.csv")
    arcs = pd.read_csv(folder / "arcs.csv")
    pairs = pd.read_csv(folder / "pairs.csv")
    summary = json.loads((folder / "summary.json").read_text())

    assert node_set(topo.tree) == set(zip(nodes.vertex, nodes.type))
    assert arc_set(topo.tree) == set(zip(arcs.down_vertex, arcs.up_vertex))
    # Same rows in the same order (TTK sorts by death, then birth, in the sweep order).
    assert finite_pairs(topo.pairs) == list(zip(pairs.birth_vertex, pairs.death_vertex))
    assert np.array_equal(topo.pairs.birth[~topo.pairs.essential], pairs.birth_value.to_numpy())
    assert np.array_equal(topo.pairs.death[~topo.pairs.essential], pairs.death_value.to_numpy())
    essential = summary["essential_pair"]
    assert topo.pairs.birth_vertex[topo.pairs.essential].tolist() == [essential["birth_vertex"]]
    assert topo.tree.node_vertex[topo.tree.node_type == 3].tolist() == [essential["death_vertex"]]

    s = summarize(topo)
    for key in ("n_minima", "n_saddles", "n_degenerate_saddles"):
        assert s[key] == summary[key], key
    assert s["n_pairs"] == summary["n_pairs_min_saddle"]
    check_ttk_convention(
        s,
        np.append(pairs.birth_value.to_numpy(), essential["birth_value"]),
        np.append(pairs.death_value.to_numpy(), essential["death_value"]),
    )
    assert s["n_nodes"] == summary["n_nodes"]
