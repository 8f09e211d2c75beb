"""The TTK backend: VTK conversion (pip's vtk), TTK's output formats, and TTK itself where installed.

topologytoolkit is conda-forge only, so the TTK call is exercised two ways: against a stand-in
module that answers in TTK's output format (arrays and conventions read from TTK's source: shuffled
node ids, segmentation ids, node types with a degenerate root, a diagonal cell, 1-dim pairs) using
the native engines, and against the real TTK when ``import topologytoolkit`` works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

vtk = pytest.importorskip("vtk", reason="the TTK backend's VTK conversion needs vtk (pip install vtk)")

from vtkmodules.util import numpy_support  # noqa: E402
from vtkmodules.vtkCommonDataModel import VTK_LINE, vtkImageData, vtkUnstructuredGrid  # noqa: E402

from losstopo.topology import compute_topology  # noqa: E402
from losstopo.topology import ttk as ttk_backend  # noqa: E402
from losstopo.topology.graph import graph_topology  # noqa: E402
from losstopo.topology.knn import knn_graph  # noqa: E402
from losstopo.topology.ttk import (  # noqa: E402
    field_to_image,
    graph_to_unstructured,
    image_to_field,
    ttk_available,
    ttk_pairs,
    ttk_topology,
    unstructured_edges,
    vtk_arrays,
)

CONFORMANCE = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "losslens" / "2d"
SADDLE_MAX_PAIRS = {
    "pinn_convection/beta50.0_seed0": 26,
    "resnet20_noresidual/seed123_dist1.0": 16,
    "resnet20_noresidual/seed0_dist0.05": 0,
    "vit_threshold00_corruptedFalse/seed0_dist0.1": 0,
}
LOSSLENS = list(SADDLE_MAX_PAIRS)
NO_TTK = "topologytoolkit is not installed (conda-forge only: envs/ttk.yaml); the TTK call itself is not run"


def assert_same_topology(a, b):
    for name in ("node_vertex", "node_value", "node_type", "arc_down", "arc_up", "arc_region_size", "segmentation"):
        assert np.array_equal(getattr(a.tree, name), getattr(b.tree, name)), name
    for name in ("birth_vertex", "death_vertex", "birth", "death", "basin_size"):
        assert np.array_equal(getattr(a.pairs, name), getattr(b.pairs, name)), name


# ---------------------------------------------------------------- conversion


@pytest.mark.parametrize("shape", [(7,), (5, 4), (4, 3, 5)])
def test_image_round_trip_and_vertex_ids(shape):
    f = np.random.default_rng(len(shape)).random(shape)
    image = field_to_image(f)
    assert np.array_equal(image_to_field(image), f)
    assert image.GetDimensions() == tuple(shape[::-1]) + (1,) * (3 - len(shape))
    for flat in (0, 1, f.size // 2, f.size - 1):
        index = np.unravel_index(flat, shape)
        xyz = list(index[::-1]) + [0] * (3 - len(shape))
        assert image.ComputePointId(xyz) == flat  # VTK's point id (TTK's vertex id) = our flat C-order index
        assert image.GetPoint(flat) == tuple(float(c) for c in xyz)
        assert image.GetPointData().GetArray("Loss").GetTuple1(flat) == f[index]


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason=f"conformance data not found at {CONFORMANCE}")
def test_losslens_vti_reads_as_the_transposed_array():
    """TTK read loss.vti (id i + 40 j); as our field it is loss.T, the input of the conformance tests."""
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader

    case = CONFORMANCE / LOSSLENS[0]
    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(case / "loss.vti"))
    reader.Update()
    field = image_to_field(reader.GetOutput())
    assert np.array_equal(field, np.load(case / "loss.npy").reshape(40, 40).T)
    assert np.array_equal(image_to_field(field_to_image(field)), field)


def test_unstructured_line_cells():
    values = np.array([3.0, 1.0, 2.0, 5.0])
    edges = np.array([[0, 1], [1, 2], [2, 3], [0, 3]])
    grid = graph_to_unstructured(values, edges, coords=np.arange(8.0).reshape(4, 2))
    assert grid.GetNumberOfPoints() == 4 and grid.GetNumberOfCells() == 4
    assert all(grid.GetCellType(i) == VTK_LINE for i in range(4))
    assert np.array_equal(unstructured_edges(grid), edges)
    assert np.array_equal(vtk_arrays(grid.GetPointData())["Loss"], values)
    assert grid.GetPoint(3) == (6.0, 7.0, 0.0)


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason=f"conformance data not found at {CONFORMANCE}")
@pytest.mark.parametrize("case", LOSSLENS)
def test_ttk_pairs_from_real_ttk_diagrams(case):
    """Our reader of TTK diagrams, on TTK's own PersistenceDiagram.csv (8-digit CSV export: no PairType,
    no IsFinite), gives the native engine's (minimum, saddle) pairs and drops the (saddle, maximum) ones."""
    folder = CONFORMANCE / case
    table = pd.read_csv(folder / "PersistenceDiagram.csv")
    points = {
        "ttkVertexScalarField": table["ttkVertexScalarField"].to_numpy(),
        "CriticalType": table["CriticalType"].to_numpy(),
    }
    edges = np.arange(len(table)).reshape(-1, 2)
    birth, death = ttk_pairs(points, {}, edges)
    topo = compute_topology(np.ascontiguousarray(np.load(folder / "loss.npy").reshape(40, 40).T))
    p = topo.pairs
    assert sorted(zip(birth.tolist(), death.tolist())) == sorted(zip(p.birth_vertex.tolist(), p.death_vertex.tolist()))
    assert (table["CriticalType"].to_numpy()[edges[:, 0]] == 2).sum() == SADDLE_MAX_PAIRS[case]  # dropped


