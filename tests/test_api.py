"""The public API for any model: the objective from a model and a loss, a landscape of it, its files,
topology and profile, the straight line between two models, and bad input."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import losstopo
from losstopo import cli
from losstopo.io import load_json
from losstopo.landscape.directions import flat_parameters
from losstopo.training.families import resnet

REPO = Path(__file__).resolve().parents[1]


def data_and_model(kind: str, seed: int = 0):
    """Inputs of three shapes: tabular (N, F), sequences (N, C, L), images (N, C, H, W) with BatchNorm."""
    torch.manual_seed(seed)
    if kind == "tabular":
        x, model = torch.randn(23, 5), nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))
    elif kind == "sequence":
        x = torch.randn(23, 2, 9)
        model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(28, 3))
    else:
        x = torch.randn(23, 1, 6, 6)
        model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Tanh(), nn.Flatten(), nn.Linear(48, 3))
        with torch.no_grad():  # running statistics that are not the defaults, so using them matters
            model[1].running_mean.uniform_(-0.5, 0.5)
            model[1].running_var.uniform_(0.5, 1.5)
    return x, torch.randint(0, 3, (23,)), model.eval()


def plain_loss(model: nn.Module, x, y) -> float:
    """The reference: the model itself in float64 on the whole set, one call, no functional_call."""
    with torch.no_grad():
        return float(nn.functional.cross_entropy(copy.deepcopy(model).double()(x.double()), y))


def test_import_stays_torch_free_and_lists_the_api():
    code = (
        "import sys, losstopo, losstopo.sweep.config; assert 'torch' not in sys.modules, 'torch imported'; "
        "print(' '.join(dir(losstopo)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    for name in ("make_objective", "compute_landscape", "Landscape", "trajectory_directions", "linear_path"):
        assert name in out.stdout.split()


@pytest.mark.parametrize("kind", ["tabular", "sequence", "image"])
def test_every_form_of_the_loss_gives_the_models_own_loss_and_its_gradient(kind):
    x, y, model = data_and_model(kind)
    before = flat_parameters(model).clone()
    crit = nn.CrossEntropyLoss()
    net64 = copy.deepcopy(model).double()
    objectives = {
        "criterion, (X, y)": losstopo.make_objective(model, crit, (x, y)),
        "criterion, DataLoader": losstopo.make_objective(model, crit, DataLoader(TensorDataset(x, y), batch_size=7)),
        "loss(output, batch)": losstopo.make_objective(
            model, loss=lambda out, batch: crit(out, batch[1]), data=(x.numpy(), y.numpy()), batch_size=5
        ),
        "loss_fn(params)": losstopo.make_objective(
            model,
            loss_fn=lambda p: crit(
                torch.func.functional_call(net64, (p, dict(net64.named_buffers())), (x.double(),)), y
            ),
        ),
    }
    reference = plain_loss(model, x, y)
    params = {n: p.detach().double().requires_grad_() for n, p in model.named_parameters()}
    nn.functional.cross_entropy(
        torch.func.functional_call(net64, (params, dict(net64.named_buffers())), (x.double(),)), y
    ).backward()
    for form, objective in objectives.items():
        with torch.no_grad():
            assert float(objective.loss_of_model()) == pytest.approx(reference, rel=1e-12), form
        gradient = torch.func.grad(objective.loss_fn)(dict(objective.model.named_parameters()))
        for name, p in params.items():
            torch.testing.assert_close(gradient[name], p.grad, rtol=1e-10, atol=1e-12, msg=f"{form}: {name}")
        # vmap over two parameter points equals two plain calls
        shifted = {n: torch.stack([p.detach(), p.detach() + 0.01]) for n, p in objective.model.named_parameters()}
        batched = torch.vmap(objective.loss_fn)(shifted)
        with torch.no_grad():
            second = objective.loss_fn({n: v[1] for n, v in shifted.items()})
        torch.testing.assert_close(batched[1], second, rtol=1e-12, atol=0)
    assert objectives["criterion, DataLoader"].metadata["batches"] == 4
    assert objectives["criterion, (X, y)"].metadata["bytes_per_eval"] > 2 * x.numel() * 8
    assert next(model.parameters()).dtype == torch.float32 and torch.equal(flat_parameters(model), before)


def _nonscalar(out, batch):
    return nn.functional.cross_entropy(out, batch[1], reduction="none")


def _exploding(out, batch):
    return nn.functional.cross_entropy(out, batch[1]) / 0.0


def _random(out, batch):
    return nn.functional.cross_entropy(out, batch[1]) + 0.0 * torch.rand(())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"loss": _nonscalar}, r"loss _nonscalar on batch 0 returned \(23,\), not a scalar"),
        ({"criterion": nn.CrossEntropyLoss(reduction="none")}, r"criterion CrossEntropyLoss .*not a scalar"),
        ({"loss": _exploding}, r"loss _exploding on batch 0 is inf at the model's parameters"),
        ({"loss": _random}, r"not deterministic: evaluating it draws random numbers"),
        ({"train": True}, r"training mode: 2 \(Dropout\)"),
        ({"data": "narrow"}, r"data: the model and criterion CrossEntropyLoss cannot evaluate batch 0 "),
        (
            {"data": "short"},
            r"data: the tensors of batch 0 must have the same number of rows; shapes \(23, 5\), \(22,\)",
        ),
        ({"data": "inputs only"}, r"data: criterion CrossEntropyLoss needs \(inputs, targets\) batches"),
        ({"data": "empty"}, r"data holds no batch"),
        (
            {"loss": _nonscalar, "criterion": nn.MSELoss()},
            r"exactly one of criterion, loss or loss_fn; got criterion, loss",
        ),
        ({"criterion": None}, r"exactly one of criterion, loss or loss_fn; got none"),
        ({"loss_fn": lambda p: sum(v.sum() for v in p.values()), "criterion": None}, r"data is not used with loss_fn"),
    ],
)
def test_bad_input_is_refused_with_its_name(change, message):
    x, y, _ = data_and_model("tabular")
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 3)).eval()
    if change.pop("train", False):
        model.train()
    data = {
        "narrow": (x[:, :4], y),
        "short": (x, y[:-1]),
        "inputs only": x,
        "empty": DataLoader(TensorDataset(x[:0], y[:0])),
    }.get(change.pop("data", None), (x, y))
    criterion = None if {"loss", "loss_fn"} & change.keys() else nn.CrossEntropyLoss()
    args = {"criterion": criterion, "data": data} | change
    with pytest.raises(ValueError, match=message):
        losstopo.make_objective(model, **args)


def test_the_image_familys_objective_takes_tabular_inputs():
    """classification_objective lays out only 4-D inputs channels-last (it crashed on (N, F) inputs)."""
    x, y, model = data_and_model("tabular")
    objective = resnet.classification_objective(model, x.double(), y, batch_size=10)
    with torch.no_grad():
        assert float(objective.loss_of_model()) == pytest.approx(plain_loss(model, x, y), rel=1e-12)
    assert objective.metadata["bytes_per_eval"] > 0


def test_a_landscape_of_any_model_its_files_topology_and_profile(tmp_path):
    x, y, model = data_and_model("sequence")
    objective = losstopo.make_objective(model, nn.CrossEntropyLoss(), (x, y))
    land = losstopo.compute_landscape(objective, "random", dim=2, resolution=5, span=0.8, seed=3, progress=False)
    assert land.loss.shape == (5, 5) and land.axes.shape == (2, 5)
    # independent reference: write each grid point's parameters into a copy of the model, evaluate it plainly
    d, theta = land.directions.vectors, flat_parameters(model)
    for i, j in [(0, 0), (1, 3), (2, 2), (4, 1)]:
        probe = copy.deepcopy(model).double()
        point = theta + torch.as_tensor(land.axes[0][i] * d[0] + land.axes[1][j] * d[1])
        torch.nn.utils.vector_to_parameters(point, probe.parameters())
        assert land.loss[i, j] == pytest.approx(plain_loss(probe, x, y), rel=1e-10)
    assert land.center_loss == pytest.approx(plain_loss(model, x, y), rel=1e-12) == land.loss[2, 2]
    assert land.metadata["directions"]["kind"] == "random" and land.metadata["landscape"]["resolution"] == 5

    path = tmp_path / "landscape.npz"
    land.save(path)
    again = losstopo.Landscape.load(path)
    np.testing.assert_array_equal(again.loss, land.loss)
    np.testing.assert_array_equal(again.axes, land.axes)
    assert again.center_loss == land.center_loss and again.metadata["directions"]["kind"] == "random"
    # the command line reads it as it reads the workflow's
    assert cli.main(["topology", str(path), "--out-dir", str(tmp_path / "topo"), "--threshold", "0.01"]) == 0
    assert load_json(tmp_path / "topo" / "topology.json")["n_minima"] == land.summary(0.01)["n_minima"]
    assert cli.main(["profile", "--topology-dir", str(tmp_path / "topo"), "--landscape", str(path),
                     "--out-svg", str(tmp_path / "cli.svg"), "--out-png", str(tmp_path / "cli.png")]) == 0  # fmt: skip
    profile = land.save_profile(tmp_path / "profile.png", tmp_path / "profile.svg", scale="linear")
    assert len(profile.valleys) >= 1 and (tmp_path / "profile.png").stat().st_size > 0
    assert (tmp_path / "profile.svg").read_text().lstrip().startswith("<?xml")

    scattered = losstopo.compute_landscape(objective, land.directions, sampling="sobol", n_samples=31, progress=False)
    assert scattered.points.shape == (32, 2) and scattered.loss[0] == pytest.approx(land.center_loss, rel=1e-12)
    scattered.save(tmp_path / "scattered.npz")
    assert losstopo.Landscape.load(tmp_path / "scattered.npz").summary()["knn_k"] == 8


def test_a_known_field_has_its_known_topology():
    """Two wells of different depth on a 1-D grid: two minima, one saddle, one finite pair of known persistence."""
    axis = np.linspace(-2, 2, 41)
    loss = (axis**2 - 1) ** 2 + 0.3 * axis
    land = losstopo.Landscape(loss, axes=axis[None, :])
    summary = land.summary(threshold=0.0)
    assert (summary["n_minima"], summary["n_saddles"]) == (2, 1)
    saddle = loss[np.abs(axis) < 1].max()  # the barrier between the wells, on the grid
    assert summary["max_persistence"] == pytest.approx(saddle - loss[axis > 0].min())
    pairs = land.topology().pairs
    assert np.isinf(pairs.death).sum() == 1 and pairs.birth.min() == loss.min()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"resolution": 2}, r"resolution=2: 2 is less than the minimum of 3"),
        ({"directions": "sideways"}, r"landscape.directions must be one of random, hessian, trajectory"),
        ({"directions": np.zeros((2, 3))}, r"directions have shape \(2, 3\); expected \(k, 57\)"),
        ({"directions": "trajectory"}, r"trajectory directions need the trajectory"),
        ({"sampling": "spiral"}, r"sampling='spiral'"),
    ],
)
def test_bad_landscape_settings_are_refused_before_sampling(settings, message):
    x, y, model = data_and_model("tabular")
    objective = losstopo.make_objective(model, nn.CrossEntropyLoss(), (x, y))
    with pytest.raises(ValueError, match=message):
        losstopo.compute_landscape(objective, progress=False, **settings)


def test_the_line_between_two_models_with_batchnorm():
    """Two BatchNorm networks: the line equals a plain loop over copies with interpolated weights and running
    statistics, its ends are each model's own loss, and the objective holds model A's statistics afterwards."""
    x, y, a = data_and_model("image", seed=0)
    _, _, b = data_and_model("image", seed=1)
    objective = losstopo.make_objective(a, nn.CrossEntropyLoss(), (x, y))
    line = losstopo.linear_path(objective, b, points=5)
    state_a, state_b = a.state_dict(), b.state_dict()
    for t, value in zip(line.t, line.loss):
        probe = copy.deepcopy(a).double()
        probe.load_state_dict({k: torch.lerp(v.double(), state_b[k].double(), t) if v.is_floating_point() else v
                               for k, v in state_a.items()})  # fmt: skip
        assert value == pytest.approx(plain_loss(probe, x, y), rel=1e-10)
    assert line.loss[-1] == pytest.approx(plain_loss(b, x, y), rel=1e-10)
    assert line.barrier == pytest.approx(line.loss.max() - (line.loss[0] + line.loss[-1]) / 2)
    with torch.no_grad():
        assert float(objective.loss_of_model()) == pytest.approx(line.loss[0], rel=1e-12)
    with pytest.raises(ValueError, match="not one architecture"):
        losstopo.linear_path(objective, nn.Sequential(nn.Linear(5, 3)))


def test_a_model_where_an_objective_belongs_is_named():
    model = torch.nn.Linear(3, 1)
    with pytest.raises(TypeError, match="objective: expected an Objective from losstopo.make_objective.*a model"):
        losstopo.compute_landscape(model, "random", dim=1, resolution=3)
    with pytest.raises(TypeError, match="objective: expected an Objective"):
        losstopo.analyze(model)
    objective = losstopo.make_objective(model, torch.nn.MSELoss(), (torch.randn(8, 3), torch.randn(8, 1)))
    with pytest.raises(TypeError, match="model_b: expected a torch.nn.Module, got Objective"):
        losstopo.linear_path(objective, objective)
