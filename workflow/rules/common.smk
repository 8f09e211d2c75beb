# Config validation, the run table, and every name the rules share: input and params functions,
# target lists, option strings and argument lists. Rule files define rules only and take shared names from
# here, so the order in which the Snakefile includes them does not matter.
#
# A *run* is one trained model of the sweep (wildcard {run}, e.g. "pinn/beta~30/seed~0"). A *unit* is a
# model that gets analysed (wildcard {unit}): every run's final model, and each of its checkpoints
# ("unet/lr~0.01/seed~0/epoch~5"). Directions, Hessian, sampling and topology work on units.
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.common import get_function_params, overwrite_function_params
from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod

sys.path.insert(0, workflow.basedir)  # the repo's own losstopo package, also in a bare checkout
from losstopo.io import load_json, save_argument_file, save_json
from losstopo.sweep.config import ConfigError, expand_runs, family_table, validate_config
from losstopo.sweep.families import PLUGINS_ENV
from losstopo.sweep.plugin import import_problems
from losstopo.sweep.gpus import gpu_device_files
from losstopo.sweep.lock import ResultsLock, ResultsLocked
from losstopo.sweep.outputs import FINDINGS_TABLES, INVARIANCE_TABLES, figure_files, findings_figure_files, reported
from losstopo.sweep.shards import shard_count

# A plug-in family's module path is relative to the config file (the last --configfile, if several).
CONFIG_DIR = Path(workflow.configfiles[-1]).parent if workflow.configfiles else Path.cwd()
try:
    CONFIG = validate_config(config, CONFIG_DIR)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

RUNS = expand_runs(CONFIG)
UNITS = {run_id: run for run in RUNS.values() for run_id in [run.run_id, *run.checkpoint_ids()]}
FAMILIES = sorted({run.family for run in RUNS.values()})
# Shards of each unit's landscape (1: sampled by one job). Landscape settings are per family, not swept.
FAMILY_SHARDS = {run.family: shard_count(run.landscape) for run in RUNS.values()}
R = CONFIG["results"]
# Plug-in families (docs/families.md): {name: module} for every job (LOSSTOPO_FAMILIES, in the shell prefix),
# and the code hash of each module, which the train jobs receive so that editing a module reruns them.
PLUGINS = {name: fam["module"] for name, fam in CONFIG["families"].items() if "module" in fam}
FAMILY_CODE = {name: family_table(name, CONFIG["families"][name]).code_hash for name in PLUGINS}


def _gpu_per_job():
    """1 when the torch stages will run on a GPU: each such job then holds one unit of the `gpu`
    resource, which profiles/default caps at the number of GPUs (so jobs never share one).
    Torch (seconds to import, in every Snakemake process) is only asked where a GPU device file exists."""
    device = CONFIG["device"]
    if device != "auto" or not gpu_device_files():
        return int(device == "cuda")
    import torch

    return int(torch.cuda.is_available())


GPU_PER_JOB = _gpu_per_job()
MEM_MB = CONFIG["resources"]["mem_mb"]  # of the sample, topology, Hessian and invariance jobs (validated against)
RUN_DIR = f"{R}/runs/{{run}}"
UNIT_DIR = f"{R}/runs/{{unit}}"
LOG_DIR = f"{R}/logs/{{run}}"
UNIT_LOG_DIR = f"{R}/logs/{{unit}}"


def alternatives(names):
    """A regex matching exactly one of ``names`` (none when empty): a wildcard constraint."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def id_pattern(families, checkpoints=True, seed=True):
    """The shape of a run id of these families (family, then key~value folders, then seed~N), and with
    ``checkpoints`` of a unit id (a run id, or a run id and /epoch~N); without ``seed`` of a setting (a
    run id less its seed part: the grid point that several seeds share).

    Structural on purpose: a regex listing every id costs time in proportion to the sweep for every
    file Snakemake matches, so the DAG grew with the square of the sweep. Ids of the right shape that
    the config does not declare are rejected by run_of(), which every rule of a run or unit calls.
    """
    setting = rf"(?:{alternatives(sorted(families))})(?:/[^/~]+~[^/]+)*"
    if not seed:
        return setting
    run = rf"{setting}/seed~\d+"
    return rf"{run}(?:/epoch~\d+)?" if checkpoints else run


wildcard_constraints:
    run=id_pattern(FAMILIES, checkpoints=False),
    unit=id_pattern(FAMILIES),
    epoch=r"\d+",


def _in_conda_envs():
    """Whether jobs run in their rule's conda env (--sdm conda), which brings its own python."""
    return DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method


