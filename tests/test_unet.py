"""UNet family: model shapes, generated data, metrics against scikit-learn, training, and the objective."""

from __future__ import annotations

import math

import jsonschema
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from losstopo.sweep.families import defaults, get_family
from losstopo.training.data.shapes import BACKGROUND, BOUNDARY, FOREGROUND, make_shapes
from losstopo.training.families import unet

TINY = dict(
    n_images=40,
    image_size=16,
    eval_fraction=0.25,
    eval_size=6,
    eval_batch_size=4,
    depth=1,
    base_width=4,
    epochs=2,
    batch_size=8,
)


def _model(hp: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return unet.build_model(hp)


# ----------------------------------------------------------------------------------------- parameters


def test_params_are_complete_json_schemas():
    assert get_family("unet") is unet
    for key, spec in unet.PARAMS.items():
        assert {"default", "description", "type"} <= set(spec), key
        jsonschema.validate(spec["default"], spec)
    assert unet.full_hp({}) == defaults(unet)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"depht": 2}, "unknown unet hyperparameter"),
        ({"loss": "dice"}, "loss='dice'"),
        ({"lr": 0}, "lr=0"),
        ({"image_size": 18, "depth": 2}, "multiple of 2\\*\\*depth = 4"),
        ({"image_size": 8, "depth": 3}, "at least 16"),
    ],
)
def test_bad_hyperparameters_name_the_key(bad, match):
    with pytest.raises(ValueError, match=match):
        unet.full_hp(bad)


# ---------------------------------------------------------------------------------------------- model


@pytest.mark.parametrize("depth, batch_norm", [(1, True), (3, False)])
def test_unet_shapes_and_widths(depth, batch_norm):
    model = unet.UNet(3, n_classes=3, depth=depth, base_width=4, batch_norm=batch_norm)
    out = model(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 3, 16, 16)
    assert model.down[0][0].out_channels == 4
    assert model.bottleneck[0].out_channels == 4 * 2**depth
    assert len(model.down) == len(model.up) == len(model.upsample) == depth
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert has_bn == batch_norm
    assert (model.down[0][0].bias is None) == batch_norm


def test_build_model_uses_n_classes():
    model = _model({"n_classes": 2, "image_size": 16})
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 2, 16, 16)


# ----------------------------------------------------------------------------------------------- data


def test_shapes_are_seeded_and_trimap_like():
    images, masks = make_shapes(12, 32, seed=3)
    again, masks_again = make_shapes(12, 32, seed=3)
    other, _ = make_shapes(12, 32, seed=4)
    assert images.shape == (12, 32, 32, 3) and masks.shape == (12, 32, 32)
    assert images.dtype == masks.dtype == np.uint8
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(masks, masks_again)
    assert not np.array_equal(images, other)
    assert set(np.unique(masks)) == {FOREGROUND, BACKGROUND, BOUNDARY}
    assert all((m == FOREGROUND).any() for m in masks)  # every image holds a shape
    # the boundary ring separates shapes from background: no foreground pixel touches background
    fg, bg = masks == FOREGROUND, masks == BACKGROUND
    assert not (fg[:, 1:] & bg[:, :-1]).any() and not (fg[:, :-1] & bg[:, 1:]).any()
    assert not (fg[:, :, 1:] & bg[:, :, :-1]).any() and not (fg[:, :, :-1] & bg[:, :, 1:]).any()
    _, binary = make_shapes(12, 32, seed=3, n_classes=2)
    np.testing.assert_array_equal(binary, np.where(masks == BACKGROUND, BACKGROUND, FOREGROUND))


def test_split_is_seeded_disjoint_and_independent_of_the_training_seed():
    hp = unet.full_hp(TINY)
    split = unet._split(40, hp)
    assert len(split["eval"]) == 10 and len(split["train"]) == 30
    assert not set(split["train"]) & set(split["eval"])
    np.testing.assert_array_equal(split["objective"], split["eval"][:6])
    other = unet._split(40, unet.full_hp(TINY | {"data_seed": 1}))
    assert not np.array_equal(split["eval"], other["eval"])
    with pytest.raises(ValueError, match="eval_size=11 exceeds the evaluation split"):
        unet._split(40, unet.full_hp(TINY | {"eval_size": 11}))
    with pytest.raises(ValueError, match="only 40 images"):
        unet._split(40, unet.full_hp(TINY | {"n_images": 41}))


