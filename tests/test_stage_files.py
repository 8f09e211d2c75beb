"""Field report 22.8: a stage's files are checked against their siblings, and every parse error names its
file: persistence.csv against topology.json's counts (cut in half, emptied, missing its last row), the merge
tree and segmentation, landscape.npz against its own metadata, topology.json against the landscape, model.pt
against train.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from losstopo import cli
from losstopo.io import InputFileError, save_json, save_npz
from losstopo.landscape.files import load_landscape
from losstopo.summary.aggregate import run_row
from losstopo.topology.files import read_topology, write_topology
from losstopo.topology.grid import compute_topology
from losstopo.topology.records import read_pairs


def _topology(out, seed=0, shape=(9, 9)):
    field = np.random.default_rng(seed).standard_normal(shape)
    return field, write_topology(compute_topology(field, "freudenthal"), out)


@pytest.fixture
def topo_dir(tmp_path):
    _topology(tmp_path / "topology")
    return tmp_path / "topology"


def test_a_persistence_table_cut_in_half_is_named(topo_dir):
    path = topo_dir / "persistence.csv"
    text = path.read_bytes()
    path.write_bytes(text[: len(text) // 2])
    with pytest.raises(InputFileError, match=r"persistence.csv: does not end with a line break: cut short"):
        read_pairs(topo_dir)


def test_an_emptied_persistence_table_is_named(topo_dir):
    (topo_dir / "persistence.csv").write_text("")
    with pytest.raises(InputFileError, match=r"persistence.csv: missing column\(s\) birth.*an empty file"):
        read_pairs(topo_dir)


def test_a_persistence_table_missing_its_last_row_disagrees_with_topology_json(topo_dir):
    path = topo_dir / "persistence.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    with pytest.raises(InputFileError, match=r"persistence.csv: .*topology.json says \d+ finite and 1 essential"):
        read_pairs(topo_dir)


def test_a_value_that_is_no_number_is_named_with_its_row(topo_dir):
    path = topo_dir / "persistence.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = "i," + lines[2].split(",", 1)[1]
    path.write_text("".join(lines))
    with pytest.raises(InputFileError, match=r"persistence.csv: column 'birth' holds 'i' in row 2, not a number"):
        read_pairs(topo_dir)


@pytest.mark.parametrize(
    "name, damage, words",
    [
        ("merge_tree_nodes.csv", lambda p: p.write_text("".join(p.read_text().splitlines(True)[:-1])), "node(s)"),
        ("merge_tree_arcs.csv", lambda p: p.write_text("".join(p.read_text().splitlines(True)[:-2])), "arc(s)"),
        ("segmentation.npy", lambda p: np.save(p, np.zeros((9, 8), np.int32)), "shape (9, 8)"),
        ("segmentation.npy", lambda p: np.save(p, np.full((9, 9), 999, np.int32)), "arcs 999..999"),
        ("segmentation.npy", lambda p: p.write_bytes(p.read_bytes()[:100]), "not a readable .npy file"),
    ],
)
def test_the_merge_tree_files_are_checked_against_topology_json(topo_dir, name, damage, words):
    damage(topo_dir / name)
    with pytest.raises(InputFileError, match=name) as info:
        read_topology(topo_dir)
    assert words in str(info.value)


def test_distances_stops_naming_the_short_diagram_instead_of_using_one_point_less(tmp_path, capsys):
    rows = []
    for seed in (0, 1):
        run_dir = tmp_path / "runs" / f"seed~{seed}"
        field, summary = _topology(run_dir / "topology", seed)
        rows.append(
            {"family": "pinn", "run_id": f"pinn/seed~{seed}", "seed": seed, "status": "ok", "run_dir": str(run_dir)}
            | {"loss_min": field.min(), "loss_max": field.max(), "n_vertices": field.size}
        )
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    argv = ["distances", "--runs", str(tmp_path / "runs.csv"), "--out", str(tmp_path / "d.csv")]
    assert cli.main(argv) == 0
    short = tmp_path / "runs" / "seed~1" / "topology" / "persistence.csv"
    short.write_text("".join(short.read_text().splitlines(True)[:-1]))
    assert cli.main(argv) == 2
    assert f"{short}: " in capsys.readouterr().err


def _grid_landscape(path, shape, resolution=5):
    meta = {"landscape": {"sampling": "grid", "dim": 2, "resolution": resolution}, "n_points": resolution**2}
    axes = np.tile(np.linspace(-1, 1, resolution), (2, 1))
    save_npz(path, loss=np.random.default_rng(0).random(shape), axes=axes, metadata=meta)


def test_a_landscape_whose_arrays_do_not_fit_its_metadata_is_named(tmp_path, capsys):
    _grid_landscape(tmp_path / "ok.npz", (5, 5))
    assert load_landscape(tmp_path / "ok.npz")["loss"].shape == (5, 5)
    _grid_landscape(tmp_path / "bad.npz", (5, 4))
    with pytest.raises(InputFileError, match=r"bad.npz: 'loss' has shape \(5, 4\), its metadata says a 5\^2 grid"):
        load_landscape(tmp_path / "bad.npz")
    assert cli.main(["topology", str(tmp_path / "bad.npz"), "--out-dir", str(tmp_path / "t")]) == 2
    assert "bad.npz: 'loss' has shape (5, 4)" in capsys.readouterr().err
    meta = {"landscape": {"sampling": "sobol", "dim": 2, "n_samples": 8}, "n_points": 9}
    save_npz(tmp_path / "s.npz", loss=np.zeros(9), points=np.zeros((8, 2)), metadata=meta)
    with pytest.raises(InputFileError, match=r"'points' has shape \(8, 2\), its metadata says \(9, 2\)"):
        load_landscape(tmp_path / "s.npz")


def test_a_topology_of_another_landscape_is_not_aggregated(tmp_path):
    run_dir = tmp_path / "run"
    _grid_landscape(run_dir / "landscape.npz", (5, 5))
    _topology(run_dir / "topology", shape=(7, 7))  # a stale topology of an older, finer landscape
    save_json(run_dir / "run.json", {"run_id": "pinn/seed~0", "family": "pinn", "seed": 0, "swept": {}, "hp": {}})
    save_json(run_dir / "train.json", {"status": "ok", "metrics": {}})
    with pytest.raises(
        InputFileError, match=r"topology.json: computed on a landscape of shape \(7, 7\), but .*\(5, 5\)"
    ):
        run_row(run_dir)


def test_a_model_file_from_another_run_is_named(tmp_path):
    import torch

    from losstopo.sweep.families import defaults, get_family
    from losstopo.trained import load_trained

    pinn = get_family("pinn")
    hp = defaults(pinn) | {"width": 4, "depth": 1}
    torch.save(
        {"state_dict": pinn.build_model(hp).state_dict(), "hp": hp, "family": "pinn", "seed": 0}, tmp_path / "model.pt"
    )
    (tmp_path / "train.json").write_text(json.dumps({"family": "pinn", "seed": 0, "status": "ok"}))
    assert load_trained(tmp_path, "cpu")[3] == 0
    (tmp_path / "train.json").write_text(json.dumps({"family": "pinn", "seed": 3, "status": "ok"}))
    with pytest.raises(InputFileError, match=r"model.pt: a pinn model of seed 0, but .*train.json records pinn seed 3"):
        load_trained(tmp_path, "cpu")
