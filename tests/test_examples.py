"""The examples a user copies: the README's API example (at most 10 lines, run on a trained model) and
examples/api_quickstart.py (run as a script, its outputs checked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from test_api import REPO, data_and_model

import losstopo
from losstopo import cli
from losstopo.io import load_json


def readme_example() -> str:
    """The README's API example: the first python block after the opening paragraph."""
    text = (REPO / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_example_runs_in_at_most_ten_lines(tmp_path, monkeypatch):
    code = readme_example()
    lines = [line for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) <= 10, code
    x, y, model = data_and_model("tabular")
    monkeypatch.chdir(tmp_path)
    namespace = {"model": model, "X": x, "y": y}
    exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "profile.png").stat().st_size > 0 and (tmp_path / "landscape.npz").exists()
    assert namespace["report"]["top"]["eigenvalues"][0] > 0


@pytest.mark.slow
def test_the_quickstart_example_runs_and_writes_what_it_says(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "examples" / "api_quickstart.py"), "--out", str(out), "--resolution", "7"]
    done = subprocess.run(
        [*command, "--epochs", "20"], env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    numbers = load_json(out / "summary.json")
    assert numbers["test_accuracy"] > 0.9 and numbers["random_plane"]["n_minima"] >= 1
    top = numbers["hessian_top_eigenvalues"]
    assert len(top) == 3 and top == sorted(top, reverse=True) and top[0] > 0 and np.isfinite(numbers["barrier"])
    assert 0 < sum(numbers["trajectory_explained_variance"]) <= 1 + 1e-12
    for name in (
        "profile_random.png",
        "profile_random.svg",
        "profile_hessian.png",
        "esd.png",
        "heatmap_trajectory.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert cli.main(["topology", str(out / "landscape_random.npz"), "--out-dir", str(tmp_path / "topo")]) == 0
    assert load_json(tmp_path / "topo" / "topology.json")["n_minima"] == numbers["random_plane"]["n_minima"]
    trajectory = losstopo.Landscape.load(out / "landscape_trajectory.npz").metadata["directions"]
    assert np.array(trajectory["training_path"]).shape == (21, 2)  # the initial weights and 20 epochs
