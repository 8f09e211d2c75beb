"""``losstopo topology``: write a landscape's merge tree, diagram, segmentation and summary."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.io import InputFileError, atomic_path, load_json, load_loss_array, save_csv, save_json
from losstopo.topology.mergetree import Topology, compute_topology
from losstopo.topology.summary import check_threshold, summarize

FILES = ("persistence.csv", "merge_tree_nodes.csv", "merge_tree_arcs.csv", "segmentation.npy", "topology.json")


def write_topology(topo: Topology, out_dir: str | os.PathLike, threshold: float = 0.0) -> dict:
    """Write every output file of the topology stage into ``out_dir``; return the summary."""
    out_dir = Path(out_dir)
    summary = summarize(topo, threshold)
    tree, pairs = topo.tree, topo.pairs
    save_csv(out_dir / "persistence.csv", pd.DataFrame({
        "birth": pairs.birth, "death": pairs.death, "persistence": pairs.persistence,
        "birth_vertex": pairs.birth_vertex, "death_vertex": pairs.death_vertex, "basin_size": pairs.basin_size,
    }))
    save_csv(out_dir / "merge_tree_nodes.csv", pd.DataFrame({
        "node": np.arange(tree.n_nodes), "vertex": tree.node_vertex, "value": tree.node_value,
        "type": tree.node_type,
    }))
    save_csv(out_dir / "merge_tree_arcs.csv", pd.DataFrame({
        "arc": np.arange(tree.arc_down.size), "down_node": tree.arc_down, "up_node": tree.arc_up,
        "down_vertex": tree.node_vertex[tree.arc_down], "up_vertex": tree.node_vertex[tree.arc_up],
        "region_size": tree.arc_region_size,
    }))
    with atomic_path(out_dir / "segmentation.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, tree.segmentation)
    save_json(out_dir / "topology.json", summary)
    return summary


def read_topology(out_dir: str | os.PathLike) -> dict:
    """The files written by :func:`write_topology`, as DataFrames / arrays / the summary dict."""
    out_dir = Path(out_dir)
    missing = [name for name in FILES if not (out_dir / name).exists()]
    if missing:
        raise InputFileError(f"{out_dir}: missing topology output(s) {', '.join(missing)}")
    return {
        "pairs": pd.read_csv(out_dir / "persistence.csv"),
        "nodes": pd.read_csv(out_dir / "merge_tree_nodes.csv"),
        "arcs": pd.read_csv(out_dir / "merge_tree_arcs.csv"),
        "segmentation": np.load(out_dir / "segmentation.npy"),
        "summary": load_json(out_dir / "topology.json"),
    }


def main(args) -> int:
    """CLI handler: ``losstopo topology IN --graph G --out-dir DIR [--threshold T]``."""
    threshold = check_threshold(args.threshold)
    loss = load_loss_array(args.input)
    if loss.ndim == 0:
        raise InputFileError(f"{args.input}: the loss is a 0-d array (a single number); expected a grid")
    if loss.dtype.kind not in "biuf":
        raise InputFileError(f"{args.input}: the loss array has non-numeric dtype {loss.dtype}")
    start = time.perf_counter()
    topo = compute_topology(loss, graph=args.graph)
    summary = write_topology(topo, args.out_dir, threshold)
    print(f"losstopo topology: {args.input}: shape {loss.shape}, {summary['n_minima']} minima, "
          f"{summary['n_saddles']} saddles, {summary['n_nonfinite']} non-finite; "
          f"{time.perf_counter() - start:.2f} s -> {args.out_dir}")
    return 0
