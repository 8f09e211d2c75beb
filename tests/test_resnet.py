"""ResNet family: architecture, training on the offline digits default, and the landscape objective."""

from __future__ import annotations

import math

import jsonschema
import pytest
import torch
import torch.nn.functional as F

from losstopo.sweep.families import defaults, get_family
from losstopo.training.families import resnet
from losstopo.training.loop import lr_factor

TINY = {"train_size": 200, "test_size": 100, "eval_size": 48, "eval_batch_size": 20, "width": 0.5, "epochs": 2}


def hp(**overrides):
    return defaults(resnet) | TINY | overrides


def test_contract_and_params_schema():
    assert get_family("resnet") is resnet
    for key in (
        "dataset",
        "data_dir",
        "train_size",
        "eval_size",
        "depth",
        "width",
        "residual",
        "batch_norm",
        "optimizer",
        "lr",
        "momentum",
        "weight_decay",
        "lr_schedule",
        "batch_size",
        "epochs",
        "augment",
        "dtype",
    ):
        assert key in resnet.PARAMS, key
    for key, spec in resnet.PARAMS.items():
        assert spec["description"] and "type" in spec, key
        jsonschema.Draft7Validator(spec).validate(spec["default"])
    assert set(resnet.PERFORMANCE_METRICS) >= {"test_accuracy", "test_loss", "train_loss"}
    with pytest.raises(ValueError, match="unknown resnet hyperparameter.*colour"):
        resnet.full_hp({"colour": 1})


def test_resnet20_matches_the_paper():
    model = resnet.ResNet(depth=20)  # He et al. 2016, CIFAR ResNet-20 with option-A shortcuts: 0.27M parameters
    assert sum(p.numel() for p in model.parameters()) == 269_722
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) + 1 == 20  # 19 convolutions + the fc
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="depth 6n\\+2"):
        resnet.ResNet(depth=21)
    with pytest.raises(ValueError, match="depth=12"):
        resnet.build_model(hp(depth=12))


def test_width_and_input_shape_follow_the_dataset():
    model = resnet.build_model(hp())  # digits: one channel, 8x8
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == 1 and {c.out_channels for c in convs} == {8, 16, 32}
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert resnet.build_model(hp(dataset="cifar10")).conv.in_channels == 3


def test_plain_network_has_no_skip_connections():
    torch.manual_seed(0)
    kw = dict(depth=14, width=0.5, in_channels=1, num_classes=10, batch_norm=False)
    res, plain = resnet.ResNet(residual=True, **kw), resnet.ResNet(residual=False, **kw)
    plain.load_state_dict(res.state_dict())  # identical parameters: option A adds none
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in res.modules())
    with torch.no_grad():
        for block in list(res.blocks) + list(plain.blocks):
            for conv in (block.conv1, block.conv2):
                conv.weight.zero_(), conv.bias.zero_()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        # zero blocks: the residual net passes the stem's features through its shortcuts (subsampled,
        # zero-padded channels); the plain net passes nothing, so only the classifier bias is left
        feats = F.relu(res.conv(x))
        for block in res.blocks:
            feats = F.relu(block.shortcut(feats))
        expected = res.fc(feats.mean(dim=(2, 3)))
        torch.testing.assert_close(res(x), expected)
        torch.testing.assert_close(plain(x), plain.fc.bias.expand(4, 10))
        assert feats.abs().sum() > 0


def test_option_a_shortcut():
    block = resnet.BasicBlock(8, 16, stride=2, residual=True, batch_norm=True)
    x = torch.randn(2, 8, 6, 6)
    zeros = torch.zeros(2, 4, 3, 3)
    expected = torch.cat([zeros, x[:, :, 0::2, 0::2], zeros], dim=1)  # subsample, zero channels either side
    assert torch.equal(block.shortcut(x), expected)
    same = resnet.BasicBlock(8, 8, stride=1, residual=True, batch_norm=True)
    assert torch.equal(same.shortcut(x), x)


def _trained_tiny_model():
    torch.manual_seed(0)
    params = hp(epochs=1)
    model = resnet.build_model(params)
    resnet.train(model, params, seed=0, device="cpu")  # non-trivial BatchNorm running statistics
    return model, params


@pytest.fixture(scope="module")
def tiny():
    return _trained_tiny_model()


def test_objective_equals_an_independent_evaluation(tiny):
    model, params = tiny
    assert model.training
    obj = resnet.objective(model, params, seed=0, device="cpu", dtype="float64")
    assert model.training and next(model.parameters()).dtype == torch.float32  # the caller's model is untouched
    assert obj.model is not model and not obj.model.training
    # reference: the same seeded images through the model in eval mode, mean cross-entropy in float64
    data = resnet.load_data(params, "cpu", torch.float64)
    index = torch.as_tensor(obj.metadata["eval_indices_into_split_subset"])
    assert len(index) == 48 and obj.metadata["eval_size"] == 48
    ref_model = resnet.build_model(params).double()
    ref_model.load_state_dict(model.state_dict())
    ref_model.eval()
    with torch.no_grad():
        ref = F.cross_entropy(ref_model(data.x_train[index]), data.y_train[index])
    value = obj.loss_of_model()
    assert value.dtype == torch.float64
    assert abs(value.item() - ref.item()) <= 1e-12 * abs(ref.item())
    again = resnet.objective(model, params, seed=5, device="cpu", dtype="float64").loss_of_model()
    assert again.item() == value.item()  # fixed evaluation set, independent of the run seed


