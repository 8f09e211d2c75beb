"""The symmetrised k-nearest-neighbour graph of scattered samples (paper 1), and their topology on it.

Samples of a landscape drawn at random or on a Sobol sequence have no grid; paper 1 joins them with a
symmetrised approximate k-NN graph (k = 4n in n dimensions). Here the graph is exact (scipy's cKDTree)
and the topology comes from the graph engine (``losstopo.topology.graph``). docs/profile.md.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from losstopo.topology.graph import graph_topology
from losstopo.topology.tree import Topology
from losstopo.topology.ttk import ttk_topology


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
        raise ValueError(
            f"points: {same.size} duplicate sample(s), e.g. samples {i} and {j} both at "
            f"{pts[i].tolist()}; a k-NN graph needs distinct points"
        )
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


def scattered_topology(
    loss: np.ndarray, points: np.ndarray, k: int | None = None, backend: str = "native"
) -> tuple[Topology, dict]:
    """Topology of scattered samples on the symmetrised k-NN graph of the samples with finite loss
    (non-finite samples are not vertices, as on grids; if none is finite the graph is empty);
    returns it and the summary entries it adds."""
    finite = np.flatnonzero(np.isfinite(loss))
    k = default_k(points.shape[1]) if k is None else int(k)
    adj = sparse.csr_matrix((loss.size,) * 2, dtype=np.int8)
    if finite.size:
        sub = knn_graph(points[finite], k).tocoo()
        adj = sparse.csr_matrix((sub.data, (finite[sub.row], finite[sub.col])), shape=(loss.size,) * 2)
    if backend == "ttk":
        topo = ttk_topology(loss, graph="knn", adjacency=adj)
    else:
        topo = graph_topology(loss, adj, "knn")
    nearest = int(np.argmin((points**2).sum(axis=1)))  # the sample nearest the trained model
    centre = float(loss[nearest]) if np.isfinite(loss[nearest]) else None
    return topo, {"knn_k": k, "n_dims": int(points.shape[1]), "loss_center": centre}