def lower_star_1d_pairs(f):
    """(birth vertex, death vertex) of the 1-dim lower-star pairs of a 2-D field on the freudenthal
    triangulation (gudhi SimplexTree; filtration = sweep rank of a simplex's highest vertex, so pairs
    within one vertex's star have length 0 and are left out)."""
    gudhi = pytest.importorskip("gudhi")
    flat = f.ravel()
    order = np.lexsort((np.arange(flat.size), flat))
    rank = np.empty(flat.size, np.int64)
    rank[order] = np.arange(flat.size)
    idx = np.arange(flat.size).reshape(f.shape)
    st = gudhi.SimplexTree()
    cells = (
        [[idx]]
        + [[idx[:, :-1], idx[:, 1:]], [idx[:-1], idx[1:]], [idx[:-1, 1:], idx[1:, :-1]]]
        + [[idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1]], [idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]]]
    )
    for corners in cells:  # vertices, the three edge directions, the two triangles of each square
        simplices = np.stack([c.ravel() for c in corners], axis=1)
        for simplex in simplices.tolist():
            st.insert(simplex, float(rank[simplex].max()))
    st.compute_persistence(min_persistence=0)
    return sorted(
        (int(order[int(st.filtration(s))]), int(order[int(st.filtration(t))]))
        for s, t in st.persistence_pairs()
        if len(s) == 2 and len(t) == 3
    )


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason=f"conformance data not found at {CONFORMANCE}")
@pytest.mark.parametrize("case", LOSSLENS[:2])
def test_ttk_saddle_maximum_pairs_are_1d_lower_star_pairs(case):
    """TTK's (2, 3) rows are 1-dimensional classes (loops of the sublevel sets), which a merge tree
    does not see; they equal gudhi's 1-dim lower-star pairs of the same triangulation and order."""
    folder = CONFORMANCE / case
    d = pd.read_csv(folder / "PersistenceDiagram.csv").to_numpy().reshape(-1, 2, 8)
    types, ids = d[:, :, 1].astype(int), d[:, :, 0].astype(int)
    ttk = sorted(map(tuple, ids[(types[:, 0] == 2) & (types[:, 1] == 3)].tolist()))
    field = np.ascontiguousarray(np.load(folder / "loss.npy").reshape(40, 40).T)
    assert len(ttk) == SADDLE_MAX_PAIRS[case] and lower_star_1d_pairs(field) == ttk


# ---------------------------------------------------------------- a stand-in for topologytoolkit


def _grid_of(array_dict, n_points, cells=None):
    out = vtkUnstructuredGrid()
    points = vtk.vtkPoints()
    points.SetData(numpy_support.numpy_to_vtk(np.zeros((n_points, 3)), deep=1))
    out.SetPoints(points)
    out.Allocate(len(cells) if cells is not None else 0)
    for cell in cells if cells is not None else []:
        out.InsertNextCell(VTK_LINE, 2, [int(c) for c in cell])
    target = out.GetCellData() if cells is not None else out.GetPointData()
    for name, values in array_dict.items():
        arr = numpy_support.numpy_to_vtk(np.ascontiguousarray(values), deep=1)
        arr.SetName(name)
        target.AddArray(arr)
    return out