def test_objective_vmap_equals_a_per_point_loop(tiny):
    model, params = tiny
    obj = resnet.objective(model, params, seed=0, device="cpu", dtype="float32")
    base = {k: v.detach() for k, v in obj.model.named_parameters()}
    gen = torch.Generator().manual_seed(1)
    batch = {k: v + 0.05 * torch.randn((5, *v.shape), generator=gen, dtype=v.dtype) for k, v in base.items()}
    batched = torch.func.vmap(obj.loss_fn)(batch)
    looped = torch.stack([obj.loss_fn({k: v[i] for k, v in batch.items()}) for i in range(5)])
    assert batched.shape == (5,) and batched.dtype == torch.float64
    rel = ((batched - looped).abs() / looped.abs()).max().item()
    assert rel <= 1e-6, rel
    assert looped.std() > 1e-3  # the points differ, so agreement is not trivial


def test_objective_through_the_sampling_stage(tiny):
    sampling = pytest.importorskip("losstopo.landscape.sampling")
    model, params = tiny
    obj = resnet.objective(model, params, seed=0, device="cpu", dtype="float64")
    n_params = sum(p.numel() for p in obj.model.parameters())
    directions = 0.05 * torch.randn(2, n_params, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    axes = sampling.grid_axes(2, 3, 1.0)
    batched = sampling.sample(obj, directions.numpy(), axes, batch_size=4, progress=False)
    looped = sampling.sample(obj, directions.numpy(), axes, method="loop", progress=False)
    assert batched.method == "batched"  # vmap handled the objective: no fallback to the loop
    rel = abs(batched.loss - looped.loss) / abs(looped.loss)
    assert rel.max() <= 1e-6, rel.max()
    assert looped.loss[4] == pytest.approx(obj.loss_of_model().item(), rel=1e-12)  # the centre is the model


def test_objective_gradient_and_hvp_match_autograd(tiny):
    model, params = tiny
    obj = resnet.objective(model, params | {"eval_size": 16}, seed=0, device="cpu", dtype="float64")
    theta = {k: v.detach() for k, v in obj.model.named_parameters()}
    g = torch.func.grad(obj.loss_fn)(theta)
    leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    loss = obj.loss_fn(leaves)
    g_ref = torch.autograd.grad(loss, list(leaves.values()), create_graph=True)
    for (k, a), b in zip(g.items(), g_ref):
        torch.testing.assert_close(a, b.detach(), rtol=1e-10, atol=1e-12, msg=k)
    v = {k: torch.randn_like(t) for k, t in theta.items()}
    _, hv = torch.func.jvp(torch.func.grad(obj.loss_fn), (theta,), (v,))
    dot = sum((gi * v[k]).sum() for gi, k in zip(g_ref, leaves))
    hv_ref = torch.autograd.grad(dot, list(leaves.values()))
    for (k, a), b in zip(hv.items(), hv_ref):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10, msg=k)


def test_training_learns_and_is_reproducible():
    calls = []
    params = hp(epochs=3, train_size=300)
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = resnet.build_model(params)
        results.append(
            resnet.train(model, params, seed=1, device="cpu", on_epoch=lambda e, m, metrics: calls.append(e))
        )
    first, second = results
    assert first.status == "ok" and calls == [1, 2, 3, 1, 2, 3]
    assert set(first.history[0]) >= {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy"}
    assert first.metrics["test_accuracy"] > 0.5  # chance is 0.1
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(first.history) == drop(second.history)
    torch.manual_seed(0)
    other = resnet.train(resnet.build_model(params), params, seed=2, device="cpu")
    assert drop(other.history) != drop(first.history)  # the seed changes the data order


def test_other_optimiser_schedule_and_augmentation_run():
    params = hp(
        epochs=1,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="step",
        augment=True,
        batch_norm=False,
        residual=False,
        dtype="float64",
    )
    torch.manual_seed(0)
    result = resnet.train(resnet.build_model(params), params, seed=0, device="cpu")
    assert result.status == "ok" and math.isfinite(result.metrics["train_loss"])


def test_divergence_is_reported_not_raised():
    params = hp(epochs=3, lr=1e12, momentum=0.0)
    torch.manual_seed(0)
    calls = []
    result = resnet.train(
        resnet.build_model(params), params, seed=0, device="cpu", on_epoch=lambda e, m, metrics: calls.append(e)
    )
    assert result.status == "diverged" and "non-finite" in result.reason
    assert math.isnan(result.metrics["test_accuracy"]) and len(calls) == len(result.history) - 1


def test_lr_schedules():
    cos = lr_factor("cosine", 100)
    assert cos(0) == 1.0 and abs(cos(50) - 0.5) < 1e-12 and abs(cos(100)) < 1e-12
    step = lr_factor("step", 100)
    assert [step(s) for s in (0, 49, 50, 74, 75, 99)] == [1.0, 1.0, 0.1, 0.1, pytest.approx(0.01), pytest.approx(0.01)]
    assert lr_factor("none", 100)(77) == 1.0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_objective_on_cuda_matches_cpu(tiny):
    model, params = tiny
    cpu = resnet.objective(model, params, seed=0, device="cpu", dtype="float64").loss_of_model().item()
    gpu = resnet.objective(model, params, seed=0, device="cuda", dtype="float64").loss_of_model().item()
    assert abs(cpu - gpu) <= 1e-9 * abs(cpu)
