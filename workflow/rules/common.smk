# Config validation, the run table, and input/param functions shared by every rule.
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

try:
    CONFIG = validate_config(config)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

RUNS = expand_runs(CONFIG)
R = CONFIG["results"]
RUN_DIR = f"{R}/runs/{{run}}"
LOG_DIR = f"{R}/logs/{{run}}"

wildcard_constraints:
    run="|".join(re.escape(run_id) for run_id in RUNS) or "(?!)",


def _python():
    """The interpreter rules call: the conda env's under --use-conda, else the one running Snakemake."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python"
    return shlex.quote(sys.executable)


# Every rule calls the repo's own package, whatever environment the job runs in.
LOSSTOPO = f"PYTHONPATH={shlex.quote(workflow.basedir)}${{PYTHONPATH:+:$PYTHONPATH}} {_python()} -m losstopo"


def as_json(value):
    return json.dumps(value, sort_keys=True)


def run_of(wildcards):
    return RUNS[wildcards.run]


DIRECTION_KEYS = ("directions", "dim", "seed", "normalize_1d")


def direction_settings(wildcards):
    """Only the landscape keys that change the directions, so a new resolution reuses them."""
    landscape = run_of(wildcards).landscape
    return as_json({key: landscape[key] for key in DIRECTION_KEYS})


def run_info(wildcards):
    run = run_of(wildcards)
    return as_json({"run_id": run.run_id, "family": run.family, "seed": run.seed, "swept": run.swept,
                    "hp": run.hp, "landscape": run.landscape, "topology": run.topology})


def families():
    return sorted({run.family for run in RUNS.values()})


def run_dirs(family=None):
    return [f"{R}/runs/{run_id}" for run_id, run in RUNS.items() if family in (None, run.family)]


def hessian_settings():
    """The Hessian stage's options, as losstopo.hessian.analyze takes them."""
    return {key: value for key, value in CONFIG["hessian"].items() if key != "enabled"}


def aggregate_inputs(wildcards=None):
    files = []
    for d in run_dirs():
        files += [f"{d}/run.json", f"{d}/train.json", f"{d}/landscape.npz", f"{d}/topology/topology.json"]
        if CONFIG["hessian"]["enabled"]:
            files.append(f"{d}/hessian/hessian.json")
    return files


def swept_by_family():
    """{family: sorted swept hyperparameter names}."""
    return {fam: sorted({k for run in RUNS.values() if run.family == fam for k in run.swept}) for fam in families()}


def figure_targets():
    return [f"{R}/figures/{name}" for name in figure_files(swept_by_family())]


def all_targets():
    return [f"{R}/tables/runs.csv"] + figure_targets()
