"""The TTK backend: TTK's join tree and persistence diagram, converted to this package's ``Topology``.

TTK (the Topology ToolKit, python module ``topologytoolkit``, conda-forge only; ``envs/ttk.yaml``)
works on VTK datasets, so this module has two halves:

* conversion, tested with pip's ``vtk`` alone: a 2-D or 3-D grid becomes a ``vtkImageData`` whose
  dimensions are the field's shape reversed, so that VTK's point id (x fastest) is the C-order flat
  index and TTK's implicit triangulation is our ``freudenthal`` stencil; every other graph (other
  stencils, 1-D or >3-D grids, grids with non-finite holes, k-NN graphs) becomes a
  ``vtkUnstructuredGrid`` of line cells, one per edge, a 1-dimensional complex whose lower-star
  filtration is the graph's;
* the TTK call (``ttkMergeTree`` with the FTM backend, join tree, and ``ttkPersistenceDiagram``
  with the FTM backend), one connected component at a time as TTK's diagram assumes; its nodes,
  arcs, segmentation and (minimum, saddle) pairs go through ``assemble_topology``, which numbers
  and checks them exactly as for the native engines, so the output files are the same.

Only TTK's vertex ids are used, never its float32 ``Scalar`` copies: values come from the input.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from losstopo.topology.graph import grid_adjacency
from losstopo.topology.tree import Topology, as_field, assemble_topology, sweep_order

SCALARS = "Loss"


class TTKUnavailable(ValueError):
    """The TTK backend was asked for but ``import topologytoolkit`` fails."""


def _vtk():
    try:
        from vtkmodules.util import numpy_support
        from vtkmodules.vtkCommonCore import vtkPoints
        from vtkmodules.vtkCommonDataModel import VTK_LINE, vtkCellArray, vtkImageData, vtkUnstructuredGrid
    except ImportError as exc:
        raise TTKUnavailable(f"the TTK backend needs VTK (python module vtkmodules): {exc}") from None
    return numpy_support, vtkPoints, VTK_LINE, vtkCellArray, vtkImageData, vtkUnstructuredGrid


def _ttk():
    try:
        import topologytoolkit as ttk
    except ImportError as exc:
        raise TTKUnavailable(
            f"topology.backend 'ttk' needs the python module topologytoolkit ({exc}); it is on conda-forge "
            "only: run the workflow with --use-conda (envs/ttk.yaml) or `conda install -c conda-forge "
            "topologytoolkit`"
        ) from None
    return ttk


def ttk_available() -> bool:
    try:
        _ttk()
    except TTKUnavailable:
        return False
    return True


# ---------------------------------------------------------------- conversion


def field_to_image(field, name: str = SCALARS):
    """A 1- to 3-D field as ``vtkImageData`` (origin 0, spacing 1) whose point id is the C-order flat index.

    VTK's x axis varies fastest, so the image's dimensions are ``field.shape`` reversed: sample
    ``field[i, j, k]`` is point (x, y, z) = (k, j, i).
    """
    numpy_support, _, _, _, vtkImageData, _ = _vtk()
    arr = as_field(field)
    if not 1 <= arr.ndim <= 3:
        raise ValueError(f"vtkImageData holds 1 to 3 axes; the field has shape {arr.shape}")
    image = vtkImageData()
    image.SetDimensions(*(arr.shape[::-1] + (1,) * (3 - arr.ndim)))
    values = numpy_support.numpy_to_vtk(arr.reshape(-1), deep=1)
    values.SetName(name)
    image.GetPointData().AddArray(values)
    image.GetPointData().SetActiveScalars(name)
    return image


def image_to_field(image, name: str = SCALARS) -> np.ndarray:
    """The inverse of :func:`field_to_image`: the point array ``name`` with shape = dimensions reversed
    (trailing singleton VTK axes dropped). For a LossLens ``loss.vti`` (id i + 40 j) this is ``loss.T``."""
    numpy_support = _vtk()[0]
    array = image.GetPointData().GetArray(name)
    if array is None:
        raise ValueError(f"the image has no point array {name!r}")
    dims = list(image.GetDimensions())
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return numpy_support.vtk_to_numpy(array).reshape(dims[::-1]).astype(np.float64)


def graph_to_unstructured(values, edges, coords=None, name: str = SCALARS):
    """A graph as a ``vtkUnstructuredGrid`` of line cells: point i carries ``values[i]``, one cell per
    edge (u, v). ``coords`` (N, <= 3) places the points (TTK uses positions only for region spans)."""
    numpy_support, vtkPoints, VTK_LINE, vtkCellArray, _, vtkUnstructuredGrid = _vtk()
    values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    edges = np.ascontiguousarray(edges, dtype=np.int64).reshape(-1, 2)
    xyz = np.zeros((values.size, 3))
    if coords is not None:
        coords = np.asarray(coords, dtype=np.float64).reshape(values.size, -1)[:, :3]
        xyz[:, : coords.shape[1]] = coords
    points = vtkPoints()
    points.SetData(numpy_support.numpy_to_vtk(xyz, deep=1))
    cells = vtkCellArray()
    cells.SetData(
        numpy_support.numpy_to_vtkIdTypeArray(np.arange(0, 2 * len(edges) + 1, 2), deep=1),
        numpy_support.numpy_to_vtkIdTypeArray(edges.reshape(-1), deep=1),
    )
    grid = vtkUnstructuredGrid()
    grid.SetPoints(points)
    grid.SetCells(VTK_LINE, cells)
    array = numpy_support.numpy_to_vtk(values, deep=1)
    array.SetName(name)
    grid.GetPointData().AddArray(array)
    grid.GetPointData().SetActiveScalars(name)
    return grid


def unstructured_edges(grid) -> np.ndarray:
    """(E, 2) point ids of the line cells of a ``vtkUnstructuredGrid``."""
    numpy_support = _vtk()[0]
    return numpy_support.vtk_to_numpy(grid.GetCells().GetConnectivityArray()).reshape(-1, 2).astype(np.int64)


def vtk_arrays(attributes) -> dict[str, np.ndarray]:
    """Every named array of a ``vtkPointData`` / ``vtkCellData`` as a numpy array."""
    numpy_support = _vtk()[0]
    out = {}
    for i in range(attributes.GetNumberOfArrays()):
        array = attributes.GetAbstractArray(i)
        if array is not None and array.GetName() and hasattr(array, "GetNumberOfComponents"):
            out[array.GetName()] = numpy_support.vtk_to_numpy(array)
    return out


def _column(table: dict, name: str, what: str) -> np.ndarray:
    if name not in table:
        raise ValueError(f"TTK {what} output has no array {name!r} (found {', '.join(sorted(table)) or 'none'})")
    return np.asarray(table[name]).reshape(-1)


# ---------------------------------------------------------------- TTK output -> tree arrays


def ttk_pairs(points: dict, cells: dict, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(birth vertex, death vertex) of the 0-dim pairs of a TTK persistence diagram; death -1 for the
    essential class.

    ``points``: the diagram's point arrays (``ttkVertexScalarField``, ``CriticalType``); ``cells``:
    its cell arrays; ``edges``: each cell's (birth point, death point). Kept: cells with
    ``PairType`` 0 (minimum, 1-saddle) and ``PairIdentifier`` >= 0 (not the diagonal); diagrams
    exported without these arrays (as the LossLens CSVs) keep the pairs born at a minimum. The
    essential pair is the one with ``IsFinite`` 0, or, without that array, the one dying at a
    maximum (CriticalType 3). (Saddle, maximum) pairs, 1-dimensional, are dropped.
    """
    vid = _column(points, "ttkVertexScalarField", "persistence diagram").astype(np.int64)
    ptype = _column(points, "CriticalType", "persistence diagram")
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    keep = ptype[edges[:, 0]] == 0
    if "PairType" in cells:
        keep = np.asarray(cells["PairType"]).reshape(-1) == 0
    if "PairIdentifier" in cells:
        keep &= np.asarray(cells["PairIdentifier"]).reshape(-1) >= 0
    birth_pt, death_pt = edges[keep, 0], edges[keep, 1]
    if "IsFinite" in cells:
        infinite = np.asarray(cells["IsFinite"]).reshape(-1)[keep] == 0
    else:
        infinite = ptype[death_pt] == 3
    return vid[birth_pt], np.where(infinite, -1, vid[death_pt])


