"""Trajectory directions (Li et al. 2018): the PCA of the weights along training, against numpy's SVD on a
trajectory built to lie in a known plane; the weights kept by the train stage; the path on the heatmap;
and `landscape.directions: trajectory` in a tiny workflow."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from workflow_helpers import TINY_PINN, snakemake, write_config

import losstopo
from losstopo.io import load_npz
from losstopo.landscape.directions import Layout, compute_directions, flat_parameters
from losstopo.sweep.config import ConfigError, validate_config
from losstopo.trained import load_trained
from losstopo.training.train import run_training


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double()  # P = 37


def plane_trajectory(net: nn.Module, steps: int = 9):
    """States theta + a_i u + b_i v: a spiral into the final weights theta in the plane of two orthonormal
    vectors u, v; returns the states (T, P) and (u, v)."""
    theta = flat_parameters(net).numpy()
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((theta.size, 2)))
    s = np.linspace(1.0, 0.0, steps)
    a, b = 3.0 * s * np.cos(4 * s), 1.0 * s * np.sin(4 * s)
    return theta + np.outer(a, q[:, 0]) + np.outer(b, q[:, 1]), q.T


def test_pca_directions_span_the_plane_and_project_the_path_as_numpy_svd_does():
    net = model()
    states, plane = plane_trajectory(net)
    directions, path, ratio = losstopo.trajectory_directions(net, states, k=2)
    theta = flat_parameters(net).numpy()
    # the directions lie in the plane, are orthogonal and the path lies in [-1, 1] (span 1 frames it)
    inside = directions @ plane.T @ plane
    np.testing.assert_allclose(inside, directions, atol=1e-12)
    assert abs(directions[0] @ directions[1]) < 1e-10 * np.linalg.norm(directions[0]) * np.linalg.norm(directions[1])
    assert np.abs(path).max(axis=0) == pytest.approx([1.0, 1.0]) and (path[0] <= 0).all()
    # each state is the final weights plus its path coordinates times the directions
    np.testing.assert_allclose(theta + path @ directions, states, atol=1e-10)
    # independent reference: numpy's SVD of the differences about their mean (what sklearn's PCA does)
    diffs = states - theta
    _, singular, vt = np.linalg.svd(diffs - diffs.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(ratio, singular[:2] ** 2 / (singular**2).sum(), rtol=1e-10)
    coords = diffs @ vt[:2].T
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    signs = np.sign(np.sum(unit * vt[:2], axis=1))
    np.testing.assert_allclose(unit, vt[:2] * signs[:, None], atol=1e-10)
    np.testing.assert_allclose(path * np.linalg.norm(directions, axis=1), coords * signs, atol=1e-10)
    # state_dicts give the same as flat vectors
    layout = Layout.of(net)
    dicts = [{n: torch.as_tensor(v) for n, v in layout.unflatten(torch.as_tensor(row)).items()} for row in states]
    np.testing.assert_allclose(losstopo.trajectory_directions(net, dicts, k=2)[1], path, atol=1e-12)


def test_a_landscape_on_the_trajectory_carries_its_path(tmp_path):
    net = model()
    states, _ = plane_trajectory(net)
    x = torch.randn(16, 4, dtype=torch.float64)
    objective = losstopo.make_objective(net, nn.CrossEntropyLoss(), (x, torch.randint(0, 2, (16,))))
    land = losstopo.compute_landscape(
        objective, "trajectory", trajectory=states, epochs=range(10, 19), resolution=5, span=1.2, progress=False
    )
    meta = land.metadata["directions"]
    assert meta["kind"] == "trajectory" and meta["training_epochs"] == list(range(10, 19))
    assert np.array(meta["training_path"]).shape == (9, 2) and sum(meta["explained_variance_ratio"]) == pytest.approx(1)
    land.save(tmp_path / "landscape.npz")
    figure = losstopo.Landscape.load(tmp_path / "landscape.npz").plot(tmp_path / "heatmap.png")
    drawn = [line for line in figure.axes[0].lines if line.get_label() == "training path (projected)"]
    np.testing.assert_allclose(np.column_stack(drawn[0].get_data()), np.array(meta["training_path"]))
    assert (tmp_path / "heatmap.png").stat().st_size > 0


@pytest.mark.parametrize(
    "trajectory, k, message",
    [
        ("two states", 2, r"2 state\(s\) span at most 1 direction\(s\)"),
        ("a line", 2, r"the states span only 1 dimension\(s\); 2 directions were asked for"),
        ("another model", 2, r"trajectory state 0: no parameter '0.weight'"),
        ("wrong shape", 2, r"trajectory state 0 has shape \(5,\); the model has 37 parameters"),
    ],
)
def test_a_trajectory_that_cannot_give_the_directions_is_refused(trajectory, k, message):
    net = model()
    states, plane = plane_trajectory(net)
    theta = flat_parameters(net).numpy()
    given = {
        "two states": states[:2],
        "a line": theta + np.outer(np.linspace(1, 0, 5), plane[0]),
        "another model": [{"weight": torch.zeros(3)}],
        "wrong shape": [np.zeros(5)],
    }[trajectory]
    with pytest.raises(ValueError, match=message):
        losstopo.trajectory_directions(net, given, k)


def test_training_keeps_the_weights_of_every_epoch_only_when_asked(tmp_path):
    hp = TINY_PINN | {"lbfgs_steps": 60}  # two logged chunks of L-BFGS: epochs 1 and 2
    run_training("pinn", hp, 0, tmp_path / "kept", "cpu", checkpoints=(1,), trajectory=True)
    saved = torch.load(tmp_path / "kept" / "checkpoints.pt", weights_only=True)
    family, trained, hp_full, seed, _ = load_trained(tmp_path / "kept", "cpu")
    assert saved["trajectory"]["epochs"] == [0, 1, 2] and saved["trajectory"]["parameters"].shape[0] == 3
    torch.testing.assert_close(saved["trajectory"]["parameters"][-1], flat_parameters(trained, torch.float32))
    epoch_1 = torch.cat([v.reshape(-1) for k, v in saved["epochs"][1].items() if k in Layout.of(trained).names])
    torch.testing.assert_close(saved["trajectory"]["parameters"][1], epoch_1)
    landscape = {"directions": "trajectory", "dim": 2}
    out = compute_directions(family, trained, hp_full, seed, landscape, "cpu", tmp_path / "kept" / "checkpoints.pt")
    assert out["training_path"].shape == (3, 2) and out["training_epochs"].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(out["training_path"][-1], [0.0, 0.0])  # the final model is the centre
    # the checkpoint of epoch 1 has only the states up to it: too few for two directions, skipped like a diverged run
    early = compute_directions(
        family, trained, hp_full, seed, landscape, "cpu", tmp_path / "kept" / "checkpoints.pt", epoch=1
    )
    assert "too few for 2 directions" in early["metadata"]["skipped_reason"] and np.isnan(early["directions"]).all()

    run_training("pinn", hp | {"lbfgs_steps": 5}, 0, tmp_path / "plain", "cpu")
    plain = torch.load(tmp_path / "plain" / "checkpoints.pt", weights_only=True)["trajectory"]
    assert plain["epochs"] == [] and plain["parameters"].shape == (0, Layout.of(trained).size)


def test_the_config_refuses_more_trajectory_directions_than_states():
    config = {
        "families": {"pinn": {"seeds": [0], "params": TINY_PINN, "checkpoints": [1]}},  # 30 steps: one epoch
        "landscape": {"directions": "trajectory", "dim": 2},
    }
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert "'families.pinn.landscape.dim': 2 trajectory directions need at least 3 states" in str(err.value)
    assert "'families.pinn.checkpoints': epoch(s) 1 keep fewer than 3 states" in str(err.value)


@pytest.mark.slow
def test_the_workflow_draws_the_training_path_on_the_heatmap(tmp_path):
    config = {
        "families": {"pinn": {"seeds": [0], "params": TINY_PINN | {"lbfgs_steps": 100}}},
        "landscape": {"directions": "trajectory", "dim": 2, "resolution": 5, "span": 1.2},
        "hessian": {"enabled": False},
        "connectivity": {"enabled": False},
        "figures": {"heatmaps": 1},
    }
    write_config(tmp_path, config)
    snakemake(tmp_path, "results/figures/pinn/loss_heatmaps.png")
    run = tmp_path / "results" / "runs" / "pinn" / "seed~0"
    directions = load_npz(run / "directions.npz")
    assert directions["training_path"].shape == (3, 2) and directions["training_epochs"].tolist() == [0, 1, 2]
    landscape = load_npz(run / "landscape.npz")
    assert landscape["metadata"]["directions"]["training_path"] == directions["training_path"].tolist()
    assert (tmp_path / "results" / "figures" / "pinn" / "loss_heatmaps.png").stat().st_size > 0
