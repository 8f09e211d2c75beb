"""The topology stage's files: reading a landscape, and writing and reading a merge tree, diagram and summary.

Input is a grid (``.npy``, or an ``.npz`` with ``loss``) or scattered samples (an ``.npz`` with
``points`` (N, n) and ``loss`` (N,)). Output, in one folder: ``persistence.csv`` (one row per pair),
``merge_tree_nodes.csv``, ``merge_tree_arcs.csv``, ``segmentation.npy`` (the arc of every sample) and
``topology.json`` (the summary of ``losstopo.topology.summary``). A landscape.npz sampled at further spans
(``landscape.extra_spans``) also holds ``extra_spans`` and ``extra_loss``. docs/topology.md defines every column.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.io import (
    InputFileError,
    atomic_path,
    load_array,
    load_loss_array,
    save_csv,
    save_json,
)
from losstopo.landscape.files import load_landscape
from losstopo.topology.records import mismatch, read_pairs, read_table
from losstopo.topology.summary import summarize
from losstopo.topology.tree import MergeTree, PersistencePairs, Topology

FILES = ("persistence.csv", "merge_tree_nodes.csv", "merge_tree_arcs.csv", "segmentation.npy", "topology.json")


def write_topology(
    topo: Topology, out_dir: str | os.PathLike, threshold: float = 0.0, extra: dict | None = None
) -> dict:
    """Write every output file of the topology stage into ``out_dir``; return the summary
    (``extra`` entries are added to it, replacing computed ones of the same name)."""
    out_dir = Path(out_dir)
    summary = summarize(topo, threshold) | dict(extra or {})
    tree, pairs = topo.tree, topo.pairs
    save_csv(
        out_dir / "persistence.csv",
        pd.DataFrame(
            {
                "birth": pairs.birth,
                "death": pairs.death,
                "persistence": pairs.persistence,
                "birth_vertex": pairs.birth_vertex,
                "death_vertex": pairs.death_vertex,
                "basin_size": pairs.basin_size,
            }
        ),
    )
    save_csv(
        out_dir / "merge_tree_nodes.csv",
        pd.DataFrame(
            {
                "node": np.arange(tree.n_nodes),
                "vertex": tree.node_vertex,
                "value": tree.node_value,
                "type": tree.node_type,
            }
        ),
    )
    save_csv(
        out_dir / "merge_tree_arcs.csv",
        pd.DataFrame(
            {
                "arc": np.arange(tree.arc_down.size),
                "down_node": tree.arc_down,
                "up_node": tree.arc_up,
                "down_vertex": tree.node_vertex[tree.arc_down],
                "up_vertex": tree.node_vertex[tree.arc_up],
                "region_size": tree.arc_region_size,
            }
        ),
    )
    with atomic_path(out_dir / "segmentation.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, tree.segmentation)
    save_json(out_dir / "topology.json", summary)
    return summary


def read_topology(out_dir: str | os.PathLike) -> dict:
    """The files written by :func:`write_topology`, as DataFrames / arrays / the summary dict, checked
    against each other (:func:`read_pairs`; n_nodes nodes; an arc below every node but each component's
    root; a segmentation of the summary's shape naming an arc or -1 per sample). InputFileError names
    the file that is missing, unreadable, cut short or inconsistent."""
    out_dir = Path(out_dir)
    missing = [name for name in FILES if not (out_dir / name).exists()]
    if missing:
        raise InputFileError(f"{out_dir}: missing topology output(s) {', '.join(missing)}")
    pairs, summary = read_pairs(out_dir)
    nodes, arcs = read_table(out_dir, "merge_tree_nodes.csv"), read_table(out_dir, "merge_tree_arcs.csv")
    segmentation = load_array(out_dir / "segmentation.npy")
    n_arcs = summary["n_nodes"] - summary["n_components"]
    if len(nodes) != summary["n_nodes"]:
        raise mismatch(out_dir / "merge_tree_nodes.csv", f"{len(nodes)} node(s)", f"{summary['n_nodes']}")
    if len(arcs) != n_arcs:
        raise mismatch(out_dir / "merge_tree_arcs.csv", f"{len(arcs)} arc(s)", f"{n_arcs} (n_nodes - n_components)")
    if list(segmentation.shape) != list(summary["shape"]) or segmentation.dtype.kind not in "iu":
        raise mismatch(
            out_dir / "segmentation.npy",
            f"shape {segmentation.shape} ({segmentation.dtype})",
            f"shape {summary['shape']}",
        )
    if segmentation.size and not (-1 <= segmentation.min() and segmentation.max() < n_arcs):
        raise mismatch(
            out_dir / "segmentation.npy", f"arcs {segmentation.min()}..{segmentation.max()}", f"{n_arcs} arcs"
        )
    return {"pairs": pairs, "nodes": nodes, "arcs": arcs, "segmentation": segmentation, "summary": summary}


def load_topology(out_dir: str | os.PathLike, field) -> Topology:
    """The ``Topology`` written by :func:`write_topology`, given the field it was computed from."""
    files = read_topology(out_dir)
    field = np.ascontiguousarray(field, dtype=np.float64)
    nodes, arcs, pairs = files["nodes"], files["arcs"], files["pairs"]
    if files["segmentation"].shape != field.shape:
        raise InputFileError(
            f"{out_dir}: segmentation.npy has shape {files['segmentation'].shape} but the "
            f"landscape has shape {field.shape}"
        )
    tree = MergeTree(
        node_vertex=nodes["vertex"].to_numpy(np.int64),
        node_value=nodes["value"].to_numpy(np.float64),
        node_type=nodes["type"].to_numpy(np.int8),
        arc_down=arcs["down_node"].to_numpy(np.int64),
        arc_up=arcs["up_node"].to_numpy(np.int64),
        arc_region_size=arcs["region_size"].to_numpy(np.int64),
        segmentation=files["segmentation"],
    )
    pairs = PersistencePairs(
        birth_vertex=pairs["birth_vertex"].to_numpy(np.int64),
        death_vertex=pairs["death_vertex"].to_numpy(np.int64),
        birth=pairs["birth"].to_numpy(np.float64),
        death=pairs["death"].to_numpy(np.float64),
        basin_size=pairs["basin_size"].to_numpy(np.int64),
    )
    return Topology(field=field, graph=files["summary"].get("graph", ""), tree=tree, pairs=pairs)


def extra_spans(data: dict, loss: np.ndarray, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(spans (m,), losses (m, *loss.shape)) of the further spans a landscape.npz holds besides its own
    (``landscape.extra_spans``, losstopo.landscape.sampling), from ``data``, the file's arrays as
    :func:`read_landscape_input` returns them; both empty when it holds none. InputFileError naming ``path``
    when the two arrays do not match each other or the landscape's grid."""
    if "extra_spans" not in data and "extra_loss" not in data:
        return np.zeros(0), np.zeros((0, *loss.shape))
    spans, losses = np.asarray(data.get("extra_spans")), np.asarray(data.get("extra_loss"))
    if spans.ndim != 1 or losses.shape != (spans.size, *loss.shape) or "points" in data:
        raise InputFileError(
            f"{path}: 'extra_spans' {spans.shape} and 'extra_loss' {losses.shape} do not match a grid 'loss' of "
            f"shape {loss.shape} (expected (m,) and (m, {', '.join(map(str, loss.shape))}))"
        )
    return spans.astype(np.float64), losses


def load_landscape_input(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """(loss, points) of a topology input: points is None for a grid; checked for shape and dtype."""
    loss, points, _ = read_landscape_input(path)
    return loss, points


def read_landscape_input(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(loss, points, arrays) of a topology input, read once: as :func:`load_landscape_input`, plus every
    array of an ``.npz`` (:func:`losstopo.landscape.files.load_landscape`; ``{}`` for a ``.npy``)."""
    path = Path(path)
    points, data = None, {}
    if path.suffix == ".npz":
        data = load_landscape(path)
        loss, points = np.asarray(data["loss"]), data.get("points")
    else:
        loss = load_loss_array(path)
    if loss.ndim == 0:
        raise InputFileError(f"{path}: the loss is a 0-d array (a single number); expected a grid")
    if loss.dtype.kind not in "biuf":
        raise InputFileError(f"{path}: the loss array has non-numeric dtype {loss.dtype}")
    if points is not None:
        points = np.asarray(points)
        if points.ndim != 2 or points.dtype.kind not in "biuf":
            raise InputFileError(
                f"{path}: 'points' must be a numeric (N, n) array, got shape {points.shape} and dtype {points.dtype}"
            )
        if loss.ndim != 1 or loss.size != len(points):
            raise InputFileError(
                f"{path}: 'points' has {len(points)} rows but 'loss' has shape {loss.shape}; "
                "expected one loss value per point"
            )
    return loss, points, data