def tree_from_ttk(nodes: dict, arcs: dict, segmentation: np.ndarray, pairs: tuple[np.ndarray, np.ndarray]) -> dict:
    """Node vertices, arcs and per-vertex arc of TTK's join tree (in TTK's vertex ids), with ``pairs``.

    ``nodes``: point arrays of the tree's nodes (``NodeId``, ``VertexId``, ``CriticalType``);
    ``arcs``: cell arrays of its arcs (``downNodeId``, ``upNodeId``, ``SegmentationId``; several
    cells of one arc are merged); ``segmentation``: the ``SegmentationId`` of every input point.
    """
    node_id = _column(nodes, "NodeId", "merge tree node")
    node_vertex = _column(nodes, "VertexId", "merge tree node").astype(np.int64)
    ctype = _column(nodes, "CriticalType", "merge tree node")
    if np.isin(ctype, (0, 1, 3, 4), invert=True).any():
        raise ValueError(f"TTK join tree has node types {sorted(set(ctype.tolist()))}; expected 0, 1, 3, 4")
    vertex_of_node = dict(zip(node_id.tolist(), node_vertex.tolist()))
    seg_id, first = np.unique(_column(arcs, "SegmentationId", "merge tree arc"), return_index=True)
    down = _column(arcs, "downNodeId", "merge tree arc")[first]
    up = _column(arcs, "upNodeId", "merge tree arc")[first]
    seg = np.asarray(segmentation).reshape(-1)
    where = np.minimum(np.searchsorted(seg_id, seg), max(seg_id.size - 1, 0))
    known = (seg_id[where] == seg) if seg_id.size else np.zeros(seg.size, bool)
    return {
        "node_vertex": node_vertex,
        "arc_down_vertex": np.array([vertex_of_node[n] for n in down.tolist()], np.int64),
        "arc_up_vertex": np.array([vertex_of_node[n] for n in up.tolist()], np.int64),
        "vertex_arc": np.where(known, where, -1),
        "birth_vertex": np.asarray(pairs[0], np.int64),
        "death_vertex": np.asarray(pairs[1], np.int64),
    }


