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
from losstopo.io import InputFileError, load_argument_file
from losstopo.sweep.config import ConfigError, validate_setting
from losstopo.sweep.schema import default

# The subcommands the workflow passes folder lists to in an argument file (workflow/rules/arguments.smk),
# by an option no path can be mistaken for; every other argument is taken as written.
ARGS_FILE = "--args-file"
ARGS_FILE_COMMANDS = ("aggregate", "profile-grid", "invariance", "connectivity-table")


def _json_dict(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _setting(block: str, key: str, item: bool = False):
    """An argparse ``type`` for an option that mirrors the config setting ``block.key`` (with ``item``: one
    item of that list): the value typed and checked as the config checks it (losstopo.sweep.config.
    validate_setting), so ``nan`` or a value out of range stops the command with the key named."""

    def parse(text: str):
        try:
            return validate_setting(text, block, key, item)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("invalid setting:\n  ")) from None

    parse.__name__ = f"{block}.{key}"
    return parse


def _config_option(p: argparse.ArgumentParser, flag: str, block: str, key: str, help_text: str) -> None:
    """Add ``flag``, an option that stands for the config setting ``block.key``: its default is the
    schema's, and its value is checked as the config checks it (:func:`_setting`)."""
    p.add_argument(flag, type=_setting(block, key), default=default(block, key), help=help_text)


def _epochs(text: str) -> tuple[int, ...]:
    """Comma-separated checkpoint epochs, each checked as an item of the config's ``checkpoints``."""
    return tuple(_setting("family", "checkpoints", item=True)(x.strip()) for x in text.split(",") if x.strip())


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
    _config_option(
        p,
        f"--{prefix}threshold",
        "profile",
        "threshold",
        "relative persistence (fraction of the loss range) below which basins are not drawn",
    )
    _config_option(
        p, f"--{prefix}max-basins", "profile", "max_basins", "draw at most this many basins (the most persistent)"
    )
    _config_option(p, f"--{prefix}levels", "profile", "levels", "loss levels at which valley widths are computed")
    p.add_argument(f"--{prefix}scale", choices=("linear", "log"), default=default("profile", "scale"), help="loss axis")
    p.add_argument(
        f"--{prefix}cmap", default=default("profile", "cmap"), help="matplotlib colormap of the basins' mean loss"
    )
    p.add_argument(f"--{prefix}title", default="", help="figure title")