# -------------------------------------------------------------------------------------------- metrics


def test_metrics_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    target = rng.integers(0, 3, (4, 9, 9))
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, 3, target.shape))
    ours = unet.segmentation_metrics(unet.confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), 3))
    t, p = target.ravel(), pred.ravel()
    assert ours["pixel_accuracy"] == pytest.approx(metrics.accuracy_score(t, p), rel=1e-12)
    assert ours["mean_iou"] == pytest.approx(metrics.jaccard_score(t, p, average="macro"), rel=1e-12)
    assert ours["dice"] == pytest.approx(metrics.f1_score(t, p, average="macro"), rel=1e-12)


def test_metrics_skip_classes_absent_from_truth_and_prediction():
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    m = unet.segmentation_metrics(unet.confusion_matrix(pred, target, 3))
    assert m["mean_iou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["dice"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["pixel_accuracy"] == pytest.approx(0.75)


def test_soft_dice_loss_limits():
    target = torch.randint(0, 3, (2, 5, 5))
    perfect = 50.0 * F.one_hot(target, 3).permute(0, 3, 1, 2).float()
    assert unet.soft_dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    wrong = 50.0 * F.one_hot((target + 1) % 3, 3).permute(0, 3, 1, 2).float()
    assert unet.soft_dice_loss(wrong, target).item() > 0.9


# ------------------------------------------------------------------------------------------- training


def test_training_learns_and_reports_every_epoch():
    hp = dict(n_images=96, image_size=16, depth=1, epochs=8, batch_size=8, eval_size=8, lr=1e-2)
    model, seen = _model(hp), []
    result = unet.train(model, hp, seed=0, device="cpu", on_epoch=lambda epoch, m, metrics: seen.append((epoch, m)))
    assert result.status == "ok" and result.reason is None
    assert [e for e, _ in seen] == list(range(1, 9)) and all(m is model for _, m in seen)
    assert [row["epoch"] for row in result.history] == list(range(1, 9))
    for key in unet.PERFORMANCE_METRICS:
        assert result.metrics[key] == result.history[-1][key]
    # better than predicting background everywhere (mean IoU = background fraction / 3)
    masks = unet.load_data(hp, ("eval",))["eval"][1]
    constant = (masks == BACKGROUND).double().mean().item() / 3
    assert result.metrics["mean_iou"] > constant + 0.1
    assert result.history[-1]["eval_loss"] < result.history[0]["eval_loss"]
    assert result.history[-1]["lr"] < result.history[0]["lr"]  # cosine schedule


def test_training_is_seeded_and_dice_loss_runs():
    hp = TINY | {"loss": "ce+dice", "lr_schedule": "none"}
    a = unet.train(_model(hp), hp, seed=5, device="cpu")
    b = unet.train(_model(hp), hp, seed=5, device="cpu")
    c = unet.train(_model(hp), hp, seed=6, device="cpu")
    assert a.history[-1]["train_loss"] == b.history[-1]["train_loss"]
    assert a.history[-1]["train_loss"] != c.history[-1]["train_loss"]
    assert a.history[0]["lr"] == a.history[-1]["lr"] == unet.PARAMS["lr"]["default"]


def test_divergence_is_reported_not_raised():
    hp = TINY | {"lr": 1e30, "epochs": 3, "batch_norm": False}
    seen = []
    result = unet.train(_model(hp), hp, seed=0, device="cpu", on_epoch=lambda e, m, metrics: seen.append(e))
    assert result.status == "diverged"
    assert "non-finite" in result.reason and "lr=1e+30" in result.reason
    assert all(math.isnan(result.metrics[k]) for k in unet.PERFORMANCE_METRICS)
    assert result.metrics["epochs_completed"] == len(seen) < 3


# ------------------------------------------------------------------------------------------ objective


def _perturbed_batch(model, dtype, n=4, scale=0.05):
    g = torch.Generator().manual_seed(1)
    base = {k: v.detach() for k, v in model.named_parameters()}
    return base, {k: v + scale * torch.randn((n,) + v.shape, generator=g, dtype=dtype) for k, v in base.items()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_objective_vmap_equals_loop(dtype):
    hp = TINY | {"depth": 2, "eval_batch_size": 4}
    model = _model(hp)
    unet.train(model, hp | {"epochs": 1}, seed=0, device="cpu")  # non-trivial BatchNorm running statistics
    obj = unet.objective(model, hp, seed=0, device="cpu", dtype=dtype)
    _, batch = _perturbed_batch(model, dtype)
    batched = torch.func.vmap(obj.loss_fn)(batch)
    loop = torch.stack([obj.loss_fn({k: v[i] for k, v in batch.items()}) for i in range(4)])
    assert batched.dtype == torch.float64 and batched.shape == (4,)
    assert ((batched - loop).abs() / loop.abs()).max().item() <= 1e-6
    assert len(set(loop.tolist())) == 4


def test_objective_is_eval_mode_cross_entropy_on_a_fixed_subset():
    hp = TINY | {"depth": 2}
    model = _model(hp)
    unet.train(model, hp | {"epochs": 1}, seed=0, device="cpu")
    model.train()
    obj = unet.objective(model, hp, seed=0, device="cpu", dtype=torch.float64)
    assert not obj.model.training and model.training and obj.model is not model  # a copy, in eval mode
    model.eval()
    # independent reference: a plain forward pass in eval mode over the same images
    images, masks = unet.load_data(hp, ("objective",))["objective"]
    with torch.no_grad():
        logits = model.double()(unet.to_input(images, torch.device("cpu"), torch.float64))
        reference = F.cross_entropy(logits, masks.long()).item()
    value = obj.loss_of_model().item()
    assert value == pytest.approx(reference, rel=1e-12)
    # BatchNorm in eval mode: the value does not depend on how the images are chunked
    single = unet.objective(model, hp | {"eval_batch_size": 1}, seed=0, device="cpu", dtype=torch.float64)
    assert single.loss_of_model().item() == pytest.approx(value, rel=1e-12)
    # the evaluation set is fixed by data_seed, not by the run's seed
    other = unet.objective(model, hp, seed=7, device="cpu", dtype=torch.float64)
    assert other.metadata["eval_images"] == obj.metadata["eval_images"]
    assert len(obj.metadata["eval_images"]) == hp["eval_size"]
    assert other.loss_of_model().item() == value


def test_objective_gradient_and_hessian_vector_product():
    hp = TINY | {"depth": 1, "base_width": 3, "eval_size": 3}
    model = _model(hp)
    with torch.no_grad():  # move BatchNorm shifts off zero: bias-free convolutions of all-zero windows
        for p in model.parameters():  # would otherwise sit exactly on a ReLU kink
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    obj = unet.objective(model, hp, seed=0, device="cpu", dtype=torch.float64)
    params = {k: v.detach().clone() for k, v in obj.model.named_parameters()}
    grad = torch.func.grad(obj.loss_fn)(params)
    obj.loss_of_model().backward()
    for name, p in obj.model.named_parameters():
        torch.testing.assert_close(grad[name], p.grad, rtol=1e-10, atol=1e-12)
    g = torch.Generator().manual_seed(2)
    v = {k: torch.randn(p.shape, generator=g, dtype=torch.float64) for k, p in params.items()}
    # directional derivative against central differences of the loss itself (continuous across ReLU kinks)
    eps = 1e-6
    fd = (
        obj.loss_fn({k: params[k] + eps * v[k] for k in params})
        - obj.loss_fn({k: params[k] - eps * v[k] for k in params})
    ) / (2 * eps)
    directional = sum((grad[k] * v[k]).sum() for k in params)
    assert fd.item() == pytest.approx(directional.item(), rel=1e-6)
    # forward-over-reverse (what the Hessian stage uses) against autograd's reverse-over-reverse
    _, hvp = torch.func.jvp(torch.func.grad(obj.loss_fn), (params,), (v,))
    leaves = {k: p.clone().requires_grad_() for k, p in params.items()}
    first = torch.autograd.grad(obj.loss_fn(leaves), list(leaves.values()), create_graph=True)
    second = torch.autograd.grad(sum((d * v[k]).sum() for d, k in zip(first, leaves)), list(leaves.values()))
    for name, reference in zip(leaves, second):
        torch.testing.assert_close(hvp[name], reference, rtol=1e-10, atol=1e-12)