def _run_ttk(dataset) -> dict:
    """TTK's join tree (FTM, with segmentation) and persistence diagram (FTM) of one connected dataset."""
    ttk = _ttk()
    merge_tree = ttk.ttkMergeTree() if hasattr(ttk, "ttkMergeTree") else ttk.ttkFTMTree()
    merge_tree.SetInputDataObject(0, dataset)
    merge_tree.SetInputArrayToProcess(0, 0, 0, 0, SCALARS)
    merge_tree.SetTreeType(0)  # join tree: minima are leaves
    if hasattr(merge_tree, "SetBackend"):
        merge_tree.SetBackend(0)  # FTM: the backend that takes any triangulation
    merge_tree.SetWithSegmentation(True)
    merge_tree.SetWithNormalize(True)
    if hasattr(merge_tree, "SetSuperArcSamplingLevel"):
        merge_tree.SetSuperArcSamplingLevel(0)  # one line cell per arc
    merge_tree.Update()
    diagram = ttk.ttkPersistenceDiagram()
    diagram.SetInputDataObject(0, dataset)
    diagram.SetInputArrayToProcess(0, 0, 0, 0, SCALARS)
    if hasattr(diagram, "SetBackEnd"):
        diagram.SetBackEnd(0)  # FTM
    diagram.Update()
    nodes = merge_tree.GetOutputDataObject(0)
    arcs = merge_tree.GetOutputDataObject(1)
    segmentation = merge_tree.GetOutputDataObject(2)
    dgm = diagram.GetOutputDataObject(0)
    seg = vtk_arrays(segmentation.GetPointData())
    if "SegmentationId" not in seg:
        raise ValueError("TTK merge tree segmentation output has no SegmentationId array")
    pairs = ttk_pairs(vtk_arrays(dgm.GetPointData()), vtk_arrays(dgm.GetCellData()), unstructured_edges(dgm))
    return tree_from_ttk(vtk_arrays(nodes.GetPointData()), vtk_arrays(arcs.GetCellData()), seg["SegmentationId"], pairs)


