"""Atomic writers: outputs get the permissions of an ordinary open(), under any umask."""

from __future__ import annotations

import hashlib
import os
import stat

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from losstopo.io import atomic_path, save_csv, save_json, save_npz
from losstopo.summary.figures import save_figure
from losstopo.training.data.download import fetch


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o007], ids=["umask022", "umask007"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_outputs_get_the_mode_of_an_ordinary_open(tmp_path, umask):
    """mkstemp's private 0600 made every output unreadable to collaborators (ipython#7317, click#1382)."""
    (tmp_path / "ordinary.txt").write_text("x")
    want = mode(tmp_path / "ordinary.txt")
    assert want == 0o666 & ~umask
    out = tmp_path / "results" / "run"
    save_json(out / "a.json", {"x": 1})
    save_npz(out / "b.npz", x=np.zeros(2))
    save_csv(out / "c.csv", pd.DataFrame({"a": [1]}))
    with atomic_path(out / "d.pt") as tmp:
        torch.save({"w": torch.zeros(2)}, tmp)
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    save_figure(fig, out, "e")
    source = tmp_path / "source.bin"
    source.write_bytes(b"data")
    fetched = fetch(source.as_uri(), hashlib.sha256(b"data").hexdigest(), tmp_path / "cache")
    files = ["a.json", "b.npz", "c.csv", "d.pt", "e.png", "e.pdf"]
    assert {name: mode(out / name) for name in files} == {name: want for name in files}
    assert mode(fetched) == want
    assert mode(out) == mode(tmp_path / "results") == 0o777 & ~umask  # folders as mkdir makes them
    assert sorted(p.name for p in out.iterdir()) == sorted(files)  # no temporary file left


def test_rewriting_keeps_the_existing_mode(tmp_path, umask):
    """open(path, "w") on an existing file keeps its permissions; so does an atomic rewrite."""
    path = tmp_path / "a.json"
    save_json(path, {"x": 1})
    path.chmod(0o640)
    save_json(path, {"x": 2})
    assert mode(path) == 0o640