# Every rule calls the repo's own package (`python -m losstopo ...`), whatever environment the job runs
# in: the checkout first on PYTHONPATH, and outside conda envs the interpreter running Snakemake first on
# PATH. A shell prefix rather than a variable in each command keeps the interpreter's path out of the
# commands, so moving the venv reruns nothing. (Snakemake formats the prefix too: braces doubled.)
def _braces(text):
    return text.replace("{", "{{").replace("}", "}}")


shell.prefix(
    "set -euo pipefail; "
    + _braces(f"export PYTHONPATH={shlex.quote(workflow.basedir)}${{PYTHONPATH:+:$PYTHONPATH}}; ")
    + ("" if _in_conda_envs() else _braces(f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH; "))
    + (_braces(f"export {PLUGINS_ENV}={shlex.quote(json.dumps(PLUGINS, sort_keys=True))}; ") if PLUGINS else "")
)


def check_plugins():
    """Import each plug-in family's module once before any job runs (onstart; a dry run imports none): a
    WorkflowError with its traceback and config key if one fails or lacks a function of the contract."""
    problems = import_problems(PLUGINS)
    if problems:
        raise WorkflowError("\n".join(problems))


def job_function(fn):
    """``fn`` with its signature worked out once. Snakemake inspects the signature of a rule's input,
    params and resource functions each time it calls one, for every job; with a handful per job that
    was a fifth of the dry run of a 1,000-run sweep. Snakemake's own ioutils cache it the same way."""
    overwrite_function_params(fn, get_function_params(fn))
    return fn


def per_attempt(base):
    """A resource that grows with Snakemake's retries (profiles/slurm: retries 2): base, 2*base, 3*base."""
    return job_function(lambda wildcards, attempt: base * attempt)


def sample_resources(mem_mb, runtime):
    """Resources of the sampling rules (whole landscapes and shards)."""
    return dict(mem_mb=per_attempt(mem_mb), runtime=per_attempt(runtime), gpu=GPU_PER_JOB)


def as_json(value):
    return json.dumps(value, sort_keys=True)


def run_of(wildcards):
    """The run a job belongs to (for a checkpoint unit: the run it was taken from); a WorkflowError
    for a run, checkpoint or unit the config does not declare (e.g. a target typed by hand)."""
    keys = wildcards.keys()
    if "run" in keys:
        unit, table = (f"{wildcards.run}/epoch~{wildcards.epoch}", UNITS) if "epoch" in keys else (wildcards.run, RUNS)
    else:
        unit, table = wildcards.unit, UNITS
    try:
        return table[unit]
    except KeyError:
        raise WorkflowError(f"{unit!r} is not a run or checkpoint of the config ({len(RUNS)} runs, "
                            f"{len(UNITS) - len(RUNS)} checkpoints; `losstopo validate-config` lists the runs)") from None


@job_function
def checkpoint_epoch(wildcards):
    """The epoch of a checkpoint job, once run_of() has checked the config asks for it."""
    run_of(wildcards)
    return int(wildcards.epoch)


@job_function
def shard_files(wildcards):
    """The shard files of this unit's landscape, for the gather job."""
    return [f"{R}/runs/{wildcards.unit}/shards/shard~{i}.npz" for i in range(FAMILY_SHARDS[run_of(wildcards).family])]


DIRECTION_KEYS = ("directions", "dim", "seed", "normalize_1d")


@job_function
def train_args(wildcards):
    """`losstopo train`'s options that say which model to train (family, seed, hyperparameters, epochs to
    keep, whether to keep its weights along training) and what its run.json records (run id, swept values)."""
    run = run_of(wildcards)
    epochs = ",".join(map(str, run.checkpoints)) or '""'
    keep_path = " --trajectory" if run.landscape["directions"] == "trajectory" else ""
    code = f" --family-code {FAMILY_CODE[run.family]}" if run.family in FAMILY_CODE else ""  # a plug-in's module
    return (f"--family {run.family} --seed {run.seed} --params {shlex.quote(as_json(run.hp))} --checkpoints {epochs}"
            f" --run-id {shlex.quote(run.run_id)} --swept {shlex.quote(as_json(run.swept))}{keep_path}{code}")


@job_function
def trajectory_input(wildcards):
    """The run's checkpoints.pt, which holds its weights along training, for trajectory directions; else none."""
    run = run_of(wildcards)
    return [f"{R}/runs/{run.run_id}/checkpoints.pt"] if run.landscape["directions"] == "trajectory" else []


@job_function
def trajectory_option(wildcards):
    return " ".join(f"--trajectory {shlex.quote(path)}" for path in trajectory_input(wildcards))


@job_function
def landscape_settings(wildcards):
    """The unit's landscape settings. Extra spans are sampled for final models only, and an empty list is
    left out, so a sweep without extra spans keeps the params (and outputs) it had before the key existed."""
    landscape = dict(run_of(wildcards).landscape)
    if not landscape["extra_spans"] or wildcards.unit not in RUNS:
        del landscape["extra_spans"]
    return as_json(landscape)


@job_function
def direction_settings(wildcards):
    """Only the landscape keys that change the directions, so a new resolution reuses them."""
    landscape = run_of(wildcards).landscape
    return as_json({key: landscape[key] for key in DIRECTION_KEYS})


def write_argument_file(path, lines, log):
    """An argument file for `losstopo <command> --args-file path`: one argument per line (arguments.smk)."""
    save_argument_file(path, lines)
    Path(log).write_text(f"wrote {len(lines)} arguments to {path}\n")


def run_dirs():
    return [f"{R}/runs/{run_id}" for run_id in RUNS]


def checkpoint_dirs():
    return [f"{R}/runs/{unit}" for unit in UNITS if unit not in RUNS]


@job_function
def direction_gpus(wildcards):
    """GPUs of a directions job: Hessian directions run on the GPU, random ones need none."""
    return GPU_PER_JOB if run_of(wildcards).landscape["directions"] == "hessian" else 0


@job_function
def hessian_directions_input(wildcards):
    """The unit's directions.npz when the Hessian stage takes its top eigenpairs from them
    (Run.hessian_reuses_directions), else nothing: a change of the directions then reruns it, as it should."""
    return [f"{R}/runs/{wildcards.unit}/directions.npz"] if run_of(wildcards).hessian_reuses_directions() else []


def hessian_directions_option(wildcards, input):
    """`losstopo hessian --directions FILE` when the job reads the directions (hessian_directions_input)."""
    return f"--directions {shlex.quote(input.directions[0])}" if input.directions else ""


@job_function
def hessian_settings(wildcards):
    """The Hessian stage's options for this run's family, as losstopo.curvature.hessian.analyze takes them."""
    return as_json({key: value for key, value in run_of(wildcards).hessian.items() if key != "enabled"})


def unit_outputs(unit_id):
    """Every file of one analysed model (a run's final model or a checkpoint) that a summary reads: the
    aggregate's inputs (see aggregate_inputs)."""
    unit_dir = f"{R}/runs/{unit_id}"
    files = [f"{unit_dir}/train.json", f"{unit_dir}/landscape.npz", f"{unit_dir}/topology/topology.json",
             f"{unit_dir}/topology/persistence.csv", f"{unit_dir}/profile.svg", f"{unit_dir}/profile.png"]
    if UNITS[unit_id].hessian["enabled"]:
        files += [f"{unit_dir}/hessian/hessian.json", f"{unit_dir}/hessian/density.npz"]
    return files


def seed_settings():
    """{setting id: {seed: run id}}: a setting is a run id without its seed part ("pinn/beta~30", or "unet")."""
    out = {}
    for run_id, run in RUNS.items():
        out.setdefault(run_id.rsplit("/", 1)[0], {})[run.seed] = run_id
    return out


SETTINGS = seed_settings()


def connected_runs(wildcards):
    """{seed: run folder} of a connectivity job's setting, from the lowest seed up to seed b; a
    WorkflowError for a setting or seed the config does not declare, and for the setting's lowest seed
    (which has no lower seed to connect to)."""
    seeds = SETTINGS.get(wildcards.setting, {})
    b = int(wildcards.b)
    if b not in seeds:
        raise WorkflowError(f"'{wildcards.setting}/seed~{b}' is not a run of the config")
    if b == min(seeds):
        raise WorkflowError(f"'{wildcards.setting}/seed~{b}' is the setting's lowest seed: it has no path file")
    return {seed: f"{R}/runs/{run_id}" for seed, run_id in sorted(seeds.items()) if seed <= b}


@job_function
def connectivity_inputs(wildcards):
    """The models of a connectivity job: seed b and every lower seed of its setting (model.pt stands for
    the run's train.json too, which the same train job writes: one edge per run fewer in the DAG)."""
    return [f"{run_dir}/model.pt" for run_dir in connected_runs(wildcards).values()]


@job_function
def connectivity_runs_a(wildcards):
    """`losstopo connectivity --runs-a`: the folders of the lower seeds, quoted for the shell."""
    return " ".join(shlex.quote(d) for seed, d in connected_runs(wildcards).items() if seed < int(wildcards.b))


def aggregate_inputs(wildcards=None):
    """The aggregate is the sweep's gather point: its inputs are every per-run file any summary reads
    (run.json and unit_outputs), so the later summaries (figures, findings, distances, invariance,
    profile grids, explorer) depend on tables/runs.csv alone instead of listing every run's files again.
    Each listed file then stays requested (a deleted one is made again), and the DAG of a large sweep
    has a few edges per run fewer (docs/cluster.md)."""
    files = [f"{R}/runs/{run_id}/run.json" for run_id in RUNS]
    for unit_id in UNITS:
        files += unit_outputs(unit_id)
    return files


def swept_by_family():
    """{family: sorted swept hyperparameter names}."""
    return {fam: sorted({k for run in RUNS.values() if run.family == fam for k in run.swept}) for fam in FAMILIES}


def families_with_checkpoints():
    return sorted({run.family for run in RUNS.values() if run.checkpoints})


def families_with_hessian():
    return sorted({run.family for run in RUNS.values() if run.hessian["enabled"]})


def figure_targets():
    return [f"{R}/figures/{name}"
            for name in figure_files(swept_by_family(), families_with_checkpoints(), families_with_hessian())]


def all_targets():
    return [f"{R}/tables/runs.csv", f"{R}/tables/checkpoints.csv"] + figure_targets()


def findings_figure_targets():
    return [f"{R}/figures/{name}" for name in findings_figure_files(swept_by_family())]


def report_figures():
    """The PNGs findings.md links to: add a new figure set's targets here (its rule flags them with reported())."""
    profile_grids = [f"{R}/figures/{family}/profiles.png" for family in FAMILIES]
    return [f for f in figure_targets() + findings_figure_targets() + profile_grids if f.endswith(".png")]


def findings_targets():
    """Every output of the findings stage (findings.smk)."""
    return ([f"{R}/tables/{name}.csv" for name in FINDINGS_TABLES + INVARIANCE_TABLES] + findings_figure_targets()
            + [f"{R}/findings.md"])


# Stage options, from config blocks whose defaults the schema filled in.
TOPOLOGY_OPTIONS = (
    f"--graph {CONFIG['topology']['graph']} --threshold {CONFIG['topology']['threshold']}"
    f" --backend {CONFIG['topology']['backend']}"
    + ("" if CONFIG["topology"]["knn"] is None else f" --knn {CONFIG['topology']['knn']}")
)
def profile_options(prefix=""):
    """The profile block as options: `losstopo profile-grid`'s, or with prefix "profile-" `losstopo topology`'s."""
    profile = CONFIG["profile"]
    return (f"--{prefix}threshold {profile['threshold']} --{prefix}max-basins {profile['max_basins']}"
            f" --{prefix}levels {profile['levels']} --{prefix}scale {profile['scale']}"
            f" --{prefix}cmap {shlex.quote(profile['cmap'])}")


# Report captions of the tables (workflow/report/<caption>.rst)
TABLE_CAPTIONS = {"correlations": "correlations", "trends": "trends", "variability": "variability_table",
                  "transition": "transition", "invariance": "invariance", "invariance_summary": "invariance"}

FAMILY_RUN_DIRS = {family: [f"{R}/runs/{run_id}" for run_id, run in RUNS.items() if run.family == family]
                   for family in FAMILIES}
# Mode connectivity: one path file per seed b of a setting, all but its lowest (connectivity.smk)
CONNECTIVITY_FILES = ([f"{R}/connectivity/{setting}/seed~{b}.json"
                       for setting, seeds in SETTINGS.items() for b in sorted(seeds)[1:]]
                      if CONFIG["connectivity"]["enabled"] else [])
# The folder lists of the summary commands, passed as argument files (arguments.smk)
ARGUMENT_LISTS = {
    "aggregate": ["--run-dirs", *run_dirs(), "--checkpoint-dirs", *checkpoint_dirs()],
    "invariance": ["--run-dirs", *run_dirs()],
    "connectivity": ["--path-files", *CONNECTIVITY_FILES],
    **{f"profile_grid_{family}": ["--run-dirs", *dirs] for family, dirs in FAMILY_RUN_DIRS.items()},
}

# What `rule all` asks for, stage by stage
PROFILE_TARGETS = [f"{R}/figures/{family}/profiles.{fmt}" for family in FAMILIES for fmt in ("svg", "png")]
DISTANCES_TARGETS = [f"{R}/tables/distances.csv"]
CONNECTIVITY_TARGETS = [f"{R}/tables/connectivity.csv"] if CONFIG["connectivity"]["enabled"] else []
EXPLORER_TARGETS = [f"{R}/explorer.html"]
SWEEP_TARGETS = (all_targets() + findings_targets() + PROFILE_TARGETS + DISTANCES_TARGETS + CONNECTIVITY_TARGETS
                 + EXPLORER_TARGETS)


# The HTML report (`snakemake --report report.html`) is built from the config Snakemake reads at that moment, so it
# needs the config the sweep ran with. Each run records its config; a report whose config differs from the recorded
# one, or whose outputs are missing, stops with a message that names the config to pass.
SWEEP_RECORD = f"{R}/logs/sweep_config.json"


def _configfiles():
    return [str(Path(f).resolve()) for f in workflow.configfiles]


def _config_json():
    return json.loads(json.dumps(CONFIG, sort_keys=True, default=str))


# One sweep at a time in a results folder, whichever checkout or user starts it (losstopo/sweep/lock.py): the
# Snakemake process that runs jobs holds the lock from onstart to onsuccess/onerror (dry runs, reports and
# the cluster jobs, which run without hooks, never take it).
RESULTS_LOCK = ResultsLock(R)


def lock_results():
    """Called when a run starts (onstart): stop at once if another sweep holds the results folder."""
    try:
        RESULTS_LOCK.acquire()
    except ResultsLocked as exc:
        raise WorkflowError(str(exc)) from None


def unlock_results():
    """Called when a run ends (onsuccess, onerror); a killed run's lock goes with its process."""
    RESULTS_LOCK.release()


def record_config():
    """Called when a run starts (onstart): remember the config (and its files) this results folder is made with."""
    save_json(SWEEP_RECORD, {"configfiles": _configfiles(), "config": _config_json()})


def report_requested():
    """Whether this Snakemake process only builds the report (`--report FILE`; not `--report-after-run`)."""
    return any(arg == "--report" or arg.startswith("--report=") for arg in sys.argv[1:])


def check_report_inputs(targets):
    """Stop a report built from another config than the sweep's, or with missing outputs (WorkflowError)."""
    recorded = load_json(SWEEP_RECORD) if Path(SWEEP_RECORD).exists() else None
    missing = [f for f in targets if not Path(f).exists()]
    read = ", ".join(_configfiles())
    if recorded is not None and recorded["config"] != _config_json():
        made_with = ", ".join(recorded["configfiles"])
        raise WorkflowError(
            f"cannot build the report: {R} was made with the config {made_with} (recorded in {SWEEP_RECORD}), but "
            f"this report reads a different one ({read}), so its figures would not be this sweep's"
            f"{f' and {len(missing)} are missing, e.g. {missing[0]}' if missing else ''}. Pass the config the sweep "
            f"ran with: snakemake --configfile {recorded['configfiles'][-1]} --report report.html")
    if missing:
        raise WorkflowError(
            f"cannot build the report: {len(missing)} output(s) of this config's sweep are missing, e.g. {missing[0]}. "
            f"This report reads the config {read}; if the sweep ran with another config (--configfile), pass that "
            "same one: snakemake --configfile <the sweep's config> --report report.html. If the sweep has not run "
            "yet, run it first.")
