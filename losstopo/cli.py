"""The ``losstopo`` command line: one subcommand per workflow stage.

Each subcommand's implementation is imported only when it runs, so ``losstopo topology`` does not
pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from losstopo.io import InputFileError


def _json_dict(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _epochs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs, got {text!r}") from None


def _profile_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threshold", type=float, default=0.01,
                   help="relative persistence (fraction of the loss range) below which basins are not drawn")
    p.add_argument("--max-basins", type=int, default=200, help="draw at most this many basins (the most persistent)")
    p.add_argument("--levels", type=int, default=256, help="loss levels at which valley widths are computed")
    p.add_argument("--scale", choices=("linear", "log"), default="log", help="loss axis")
    p.add_argument("--cmap", default="viridis", help="matplotlib colormap of the basins' mean loss")
    p.add_argument("--title", default="")


def build_parser() -> argparse.ArgumentParser:
    # @FILE stands for the arguments in FILE, one per line: the workflow passes folder lists this way,
    # as one command-line argument may hold at most 128 KiB.
    parser = argparse.ArgumentParser(prog="losstopo", description=__doc__.splitlines()[0], fromfile_prefix_chars="@")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one model of the sweep")
    p.add_argument("--family", required=True)
    p.add_argument("--params", type=_json_dict, required=True, help="hyperparameters as a JSON object")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--checkpoints", type=_epochs, default=(), help="comma-separated epochs whose models to keep")
    p.add_argument("--run-id", default=None, help="the run's id in run.json (default: --out-dir as given)")
    p.add_argument("--swept", type=_json_dict, default={}, help="the swept hyperparameters' values (JSON), for run.json")
    p.set_defaults(handler="losstopo.train:main")

    p = sub.add_parser("checkpoint", help="one epoch's model of a trained run, as a run folder of its own")
    p.add_argument("--run-dir", required=True, help="folder holding checkpoints.pt, train.json, model.pt")
    p.add_argument("--epoch", type=int, required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(handler="losstopo.train:checkpoint_main")

    p = sub.add_parser("directions", help="pick the landscape's directions in parameter space")
    p.add_argument("--run-dir", required=True, help="folder holding model.pt and train.json")
    p.add_argument("--landscape", type=_json_dict, required=True, help="landscape settings as a JSON object")
    p.add_argument("--out", required=True, help="directions.npz to write")
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="losstopo.directions:main")

    p = sub.add_parser("sample", help="sample the loss on a grid around a trained model")
    p.add_argument("--run-dir", required=True, help="folder holding model.pt and train.json")
    p.add_argument("--directions", required=True)
    p.add_argument("--landscape", type=_json_dict, required=True, help="landscape settings as a JSON object")
    p.add_argument("--out", required=True, help="landscape.npz to write (a shard file with --shard)")
    p.add_argument("--shard", type=int, default=None,
                   help="evaluate only block I of landscape.shard_points grid points (join with 'losstopo gather')")
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="losstopo.sampling:main")

    p = sub.add_parser("gather", help="join the shard files of a sharded landscape into landscape.npz")
    p.add_argument("shards", nargs="+", help="shard files written by 'losstopo sample --shard'")
    p.add_argument("--out", required=True, help="landscape.npz to write")
    p.set_defaults(handler="losstopo.sampling:gather_main")

    p = sub.add_parser("hessian", help="top eigenpairs, trace and spectral density of a trained model's Hessian")
    p.add_argument("--run-dir", required=True, help="folder holding model.pt and train.json")
    p.add_argument("--settings", type=_json_dict, default={}, help="Hessian settings as a JSON object")
    p.add_argument("--out-json", required=True, help="hessian.json to write")
    p.add_argument("--out-density", required=True, help="density .npz to write")
    p.add_argument("--out-plot", default=None, help="ESD plot .png to write")
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="losstopo.hessian:main")

    p = sub.add_parser("topology", help="merge tree, persistence diagram and summary of a landscape")
    p.add_argument("input", help=".npy array, or .npz holding a 'loss' array (plus 'points' (N, n) for scattered samples)")
    p.add_argument("--graph", choices=("axis", "freudenthal", "full"), default="freudenthal",
                   help="grid neighbourhood (grids only)")
    p.add_argument("--knn", type=int, default=None,
                   help="neighbours k of the symmetrised k-NN graph of scattered samples (default 4n); grids ignore it")
    p.add_argument("--backend", choices=("native", "ttk"), default="native",
                   help="native engine, or TTK (needs topologytoolkit from conda-forge, envs/ttk.yaml)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="relative persistence threshold (fraction of the loss range) for the simplified metrics")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(handler="losstopo.topology.command:main")

    p = sub.add_parser("profile", help="topological landscape profile of one run (SVG and PNG)")
    p.add_argument("--topology-dir", required=True, help="folder written by 'losstopo topology'")
    p.add_argument("--landscape", required=True, help="the landscape (.npz or .npy) the topology was computed from")
    p.add_argument("--out-svg", required=True)
    p.add_argument("--out-png", required=True)
    _profile_options(p)
    p.set_defaults(handler="losstopo.topology.profile:main")

    p = sub.add_parser("profile-grid", help="the sweep's profiles in one figure: rows = settings, columns = seeds")
    p.add_argument("--run-dirs", nargs="+", required=True,
                   help="run folders, each holding run.json, landscape.npz and topology/")
    p.add_argument("--out-svg", required=True)
    p.add_argument("--out-png", required=True)
    _profile_options(p)
    p.set_defaults(handler="losstopo.topology.profile:grid_main")

    p = sub.add_parser("distances", help="bottleneck and Wasserstein distances between the runs' persistence diagrams")
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--out", required=True, help="distances.csv to write")
    p.add_argument("--essential", choices=("drop", "max"), default="drop",
                   help="infinite deaths: leave the essential classes out, or close them at the landscape's max loss")
    p.set_defaults(handler="losstopo.topology.distances:main")

    p = sub.add_parser("connectivity", help="the loss on the straight line from each lower seed's model to run B's")
    p.add_argument("--run-b", required=True, help="run folder of model B (the setting's newer seed)")
    p.add_argument("--runs-a", nargs="+", required=True,
                   help="run folders of the models A (the lower seeds; each path's centre and objective)")
    p.add_argument("--points", type=int, default=21, help="points on each path, t = 0 to 1")
    p.add_argument("--precision", default="float64", help="float32 or float64")
    p.add_argument("--out", required=True, help="path file (.json) to write")
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="losstopo.connectivity:main")

    p = sub.add_parser("connectivity-table", help="every pair's path -> connectivity.csv")
    p.add_argument("--path-files", nargs="*", default=[], help="path files written by 'losstopo connectivity'")
    p.add_argument("--out", required=True, help="connectivity.csv to write")
    p.set_defaults(handler="losstopo.connectivity:table_main")

    p = sub.add_parser("explorer", help="results/explorer.html: one self-contained page to browse the sweep")
    p.add_argument("results_dir", help="the results folder (holding runs/ and tables/)")
    p.add_argument("--out", default=None, help="HTML file to write (default RESULTS_DIR/explorer.html)")
    p.set_defaults(handler="losstopo.explorer.build:main")

    p = sub.add_parser("aggregate", help="collect every run into results/tables/runs.csv")
    p.add_argument("--run-dirs", nargs="+", required=True,
                   help="run folders, each holding run.json, train.json, landscape.npz and topology/")
    p.add_argument("--out", required=True, help="runs.csv to write")
    p.add_argument("--checkpoint-dirs", nargs="*", default=[], help="checkpoint folders (<run>/epoch~<e>)")
    p.add_argument("--checkpoints-out", default=None, help="checkpoints.csv to write (one row per checkpoint)")
    p.set_defaults(handler="losstopo.aggregate:main")

    p = sub.add_parser("figures", help="seaborn figures from runs.csv")
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--checkpoints", default=None, help="checkpoints.csv (topology along training)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--heatmaps", type=int, default=4, help="how many 2-D loss heatmaps to draw")
    p.set_defaults(handler="losstopo.figures:main")

    p = sub.add_parser("findings", help="topology-versus-performance statistics from runs.csv")
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--out-dir", required=True,
                   help="folder for correlations.csv, trends.csv, variability.csv and transition.csv")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and permutation draws")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples per correlation")
    p.add_argument("--permutations", type=int, default=10000,
                   help="random permutations per test: rank correlations and the transition test (exact "
                        "enumeration when there are fewer)")
    p.set_defaults(handler="losstopo.findings:main")

    p = sub.add_parser("invariance", help="how each topology metric moves under orientation, stencil and resolution")
    p.add_argument("--run-dirs", nargs="*", default=[], help="run folders (run.json, landscape.npz, topology/)")
    p.add_argument("--out", required=True, help="invariance.csv: one row per landscape, metric and factor")
    p.add_argument("--summary-out", required=True, help="invariance_summary.csv: one row per family and metric")
    p.add_argument("--tolerance", type=float, default=0.1,
                   help="largest median relative spread (orientation, stencil) of a metric that holds still")
    p.set_defaults(handler="losstopo.invariance:main")

    p = sub.add_parser("findings-figures", help="grid heatmaps, scatter and variability figures of the findings")
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--tables-dir", required=True, help="folder holding the tables of 'losstopo findings'")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(handler="losstopo.findings_figures:main")

    p = sub.add_parser("findings-report", help="findings.md: the papers' claims against this sweep's numbers")
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--tables-dir", required=True, help="folder holding the tables of 'losstopo findings'")
    p.add_argument("--out", required=True, help="findings.md to write")
    p.add_argument("--figures", nargs="*", default=[], help="PNG figures to link, grouped by family folder")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of every check")
    p.add_argument("--min-runs", type=int, default=20, help="fewer runs than this: 'too few to conclude'")
    p.set_defaults(handler="losstopo.findings_report:main")

    p = sub.add_parser("validate-config", help="check a config file and print the runs it declares")
    p.add_argument("config")
    p.set_defaults(handler="losstopo.config:main")

    p = sub.add_parser("warm-cache", help="compile the topology engine's numba kernels into numba's cache "
                                          "(make setup runs it; afterwards topology jobs start in about a second)")
    p.set_defaults(handler="losstopo.warm_cache:main")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, func_name = args.handler.split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(handler(args) or 0)
    except (InputFileError, ValueError) as exc:
        print(f"losstopo {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
