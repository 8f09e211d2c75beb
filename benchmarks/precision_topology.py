"""Does float32 sampling change the topology of PINN landscapes? float32 vs float64, same grid.

Trains PINNs (defaults: 4 x 50 tanh, 1000 collocation points, 500 L-BFGS iterations in float32) for
each beta and seed, samples the loss on the same r x r grid of filter-normalised random directions
in float64 and in float32 (the network in float32, every mean square summed in float64), and
compares the two landscapes' 0-dim topology on the Freudenthal grid (the workflow's default):

* ``max_rel_diff``: the largest |L32 - L64| / L64 over the grid;
* ``same_pairs``: the same persistence pairs (the same minimum and saddle vertices);
* ``same_tree``: the same merge tree: the same arcs, each as (lower node's vertex, upper node's vertex);
* ``bottleneck_rel``: bottleneck distance of the finite diagrams over the loss range;
* ``margin``: the smallest finite persistence (float64) over the largest |L32 - L64|;
* minima counted with persistence >= 1e-3 and >= 1e-6 of the loss range, in each precision.

    python benchmarks/precision_topology.py [--betas 1 10 30] [--seeds 0 1] [--spans 1 0.1 0.01]
        [--resolution 41] [--out table.csv]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from losstopo.landscape.directions import random_directions
from losstopo.landscape.sampling import sample_landscape
from losstopo.sweep.families import defaults
from losstopo.topology import compute_topology
from losstopo.topology.distances import bottleneck, diagram
from losstopo.training.families import pinn


def margin(diagram64: np.ndarray, loss64: np.ndarray, loss32: np.ndarray) -> float:
    """The smallest finite persistence in float64 over the largest |L32 - L64|: how far the float32
    error is from changing a pair (inf without finite pairs or without error)."""
    error = float(np.max(np.abs(loss32 - loss64)))
    if len(diagram64) == 0 or error == 0:
        return float("inf")
    return float(np.min(diagram64[:, 1] - diagram64[:, 0])) / error


def compare(loss64: np.ndarray, loss32: np.ndarray, graph: str = "freudenthal") -> dict:
    """Topology of two samplings of one landscape, side by side."""
    tops = [compute_topology(f, graph) for f in (loss64, loss32)]
    loss_range = float(loss64.max() - loss64.min())
    diagrams = [diagram(t.pairs.birth, t.pairs.death) for t in tops]
    pairs = [set(zip(t.pairs.birth_vertex.tolist(), t.pairs.death_vertex.tolist())) for t in tops]
    arcs = [
        set(zip(t.tree.node_vertex[t.tree.arc_down].tolist(), t.tree.node_vertex[t.tree.arc_up].tolist())) for t in tops
    ]
    row = {
        "max_rel_diff": float(np.max(np.abs(loss32 - loss64) / np.abs(loss64))),
        "same_pairs": pairs[0] == pairs[1],
        "same_tree": arcs[0] == arcs[1],
        "bottleneck_rel": bottleneck(*diagrams) / loss_range,
        "margin": margin(diagrams[0], loss64, loss32),
        "loss_min": float(loss64.min()),
        "loss_range": loss_range,
    }
    for tag, d in zip(("64", "32"), diagrams):
        persistence = d[:, 1] - d[:, 0]
        row[f"minima{tag}"] = len(d) + 1
        for threshold in (1e-3, 1e-6):
            row[f"minima{tag}_{threshold:g}"] = int(np.sum(persistence >= threshold * loss_range)) + 1
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 10.0, 30.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--spans", type=float, nargs="+", default=[1.0, 0.1, 0.01])
    parser.add_argument("--resolution", type=int, default=41)
    parser.add_argument("--out", default=None, help="also write the table as CSV")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for beta in args.betas:
        for seed in args.seeds:
            hp = defaults(pinn) | {"beta": beta}
            torch.manual_seed(seed)
            model = pinn.build_model(hp)
            trained = pinn.train(model, hp, seed, "cpu")
            directions = random_directions(model, 2, run_seed=seed)
            for span in args.spans:
                loss = {
                    name: sample_landscape(
                        pinn.objective(model, hp, seed, "cpu", getattr(torch, name)),
                        directions,
                        args.resolution,
                        span,
                        progress=False,
                    )
                    for name in ("float64", "float32")
                }
                rows.append(
                    {"beta": beta, "seed": seed, "span": span, "rel_l2_error": trained.metrics["rel_l2_error"]}
                    | compare(loss["float64"], loss["float32"])
                )
                print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    print(
        f"same pairs in {int(table['same_pairs'].sum())} and the same merge tree in "
        f"{int(table['same_tree'].sum())} of {len(table)} landscapes; "
        f"largest bottleneck / range {table['bottleneck_rel'].max():.1e}, smallest margin {table['margin'].min():.1e}"
    )


if __name__ == "__main__":
    main()