def _diagram_grid(point_arrays, cell_arrays, n_pairs):
    out = _grid_of(cell_arrays, 2 * n_pairs, cells=[(2 * i, 2 * i + 1) for i in range(n_pairs - 1)] + [(0, 2)])
    for name, values in point_arrays.items():
        arr = numpy_support.numpy_to_vtk(np.ascontiguousarray(values), deep=1)
        arr.SetName(name)
        out.GetPointData().AddArray(arr)
    return out


def _native(dataset):
    """The native topology of a dataset handed to TTK (vertex ids = its point ids)."""
    if isinstance(dataset, vtkImageData):
        return compute_topology(image_to_field(dataset), "freudenthal")
    values = vtk_arrays(dataset.GetPointData())["Loss"]
    e = unstructured_edges(dataset)
    adj = sparse.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(values.size,) * 2)
    return graph_topology(values, adj)


class _Filter:
    calls = []

    def SetInputDataObject(self, port, data):
        self.data = data

    def SetInputArrayToProcess(self, *args):
        assert args[-1] == "Loss" and args[3] == 0  # point data

    def GetOutputDataObject(self, port):
        return self.outputs[port]


class FakeMergeTree(_Filter):
    """Answers like ttkMergeTree (join tree, FTM): node ids in its own order, arcs with their
    SegmentationId, a degenerate type where a saddle is the root, node vertices' segmentation arbitrary."""

    def SetTreeType(self, value):
        assert value == 0

    def SetBackend(self, value):
        assert value == 0

    def SetWithSegmentation(self, value):
        assert value

    def SetWithNormalize(self, value):
        pass

    def SetSuperArcSamplingLevel(self, value):
        assert value == 0

    def Update(self):
        _Filter.calls.append(self.data.GetNumberOfPoints())
        topo = _native(self.data)
        t = topo.tree
        rng = np.random.default_rng(t.n_nodes)
        node_id = rng.permutation(t.n_nodes)
        ttk_type = t.node_type.copy()
        n_down = np.bincount(t.arc_up, minlength=t.n_nodes)
        ttk_type[(t.node_type == 3) & (n_down >= 2)] = 4  # TTK: 0 up and >= 2 down arcs is 'degenerate'
        nodes = _grid_of(
            {
                "NodeId": node_id,
                "VertexId": t.node_vertex,
                "CriticalType": ttk_type.astype(np.int32),
                "Scalar": t.node_value.astype(np.float32),
            },
            t.n_nodes,
        )
        labels = 100 + rng.permutation(t.arc_down.size)
        order = rng.permutation(t.arc_down.size)
        arcs = _grid_of(
            {
                "SegmentationId": labels[order],
                "downNodeId": node_id[t.arc_down[order]],
                "upNodeId": node_id[t.arc_up[order]],
            },
            t.n_nodes,
            cells=np.stack([t.arc_down[order], t.arc_up[order]], 1),
        )
        seg = t.segmentation.reshape(-1)
        seg_ids = np.where(seg >= 0, labels[np.maximum(seg, 0)], -1)
        seg_ids[t.node_vertex] = labels[rng.integers(0, max(t.arc_down.size, 1), t.n_nodes)] if t.arc_down.size else -1
        out = vtkUnstructuredGrid() if isinstance(self.data, vtkUnstructuredGrid) else vtkImageData()
        out.ShallowCopy(self.data)
        arr = numpy_support.numpy_to_vtk(seg_ids.astype(np.int64), deep=1)
        arr.SetName("SegmentationId")
        out.GetPointData().AddArray(arr)
        self.outputs = {0: nodes, 1: arcs, 2: out}


class FakeDiagram(_Filter):
    """Answers like ttkPersistenceDiagram: the essential pair first (IsFinite 0, dying at the maximum),
    the (minimum, saddle) pairs, one (saddle, maximum) pair of type 1, and the diagonal cell.
    ``essential_is_finite`` writes the essential pair as finite, as some TTK versions do."""

    essential_is_finite = False

    def SetBackEnd(self, value):
        assert value == 0

    def Update(self):
        p = _native(self.data).pairs
        top = int(np.argmax(vtk_arrays(self.data.GetPointData())["Loss"]))
        death = np.where(p.essential, top, p.death_vertex)
        vid = np.stack([np.append(p.birth_vertex, top), np.append(death, top)], 1).reshape(-1)
        ctype = np.stack([np.append(np.zeros(p.birth.size), 2), np.append(np.where(p.essential, 3, 1), 3)], 1)
        n = p.birth.size + 2
        self.outputs = {
            0: _diagram_grid(
                {"ttkVertexScalarField": np.append(vid, [0, 0]), "CriticalType": np.append(ctype.reshape(-1), [0, 0])},
                {
                    "PairIdentifier": np.append(np.arange(n - 1), -1),
                    "PairType": np.append(np.zeros(n - 2), [1, -1]),
                    "IsFinite": np.append(~p.essential | self.essential_is_finite, [1, 0]).astype(np.uint8),
                },
                n,
            )
        }


