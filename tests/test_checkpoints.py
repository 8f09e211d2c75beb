"""Models along training: checkpoints.pt from the train runner, one run folder per checkpoint."""

import math

import pytest
import torch

from losstopo.io import load_json
from losstopo.trained import load_trained
from losstopo.training.families import pinn, resnet, unet
from losstopo.training.train import extract_checkpoint, run_training

TINY_UNET = dict(
    n_images=24,
    image_size=16,
    eval_fraction=0.25,
    eval_size=4,
    eval_batch_size=4,
    depth=1,
    base_width=4,
    epochs=3,
    batch_size=8,
)


def test_checkpoints_are_the_models_of_those_epochs(tmp_path):
    run_training("unet", TINY_UNET, 0, tmp_path, "cpu", checkpoints=(1, 3))
    saved = torch.load(tmp_path / "checkpoints.pt", weights_only=True)
    assert sorted(saved["epochs"]) == [1, 3]
    final = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    for name, value in final.items():  # the last epoch's checkpoint is the final model
        assert torch.equal(saved["epochs"][3][name], value), name
    assert any(not torch.equal(saved["epochs"][1][n], v) for n, v in final.items() if v.is_floating_point())

    info = extract_checkpoint(tmp_path, 1, tmp_path / "epoch~1")
    assert info["status"] == "ok" and info["epoch"] == 1
    assert set(info["metrics"]) >= {"mean_iou", "pixel_accuracy", "epoch"} and info["metrics"]["epoch"] == 1
    _, model, _, _, train_info = load_trained(tmp_path / "epoch~1", "cpu")
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved["epochs"][1][name]), name
    assert load_json(tmp_path / "epoch~1" / "train.json")["final_status"] == "ok"


TINY_PINN = {"width": 6, "depth": 2, "n_collocation": 32, "n_initial": 16, "n_boundary": 8, "lbfgs_steps": 100}
TINY_RESNET = {"train_size": 64, "test_size": 40, "eval_size": 16, "eval_batch_size": 16, "width": 0.25, "epochs": 2}


def pinn_metrics(model, hp, seed):
    """rel_l2_error and final_loss of the model's weights, computed directly."""
    points = pinn.collocation_points(hp, seed, "cpu", next(model.parameters()).dtype)
    with torch.no_grad():
        loss = float(pinn.loss_terms(model, points)["loss"])
    return {"rel_l2_error": pinn.rel_l2_error(model, hp["beta"]), "final_loss": loss}


def resnet_metrics(model, hp, seed):
    hp = resnet.full_hp(hp)
    data = resnet.load_data(hp, "cpu", next(model.parameters()).dtype)
    loss, accuracy = resnet.evaluate(model, data.x_test, data.y_test, hp["eval_batch_size"])
    return {"test_loss": loss, "test_accuracy": accuracy}


def unet_metrics(model, hp, seed):
    hp = unet.full_hp(hp)
    images, masks = unet.load_data(hp, ("eval",))["eval"]
    return unet.evaluate(
        model, images, masks, hp["n_classes"], hp["eval_batch_size"], "cpu", next(model.parameters()).dtype
    )


@pytest.mark.parametrize(
    "family, hp, direct",
    [("pinn", TINY_PINN, pinn_metrics), ("resnet", TINY_RESNET, resnet_metrics), ("unet", TINY_UNET, unet_metrics)],
)
def test_checkpoint_metrics_are_those_of_its_weights(tmp_path, family, hp, direct):
    """Every family's checkpoint carries the final model's performance metrics, of the checkpoint's weights."""
    final = run_training(family, hp, 0, tmp_path, "cpu", checkpoints=(1,))
    info = extract_checkpoint(tmp_path, 1, tmp_path / "epoch~1")
    fam, model, full, seed, _ = load_trained(tmp_path / "epoch~1", "cpu")
    assert info["status"] == "ok" and set(fam.PERFORMANCE_METRICS) <= set(info["metrics"])
    assert all(math.isfinite(info["metrics"][key]) for key in fam.PERFORMANCE_METRICS)
    want = direct(model, full, seed)
    assert {key: info["metrics"][key] for key in want} == pytest.approx(want, rel=1e-6)
    assert any(info["metrics"][key] != final["metrics"][key] for key in want)  # epoch 1 is not the final model


def test_a_checkpoint_the_run_never_reached_is_recorded_not_fatal(tmp_path):
    run_training("unet", TINY_UNET | {"epochs": 1}, 0, tmp_path, "cpu", checkpoints=(1,))
    info = extract_checkpoint(tmp_path, 5, tmp_path / "epoch~5")
    assert info["status"] == "diverged" and "before epoch 5" in info["reason"]
    _, model, _, _, _ = load_trained(tmp_path / "epoch~5", "cpu")
    assert all(torch.isnan(p).all() for p in model.parameters())


def test_no_checkpoints_requested_writes_an_empty_file(tmp_path):
    run_training("pinn", {"width": 4, "depth": 1, "n_collocation": 16, "lbfgs_steps": 2}, 0, tmp_path, "cpu")
    assert torch.load(tmp_path / "checkpoints.pt", weights_only=True)["epochs"] == {}