def add_draws(p: argparse.ArgumentParser, what: str) -> None:
    """The seed, bootstrap and permutation settings of the findings statistics (``what`` they are for)."""
    _config_option(p, "--seed", "findings", "seed", f"seed of the random draws of {what}")
    _config_option(p, "--bootstrap", "findings", "bootstrap", "bootstrap resamples per correlation")
    _config_option(
        p,
        "--permutations",
        "findings",
        "permutations",
        "random permutations per test: rank correlations and the transition test (exact "
        "enumeration when there are fewer)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each option's default is shown in its help (from the config schema
    where the option is a config setting)."""
    parser = argparse.ArgumentParser(
        prog="losstopo", description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, description: str, handler: str) -> argparse.ArgumentParser:
        takes_file = name in ARGS_FILE_COMMANDS  # no abbreviations there: --args-file is spliced in by name
        p = sub.add_parser(
            name, help=description, description=description, formatter_class=HelpFormatter, allow_abbrev=not takes_file
        )
        p.set_defaults(handler=handler)
        if takes_file:
            p.add_argument(
                ARGS_FILE,
                metavar="FILE",
                help="read more arguments from FILE, one per line, in its place (how the workflow passes folder "
                "lists: one command-line argument holds at most 128 KiB)",
            )
        return p

    p = command("train", "train one model of the sweep", "losstopo.training.train:main")
    p.add_argument(
        "--family",
        required=True,
        help="model family: pinn, resnet, unet, a plug-in family's name (LOSSTOPO_FAMILIES), or a family module of "
        "your own (a .py file or a dotted module name; docs/families.md)",
    )
    p.add_argument(
        "--params",
        type=_json_dict,
        required=True,
        help="hyperparameters as a JSON object; the family's defaults fill the rest",
    )
    p.add_argument(
        "--seed",
        type=_setting("family", "seeds", item=True),
        required=True,
        help="seed of initialisation and data order",
    )
    p.add_argument("--out-dir", required=True, help="run folder to write (model.pt, train.json, ...)")
    p.add_argument("--device", default=default("device"), help=DEVICE_HELP)
    p.add_argument("--checkpoints", type=_epochs, default=(), help="comma-separated epochs whose models to keep")
    p.add_argument("--run-id", default=None, help="the run's id in run.json (default: --out-dir as given)")
    p.add_argument(
        "--swept", type=_json_dict, default={}, help="the swept hyperparameters' values (JSON), for run.json"
    )
    p.add_argument(
        "--trajectory",
        action="store_true",
        help="keep the parameters of every epoch in checkpoints.pt (for trajectory directions)",
    )
    p.add_argument(
        "--family-code",
        default=None,
        help="a plug-in family's code hash as the workflow planned the job: stop if its module changed since",
    )

    p = command(
        "checkpoint",
        "one epoch's model of a trained run, as a run folder of its own",
        "losstopo.training.train:checkpoint_main",
    )
    p.add_argument("--run-dir", required=True, help="folder holding checkpoints.pt, train.json, model.pt")
    p.add_argument(
        "--epoch",
        type=_setting("family", "checkpoints", item=True),
        required=True,
        help="the epoch whose model to extract",
    )
    p.add_argument("--out-dir", required=True, help="folder to write (model.pt, train.json)")

    p = command(
        "directions", "pick the landscape's directions in parameter space", "losstopo.landscape.directions:main"
    )
    p.add_argument("--run-dir", required=True, help="folder holding model.pt and train.json")
    p.add_argument("--landscape", type=_json_dict, required=True, help="landscape settings as a JSON object")
    p.add_argument("--out", required=True, help="directions.npz to write")
    p.add_argument(
        "--trajectory", default=None, help="the run's checkpoints.pt holding its trajectory (trajectory directions)"
    )
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
    _config_option(
        p,
        "--knn",
        "topology",
        "knn",
        "neighbours k of the symmetrised k-NN graph of scattered samples (default: 4n); grids ignore it",
    )
    p.add_argument(
        "--backend",
        choices=("native", "ttk"),
        default=default("topology", "backend"),
        help="native engine, or TTK (needs topologytoolkit from conda-forge, envs/ttk.yaml)",
    )
    _config_option(
        p,
        "--threshold",
        "topology",
        "threshold",
        "relative persistence threshold (fraction of the loss range) for the simplified metrics",
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
    _config_option(p, "--points", "connectivity", "points", "points on each path, t = 0 to 1")
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
    _config_option(p, "--heatmaps", "figures", "heatmaps", "how many 2-D loss heatmaps to draw")

    p = command(
        "findings", "topology-versus-performance statistics from runs.csv", "losstopo.summary.findings.statistics:main"
    )
    p.add_argument("--runs", required=True, help="runs.csv")
    p.add_argument(
        "--out-dir", required=True, help="folder for correlations.csv, trends.csv, variability.csv and transition.csv"
    )
    add_draws(p, "every table")

    p = command(
        "invariance",
        "how each topology metric moves under orientation, stencil and resolution",
        "losstopo.summary.invariance:main",
    )
    p.add_argument("--run-dirs", nargs="*", default=[], help="run folders (run.json, landscape.npz, topology/)")
    p.add_argument("--out", required=True, help="invariance.csv: one row per landscape, metric and factor")
    p.add_argument("--summary-out", required=True, help="invariance_summary.csv: one row per family and metric")
    _config_option(
        p,
        "--tolerance",
        "findings",
        "invariance_tolerance",
        "relative spread (orientation, stencil) beyond which a landscape moves",
    )
    _config_option(
        p,
        "--max-share",
        "findings",
        "invariance_share",
        "largest share of a family's landscapes that may move while a metric holds still",
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
    _config_option(p, "--alpha", "findings", "alpha", "significance level of every check")
    p.add_argument(
        "--spans",
        default=None,
        help="spans.csv (runs.csv's columns per run, span and resolution, plus span and resolution): adds the "
        "verdicts at each span",
    )
    add_draws(p, "the statistics behind the verdicts across spans")

    p = command("validate-config", "check a config file and print the runs it declares", "losstopo.sweep.config:main")
    p.add_argument("config", help="the config file (YAML)")

    command(
        "warm-cache",
        "compile the topology engine's numba kernels into numba's cache (make setup runs it; "
        "afterwards topology jobs start in about a second)",
        "losstopo.topology.cache:main",
    )
    return parser


def expand_args_files(argv: list[str]) -> list[str]:
    """``argv`` with each ``--args-file FILE`` (or ``--args-file=FILE``) of a subcommand in ARGS_FILE_COMMANDS
    replaced by FILE's arguments (losstopo.io.load_argument_file), up to a ``--`` separator. Other
    subcommands get ``argv`` unchanged (argparse then refuses the option), and no other argument is ever
    read as a file: ``@name`` is a plain argument. InputFileError for a missing or unreadable FILE."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in ARGS_FILE_COMMANDS:
        return list(argv)
    out: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            out += [token, *tokens]
        elif token == ARGS_FILE or token.startswith(f"{ARGS_FILE}="):
            path = token.partition("=")[2] if "=" in token else next(tokens, None)
            if path is None:
                raise InputFileError(f"{ARGS_FILE} needs a file name")
            out += load_argument_file(path)
        else:
            out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        argv = expand_args_files(argv)
    except InputFileError as exc:
        print(f"losstopo: error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    module_name, func_name = args.handler.split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(handler(args) or 0)
    except (InputFileError, ValueError) as exc:
        print(f"losstopo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # numpy's "Unable to allocate 7.28 TiB": say which setting sizes it
        print(
            f"losstopo {args.command}: error: out of memory ({exc}); `losstopo validate-config` estimates each job's "
            "largest arrays from the config and refuses settings that exceed resources.mem_mb",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