class FakeTTK:
    ttkMergeTree = FakeMergeTree
    ttkPersistenceDiagram = FakeDiagram


@pytest.fixture
def fake_ttk(monkeypatch):
    monkeypatch.setattr(ttk_backend, "_ttk", lambda: FakeTTK)
    _Filter.calls = []
    return _Filter.calls


@pytest.mark.parametrize("shape", [(9, 8), (5, 4, 6)])
def test_image_path_through_ttk_format(fake_ttk, shape):
    f = np.random.default_rng(sum(shape)).integers(0, 30, size=shape) / 3.0  # ties
    assert_same_topology(ttk_topology(f), compute_topology(f))
    assert fake_ttk == [f.size]  # one TTK run on the whole image


@pytest.mark.parametrize(
    "shape, graph", [((40,), "freudenthal"), ((6, 7), "axis"), ((6, 5), "full"), ((3, 4, 3, 3), "freudenthal")]
)
def test_line_cell_path_through_ttk_format(fake_ttk, shape, graph):
    f = np.random.default_rng(len(shape)).random(shape)
    assert_same_topology(ttk_topology(f, graph), compute_topology(f, graph))
    assert fake_ttk == [f.size]


def test_essential_pair_written_as_finite(fake_ttk, monkeypatch):
    monkeypatch.setattr(FakeDiagram, "essential_is_finite", True)
    f = np.random.default_rng(9).random((8, 9))
    assert_same_topology(ttk_topology(f), compute_topology(f))


def test_components_are_separate_ttk_runs(fake_ttk):
    f = np.random.default_rng(3).random((9, 9))
    f[:, 4] = np.nan  # splits the grid into two 9 x 4 halves
    f[7, 8] = f[8, 7] = np.nan  # and cuts (8, 8) off: its other freudenthal neighbours are outside
    topo = ttk_topology(f)
    assert_same_topology(topo, compute_topology(f))
    assert sorted(fake_ttk) == sorted([36, 33])  # the lone sample at (8, 8) needs no TTK run
    assert topo.pairs.essential.sum() == 3


def test_knn_graph_through_ttk_format(fake_ttk):
    pts = np.random.default_rng(6).random((120, 3))
    values = np.sin(4 * pts).sum(axis=1)
    adj = knn_graph(pts)
    assert_same_topology(ttk_topology(values, "knn", adjacency=adj), graph_topology(values, adj))


def test_without_topologytoolkit_the_error_says_how_to_get_it(monkeypatch):
    if ttk_available():
        pytest.skip("topologytoolkit is installed")
    with pytest.raises(ValueError, match="conda-forge"):
        ttk_topology(np.zeros((3, 3)))


# ---------------------------------------------------------------- the real TTK


@pytest.mark.skipif(not ttk_available(), reason=NO_TTK)
@pytest.mark.parametrize("case", ["grid2d", "grid3d", "axis", "knn"] + LOSSLENS)
def test_real_ttk_equals_native(case):
    rng = np.random.default_rng(0)
    if case in LOSSLENS:
        if not CONFORMANCE.is_dir():
            pytest.skip(f"conformance data not found at {CONFORMANCE}")
        f = np.ascontiguousarray(np.load(CONFORMANCE / case / "loss.npy").reshape(40, 40).T)
        assert_same_topology(ttk_topology(f), compute_topology(f))
    elif case == "knn":
        pts = rng.random((300, 2))
        values = np.cos(5 * pts).sum(axis=1)
        adj = knn_graph(pts)
        assert_same_topology(ttk_topology(values, "knn", adjacency=adj), graph_topology(values, adj))
    else:
        f = rng.integers(0, 50, size=(20, 18) if case != "grid3d" else (9, 8, 7)) / 7.0
        graph = "axis" if case == "axis" else "freudenthal"
        assert_same_topology(ttk_topology(f, graph), compute_topology(f, graph))
