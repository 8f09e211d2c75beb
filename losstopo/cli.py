"""The ``losstopo`` command line: one subcommand per workflow stage.

Each subcommand's implementation is imported only when it runs, so ``losstopo topology`` does not
pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from losstopo import __version__
from losstopo.io import InputFileError
from losstopo.sweep.schema import default


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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's formatter that shows each option's default, except for required options and empty defaults."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default in (None, (), [], {}) or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


DEVICE_HELP = "auto (CUDA when a GPU is visible, else the CPU), cpu, cuda or cuda:N"


def _profile_options(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """The profile's drawing options, each flag as ``--{prefix}name`` (``losstopo topology`` draws the profile
    too, with ``prefix="profile-"``, beside its own ``--threshold``)."""
    p.add_argument(
        f"--{prefix}threshold",
        type=float,
        default=default("profile", "threshold"),
        help="relative persistence (fraction of the loss range) below which basins are not drawn",
    )
    p.add_argument(
        f"--{prefix}max-basins",
        type=int,
        default=default("profile", "max_basins"),
        help="draw at most this many basins (the most persistent)",
    )
    p.add_argument(
        f"--{prefix}levels",
        type=int,
        default=default("profile", "levels"),
        help="loss levels at which valley widths are computed",
    )
    p.add_argument(f"--{prefix}scale", choices=("linear", "log"), default=default("profile", "scale"), help="loss axis")
    p.add_argument(
        f"--{prefix}cmap", default=default("profile", "cmap"), help="matplotlib colormap of the basins' mean loss"
    )
    p.add_argument(f"--{prefix}title", default="", help="figure title")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each option's default is shown in its help (from the config schema
    where the option is a config setting)."""
    # @FILE stands for the arguments in FILE, one per line: the workflow passes folder lists this way,
    # as one command-line argument may hold at most 128 KiB.
    parser = argparse.ArgumentParser(
        prog="losstopo", description=__doc__.splitlines()[0], fromfile_prefix_chars="@", formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, description: str, handler: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=description, description=description, formatter_class=HelpFormatter)
        p.set_defaults(handler=handler)
        return p

    p = command("train", "train one model of the sweep", "losstopo.training.train:main")
    p.add_argument("--family", required=True, help="model family (pinn, resnet, unet)")
    p.add_argument(
        "--params",
        type=_json_dict,
        required=True,
        help="hyperparameters as a JSON object; the family's defaults fill the rest",
    )
    p.add_argument("--seed", type=int, required=True, help="seed of initialisation and data order")
    p.add_argument("--out-dir", required=True, help="run folder to write (model.pt, train.json, ...)")
    p.add_argument("--device", default=default("device"), help=DEVICE_HELP)
    p.add_argument("--checkpoints", type=_epochs, default=(), help="comma-separated epochs whose models to keep")
    p.add_argument("--run-id", default=None, help="the run's id in run.json (default: --out-dir as given)")
    p.add_argument(
        "--swept", type=_json_dict, default={}, help="the swept hyperparameters' values (JSON), for run.json"
    )

    p = command(
        "checkpoint",
        "one epoch's model of a trained run, as a run folder of its own",
        "losstopo.training.train:checkpoint_main",
    )
    p.add_argument("--run-dir", required=True, help="folder holding checkpoints.pt, train.json, model.pt")
    p.add_argument("--epoch", type=int, required=True, help="the epoch whose model to extract")
    p.add_argument("--out-dir", required=True, help="folder to write (model.pt, train.json)")

    p = command(
        "directions", "pick the landscape's directions in parameter space", "losstopo.landscape.directions:main"
    )
    p.add_argument("--run-dir", required=True, help="folder holding model.pt and train.json")
    p.add_argument("--landscape", type=_json_dict, required=True, help="landscape settings as a JSON object")
    p.add_argument("--out", required=True, help="directions.npz to write")
    p.add_argument("--device", default=default("device"), help=DEVICE_HELP)

    p = command("sample", "sample the loss on a grid around a trained model", "losstopo.landscape.sampling:main")
    p.add_argument("--run-dir", required=True, help="folder holding model.pt and train.json")
    p.add_argument("--directions", required=True, help="directions.npz of the run")
    p.add_argument(
        "--landscape",
        type=_json_dict,
        required=True,
        help="landscape settings as a JSON object (config/README.md: the landscape block)",
    )
    p.add_argument("--out", required=True, help="landscape.npz to write (a shard file with --shard)")
    p.add_argument(
        "--shard",
        type=int,
        default=None,
        help="evaluate only block I of landscape.shard_points grid points (join with 'losstopo gather')",
    )
    p.add_argument("--device", default=default("device"), help=DEVICE_HELP)

    p = command(
        "gather",
        "join the shard files of a sharded landscape into landscape.npz",
        "losstopo.landscape.sampling:gather_main",
    )
    p.add_argument("shards", nargs="+", help="shard files written by 'losstopo sample --shard'")
    p.add_argument("--out", required=True, help="landscape.npz to write")

    p = command(
        "hessian",
        "top eigenpairs, trace and spectral density of a trained model's Hessian",
        "losstopo.curvature.hessian:main",
    )
    p.add_argument("--run-dir", required=True, help="folder holding model.pt and train.json")
    p.add_argument(
        "--settings",
        type=_json_dict,
        default={},
        help="Hessian settings as a JSON object (config/README.md: the hessian block)",
    )
    p.add_argument("--out-json", required=True, help="hessian.json to write")
    p.add_argument("--out-density", required=True, help="density .npz to write")
    p.add_argument("--out-plot", default=None, help="ESD plot .png to write")
    p.add_argument(
        "--directions",
        default=None,
        help="the run's Hessian directions.npz: take the top eigenpairs from it instead of computing them "
        "(it must hold at least top_k pairs at the same eig_tol)",
    )
    p.add_argument("--device", default=default("device"), help=DEVICE_HELP)

    p = command(
        "topology", "merge tree, persistence diagram and summary of a landscape", "losstopo.topology.stage:main"
    )
    p.add_argument(
        "input", help=".npy array, or .npz holding a 'loss' array (plus 'points' (N, n) for scattered samples)"
    )
    p.add_argument(
        "--graph",
        choices=("axis", "freudenthal", "full"),
        default=default("topology", "graph"),
        help="grid neighbourhood (grids only)",
    )
    p.add_argument(
        "--knn",
        type=int,
        default=default("topology", "knn"),
        help="neighbours k of the symmetrised k-NN graph of scattered samples (default: 4n); grids ignore it",
    )
    p.add_argument(
        "--backend",
        choices=("native", "ttk"),
        default=default("topology", "backend"),
        help="native engine, or TTK (needs topologytoolkit from conda-forge, envs/ttk.yaml)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=default("topology", "threshold"),
        help="relative persistence threshold (fraction of the loss range) for the simplified metrics",
    )
    p.add_argument("--out-dir", required=True, help="folder to write the topology files into")
    p.add_argument(
        "--profile-svg", default=None, help="also draw the landscape's profile into this .svg (with --profile-png)"
    )
    p.add_argument(
        "--profile-png", default=None, help="also draw the landscape's profile into this .png (with --profile-svg)"
    )
    _profile_options(p, prefix="profile-")

    p = command("profile", "topological landscape profile of one run (SVG and PNG)", "losstopo.topology.profile:main")
    p.add_argument("--topology-dir", required=True, help="folder written by 'losstopo topology'")
    p.add_argument("--landscape", required=True, help="the landscape (.npz or .npy) the topology was computed from")
    p.add_argument("--out-svg", required=True, help="profile .svg to write")
    p.add_argument("--out-png", required=True, help="profile .png to write")
    _profile_options(p)

    p = command(
        "profile-grid",
        "the sweep's profiles in one figure: rows = settings, columns = seeds",
        "losstopo.topology.profile:grid_main",
    )
    p.add_argument(
        "--run-dirs", nargs="+", required=True, help="run folders, each holding run.json, landscape.npz and topology/"
    )
    p.add_argument("--out-svg", required=True, help="figure .svg to write")
    p.add_argument("--out-png", required=True, help="figure .png to write")
    _profile_options(p)

    p = command(
        "distances",
        "bottleneck and Wasserstein distances between the runs' persistence diagrams",
        "losstopo.summary.distances:main",
    )
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--out", required=True, help="distances.csv to write")
    p.add_argument(
        "--essential",
        choices=("drop", "max"),
        default=default("distances", "essential"),
        help="infinite deaths: leave the essential classes out, or close them at the landscape's max loss",
    )

    p = command(
        "connectivity",
        "the loss on the straight line from each lower seed's model to run B's",
        "losstopo.landscape.connectivity:main",
    )
    p.add_argument("--run-b", required=True, help="run folder of model B (the setting's newer seed)")
    p.add_argument(
        "--runs-a",
        nargs="+",
        required=True,
        help="run folders of the models A (the lower seeds; each path's centre and objective)",
    )
    p.add_argument(
        "--points", type=int, default=default("connectivity", "points"), help="points on each path, t = 0 to 1"
    )
    p.add_argument(
        "--precision",
        choices=("float32", "float64"),
        default=default("landscape", "precision"),
        help="floating-point precision of the loss evaluations",
    )
    p.add_argument("--out", required=True, help="path file (.json) to write")
    p.add_argument("--device", default=default("device"), help=DEVICE_HELP)

    p = command(
        "connectivity-table", "every pair's path -> connectivity.csv", "losstopo.landscape.connectivity:table_main"
    )
    p.add_argument("--path-files", nargs="*", default=[], help="path files written by 'losstopo connectivity'")
    p.add_argument("--out", required=True, help="connectivity.csv to write")

    p = command(
        "explorer", "results/explorer.html: one self-contained page to browse the sweep", "losstopo.explorer.build:main"
    )
    p.add_argument("results_dir", help="the results folder (holding runs/ and tables/)")
    p.add_argument("--out", default=None, help="HTML file to write (default: RESULTS_DIR/explorer.html)")

    p = command("aggregate", "collect every run into results/tables/runs.csv", "losstopo.summary.aggregate:main")
    p.add_argument(
        "--run-dirs",
        nargs="+",
        required=True,
        help="run folders, each holding run.json, train.json, landscape.npz and topology/",
    )
    p.add_argument("--out", required=True, help="runs.csv to write")
    p.add_argument("--checkpoint-dirs", nargs="*", default=[], help="checkpoint folders (<run>/epoch~<e>)")
    p.add_argument("--checkpoints-out", default=None, help="checkpoints.csv to write (one row per checkpoint)")
    p.add_argument(
        "--spans-out",
        default=None,
        help="spans.csv to write: one row per run and span sampled (landscape.extra_spans), topology at that span",
    )

    p = command("figures", "seaborn figures from runs.csv", "losstopo.summary.figures:main")
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--checkpoints", default=None, help="checkpoints.csv (topology along training)")
    p.add_argument("--out-dir", required=True, help="figures folder (one subfolder per family)")
    p.add_argument(
        "--heatmaps", type=int, default=default("figures", "heatmaps"), help="how many 2-D loss heatmaps to draw"
    )

    p = command(
        "findings", "topology-versus-performance statistics from runs.csv", "losstopo.summary.findings.statistics:main"
    )
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument(
        "--out-dir", required=True, help="folder for correlations.csv, trends.csv, variability.csv and transition.csv"
    )
    p.add_argument(
        "--seed", type=int, default=default("findings", "seed"), help="seed of the bootstrap and permutation draws"
    )
    p.add_argument(
        "--bootstrap", type=int, default=default("findings", "bootstrap"), help="bootstrap resamples per correlation"
    )
    p.add_argument(
        "--permutations",
        type=int,
        default=default("findings", "permutations"),
        help="random permutations per test: rank correlations and the transition test (exact "
        "enumeration when there are fewer)",
    )

    p = command(
        "invariance",
        "how each topology metric moves under orientation, stencil and resolution",
        "losstopo.summary.invariance:main",
    )
    p.add_argument("--run-dirs", nargs="*", default=[], help="run folders (run.json, landscape.npz, topology/)")
    p.add_argument("--out", required=True, help="invariance.csv: one row per landscape, metric and factor")
    p.add_argument("--summary-out", required=True, help="invariance_summary.csv: one row per family and metric")
    p.add_argument(
        "--tolerance",
        type=float,
        default=default("findings", "invariance_tolerance"),
        help="largest median relative spread (orientation, stencil) of a metric that holds still",
    )

    p = command(
        "findings-figures",
        "grid heatmaps, scatter and variability figures of the findings",
        "losstopo.summary.findings.figures:main",
    )
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--tables-dir", required=True, help="folder holding the tables of 'losstopo findings'")
    p.add_argument("--out-dir", required=True, help="figures folder (one subfolder per family)")

    p = command(
        "findings-report",
        "findings.md: the papers' claims against this sweep's numbers",
        "losstopo.summary.findings.report:main",
    )
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument("--tables-dir", required=True, help="folder holding the tables of 'losstopo findings'")
    p.add_argument("--out", required=True, help="findings.md to write")
    p.add_argument("--figures", nargs="*", default=[], help="PNG figures to link, grouped by family folder")
    p.add_argument(
        "--alpha", type=float, default=default("findings", "alpha"), help="significance level of every check"
    )
    p.add_argument(
        "--min-runs",
        type=int,
        default=default("findings", "min_runs"),
        help="fewer runs than this: 'too few to conclude'",
    )

    p = command("validate-config", "check a config file and print the runs it declares", "losstopo.sweep.config:main")
    p.add_argument("config", help="the config file (YAML)")

    command(
        "warm-cache",
        "compile the topology engine's numba kernels into numba's cache (make setup runs it; "
        "afterwards topology jobs start in about a second)",
        "losstopo.topology.cache:main",
    )
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