def _image_path(field: np.ndarray, graph: str) -> bool:
    """TTK's implicit triangulation of a grid is exactly our freudenthal stencil in 2-D and 3-D."""
    return graph == "freudenthal" and field.ndim in (2, 3) and min(field.shape) >= 2 and bool(np.isfinite(field).all())


def ttk_topology(values, graph: str = "freudenthal", adjacency=None) -> Topology:
    """The topology of ``values`` computed by TTK, in this package's conventions.

    Without ``adjacency``, ``values`` is a grid and ``graph`` its stencil: a finite 2-D/3-D grid with
    ``freudenthal`` goes to TTK as ``vtkImageData``; anything else as line cells of the stencil's
    edges. With ``adjacency`` (N, N sparse) the graph is given (``graph`` only names it). Non-finite
    samples are dropped; each connected component is a separate TTK run; a lone vertex is a minimum
    with its essential class, without calling TTK. Raises TTKUnavailable without topologytoolkit.
    """
    field = as_field(values)
    flat = field.reshape(-1)
    _ttk()
    if adjacency is None and _image_path(field, graph):
        parts = [(np.arange(flat.size), _run_ttk(field_to_image(field)))]
    else:
        adj = grid_adjacency(field.shape, graph) if adjacency is None else sparse.csr_matrix(adjacency)
        finite = np.flatnonzero(np.isfinite(flat))
        sub = adj[finite][:, finite]
        _, label = connected_components(sub, directed=False)
        coords = np.indices(field.shape).reshape(field.ndim, -1).T if adjacency is None else None
        parts = []
        for c in range(label.max() + 1 if label.size else 0):
            local = np.flatnonzero(label == c)
            glob = finite[local]  # increasing: TTK's ties by local id follow the flat index
            if local.size == 1:
                one = np.zeros(0, np.int64)
                parts.append(
                    (
                        glob,
                        {
                            "node_vertex": np.zeros(1, np.int64),
                            "arc_down_vertex": one,
                            "arc_up_vertex": one,
                            "vertex_arc": np.full(1, -1),
                            "birth_vertex": np.zeros(1, np.int64),
                            "death_vertex": np.full(1, -1),
                        },
                    )
                )
                continue
            edges = sparse.triu(sub[local][:, local], k=1).tocoo()
            dataset = graph_to_unstructured(
                flat[glob], np.stack([edges.row, edges.col], axis=1), None if coords is None else coords[glob]
            )
            parts.append((glob, _run_ttk(dataset)))
    vertex_arc = np.full(flat.size, -1, np.int64)
    keys = ("node_vertex", "arc_down_vertex", "arc_up_vertex", "birth_vertex")
    merged = {key: [] for key in keys}
    death, n_arcs = [], 0
    for glob, tree in parts:
        for key in keys:
            merged[key].append(glob[tree[key]])
        # The class born at the component's lowest vertex never dies (elder rule), whatever the TTK
        # version writes for it (a pair with the maximum, finite or not).
        lowest = sweep_order(flat[glob])[0]
        essential = (tree["death_vertex"] < 0) | (tree["birth_vertex"] == lowest)
        death.append(np.where(essential, -1, glob[np.maximum(tree["death_vertex"], 0)]))
        vertex_arc[glob] = np.where(tree["vertex_arc"] >= 0, tree["vertex_arc"] + n_arcs, -1)
        n_arcs += tree["arc_down_vertex"].size
    cat = {key: np.concatenate(merged[key]) if merged[key] else np.zeros(0, np.int64) for key in keys}
    return assemble_topology(
        field,
        graph,
        cat["node_vertex"],
        cat["arc_down_vertex"],
        cat["arc_up_vertex"],
        vertex_arc,
        cat["birth_vertex"],
        np.concatenate(death) if death else np.zeros(0, np.int64),
    )
