"""Run the real Snakefile on a small config in a scratch folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

TINY_PINN = {"width": 8, "depth": 2, "n_collocation": 64, "n_initial": 32, "n_boundary": 16, "lbfgs_steps": 30}
DIVERGING_RESNET = {
    "train_size": 64,
    "test_size": 32,
    "eval_size": 16,
    "eval_batch_size": 16,
    "width": 0.25,
    "epochs": 2,
    "momentum": 0.0,
    "lr": 1.0e12,
}  # a learning rate that really diverges
TINY_UNET = {
    "n_images": 24,
    "image_size": 16,
    "eval_size": 4,
    "depth": 1,
    "base_width": 4,
    "epochs": 2,
    "batch_size": 8,
}


def tiny_config(betas=(1, 30), seeds=(0,), **extra) -> dict:
    """A PINN beta sweep (its final models also sampled at span 1) and one small UNet run, both with a checkpoint
    after their first epoch, and one ResNet run whose training diverges."""
    config = {
        "families": {
            "pinn": {
                "seeds": list(seeds),
                "sweep": {"beta": list(betas)},
                "params": dict(TINY_PINN),
                "checkpoints": [1],
                "landscape": {"extra_spans": [1.0]},  # final models only: its checkpoints are sampled at 0.5
            },
            "unet": {"seeds": [0], "params": dict(TINY_UNET), "checkpoints": [1], "landscape": {"resolution": 5}},
            "resnet": {"seeds": [0], "params": dict(DIVERGING_RESNET), "landscape": {"resolution": 5}},
        },
        "landscape": {"dim": 2, "resolution": 7, "span": 0.5},
        "topology": {"graph": "freudenthal", "threshold": 0.01},
        "figures": {"heatmaps": 2},
        "hessian": {
            "top_k": 2,
            "trace": {"rel_tol": 0.1, "max_probes": 10},
            "density": {"n_probes": 1, "lanczos_steps": 10},
        },
    }
    config.update(extra)
    return config


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, **popen) -> subprocess.CompletedProcess:
    cmd = [
        *SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(workdir / "sweep.yaml"),
        "--cores",
        "2",
        *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, **popen)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(workdir: Path) -> set[tuple[str, str]]:
    """(rule, run id or '') of every job a dry run would execute."""
    out = snakemake(workdir, "-n")
    text = out.stdout + out.stderr
    jobs = set()
    for block in re.split(r"\n(?=[ \t]*(?:local)?rule \w+:)", text):  # jobs of a group job are indented
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not m:
            continue
        w = re.search(r"wildcards: (?:run|unit)=([^,\s]+)", block)
        jobs.add((m.group(1), w.group(1) if w else ""))
    return jobs
