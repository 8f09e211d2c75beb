# Config validation, the run table, and input/param functions shared by every rule.
#
# A *run* is one trained model of the sweep (wildcard {run}, e.g. "pinn/beta~30/seed~0"). A *unit* is a
# model that gets analysed (wildcard {unit}): every run's final model, and each of its checkpoints
# ("unet/lr~0.01/seed~0/epoch~5"). Directions, Hessian, sampling and topology work on units.
import json
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod

sys.path.insert(0, workflow.basedir)  # the repo's own losstopo package, also in a bare checkout
from losstopo.config import ConfigError, expand_runs, validate_config
from losstopo.figures import figure_files
from losstopo.io import load_json, save_json
from losstopo.findings import TABLES
from losstopo.invariance import TABLES as INVARIANCE_TABLES
from losstopo.findings_figures import findings_figure_files, reported
from losstopo.sampling import shard_count

try:
    CONFIG = validate_config(config)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

RUNS = expand_runs(CONFIG)
UNITS = {run_id: run for run in RUNS.values() for run_id in [run.run_id, *run.checkpoint_ids()]}
SHARDS = {unit: shard_count(run.landscape) for unit, run in UNITS.items()}  # 1: sampled by one job
R = CONFIG["results"]


def _gpu_per_job():
    """1 when the torch stages will run on a GPU: each such job then holds one unit of the `gpu`
    resource, which profiles/default caps at the number of GPUs (so jobs never share one)."""
    import torch

    device = CONFIG["device"]
    return int(device == "cuda" or (device == "auto" and torch.cuda.is_available()))


GPU_PER_JOB = _gpu_per_job()
RUN_DIR = f"{R}/runs/{{run}}"
UNIT_DIR = f"{R}/runs/{{unit}}"
LOG_DIR = f"{R}/logs/{{run}}"
UNIT_LOG_DIR = f"{R}/logs/{{unit}}"


def _alternatives(ids):
    return "|".join(re.escape(i) for i in ids) or "(?!)"


wildcard_constraints:
    run=_alternatives(RUNS),
    unit=_alternatives(UNITS),
    epoch=r"\d+",


def _python():
    """The interpreter rules call: the conda env's under --use-conda, else the one running Snakemake."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python"
    return shlex.quote(sys.executable)


# Every rule calls the repo's own package, whatever environment the job runs in.
LOSSTOPO = f"PYTHONPATH={shlex.quote(workflow.basedir)}${{PYTHONPATH:+:$PYTHONPATH}} {_python()} -m losstopo"


def per_attempt(base):
    """A resource that grows with Snakemake's retries (profiles/slurm: retries 2): base, 2*base, 3*base."""
    return lambda wildcards, attempt: base * attempt


def sample_resources(mem_mb, runtime):
    """Resources of the sampling rules (whole landscapes and shards)."""
    return dict(mem_mb=per_attempt(mem_mb), runtime=per_attempt(runtime), gpu=GPU_PER_JOB)


def as_json(value):
    return json.dumps(value, sort_keys=True)


def run_of(wildcards):
    """The run a job belongs to (for a checkpoint unit: the run it was taken from)."""
    return RUNS[wildcards.run] if "run" in wildcards.keys() else UNITS[wildcards.unit]


DIRECTION_KEYS = ("directions", "dim", "seed", "normalize_1d")


def direction_settings(wildcards):
    """Only the landscape keys that change the directions, so a new resolution reuses them."""
    landscape = run_of(wildcards).landscape
    return as_json({key: landscape[key] for key in DIRECTION_KEYS})


def run_info(wildcards):
    run = run_of(wildcards)
    return as_json({"run_id": run.run_id, "family": run.family, "seed": run.seed, "swept": run.swept,
                    "hp": run.hp, "landscape": run.landscape, "topology": run.topology,
                    "checkpoints": list(run.checkpoints)})


def families():
    return sorted({run.family for run in RUNS.values()})


def run_dirs():
    return [f"{R}/runs/{run_id}" for run_id in RUNS]


def checkpoint_dirs():
    return [f"{R}/runs/{unit}" for unit in UNITS if unit not in RUNS]


def hessian_settings(wildcards):
    """The Hessian stage's options for this run's family, as losstopo.hessian.analyze takes them."""
    return as_json({key: value for key, value in run_of(wildcards).hessian.items() if key != "enabled"})


def unit_outputs(unit_id):
    """What the aggregate reads of one analysed model (a run's final model or a checkpoint)."""
    unit_dir = f"{R}/runs/{unit_id}"
    files = [f"{unit_dir}/train.json", f"{unit_dir}/landscape.npz", f"{unit_dir}/topology/topology.json"]
    if UNITS[unit_id].hessian["enabled"]:
        files.append(f"{unit_dir}/hessian/hessian.json")
    return files


def aggregate_inputs(wildcards=None):
    files = [f"{R}/runs/{run_id}/run.json" for run_id in RUNS]
    for unit_id in UNITS:
        files += unit_outputs(unit_id)
    return files


def swept_by_family():
    """{family: sorted swept hyperparameter names}."""
    return {fam: sorted({k for run in RUNS.values() if run.family == fam for k in run.swept}) for fam in families()}


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
    profile_grids = [f"{R}/figures/{family}/profiles.png" for family in families()]
    return [f for f in figure_targets() + findings_figure_targets() + profile_grids if f.endswith(".png")]


def findings_targets():
    """Every output of this stage: add to `rule all`."""
    return ([f"{R}/tables/{name}.csv" for name in TABLES + INVARIANCE_TABLES] + findings_figure_targets()
            + [f"{R}/findings.md"])


# The HTML report (`snakemake --report report.html`) is built from the config Snakemake reads at that moment, so it
# needs the config the sweep ran with. Each run records its config; a report whose config differs from the recorded
# one, or whose outputs are missing, stops with a message that names the config to pass.
SWEEP_RECORD = f"{R}/logs/sweep_config.json"


def _configfiles():
    return [str(Path(f).resolve()) for f in workflow.configfiles]


def _config_json():
    return json.loads(json.dumps(CONFIG, sort_keys=True, default=str))


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
