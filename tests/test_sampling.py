"""Landscape sampling: batched vs the per-point loop, an analytic 1-D slice, determinism, files, the CLI chain."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losstopo import cli
from losstopo.curvature.hessian import HessianOperator
from losstopo.io import load_json, load_npz
from losstopo.landscape import sampling as smp
from losstopo.landscape.directions import Layout, flat_parameters, random_directions
from losstopo.objective import Objective
from losstopo.sweep.families import defaults
from losstopo.trained import load_trained
from losstopo.training.families import pinn

TINY = {"width": 6, "depth": 2, "n_collocation": 50, "n_initial": 12, "n_boundary": 6, "lbfgs_steps": 15}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained PINN run folder (through the CLI) and its float64 objective."""
    run = tmp_path_factory.mktemp("run")
    assert (
        cli.main(
            [
                "train",
                "--family",
                "pinn",
                "--seed",
                "2",
                "--out-dir",
                str(run),
                "--device",
                "cpu",
                "--params",
                str(TINY).replace("'", '"'),
            ]
        )
        == 0
    )
    family, model, hp, seed, _ = load_trained(run, "cpu")
    return run, model, family.objective(model, hp, seed, "cpu", torch.float64)


def test_grid_axes_and_point_order():
    axes = smp.grid_axes(3, 5, 0.5)
    assert axes.shape == (3, 5)
    np.testing.assert_array_equal(axes[0], [-0.5, -0.25, 0.0, 0.25, 0.5])
    assert axes[1, 2] == 0.0  # the centre is exactly the trained model
    np.testing.assert_array_equal(smp.grid_axes(1, 4, 1.0)[0], -smp.grid_axes(1, 4, 1.0)[0][::-1])
    pts = smp.grid_points(axes[:2], 0, 25)
    mesh = np.stack(np.meshgrid(axes[0], axes[1], indexing="ij"), axis=-1).reshape(-1, 2)  # C order
    np.testing.assert_array_equal(pts, mesh)
    np.testing.assert_array_equal(smp.grid_points(axes[:2], 7, 9), mesh[7:9])
    for bad in ({"resolution": 2}, {"span": 0.0}, {"dim": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            smp.grid_axes(**({"dim": 2, "resolution": 5, "span": 1.0} | bad))


@pytest.mark.parametrize("k,r", [(1, 9), (2, 7), (3, 5)])
def test_batched_equals_the_per_point_loop(trained, k, r):
    _, model, objective = trained
    d = random_directions(model, k, run_seed=2)
    axes = smp.grid_axes(k, r, 1.0)
    assert objective.batched_loss_fn is not None  # the PINN's fused tanh path, against the plain loop
    batched = smp.sample(objective, d, axes, batch_size=8, progress=False)
    loop = smp.sample(objective, d, axes, method="loop", progress=False)
    assert batched.method == "batched" and loop.method == "loop"
    assert np.all(np.isfinite(batched.loss))
    assert np.max(np.abs(batched.loss - loop.loss) / np.abs(loop.loss)) <= 1e-6
    # the loop restores the model afterwards
    torch.testing.assert_close(flat_parameters(objective.model), flat_parameters(model).double(), rtol=0, atol=0)


@pytest.mark.parametrize("depth,batch", [(1, 1), (3, 5)])
def test_pinn_fast_path_equals_vmap_of_the_plain_loss(depth, batch):
    """The fused tanh network (sigmoid form, scaled weights) against vmap over the plain objective."""
    hp = defaults(pinn) | TINY | {"depth": depth, "beta": 7.0}
    torch.manual_seed(depth)
    model = pinn.build_model(hp)
    reference = pinn.objective(model, hp, 1, "cpu", torch.float64)
    layout = Layout.of(reference.model)
    thetas = flat_parameters(reference.model) + 0.3 * torch.randn(batch, layout.size, dtype=torch.float64)
    with torch.no_grad():
        want = torch.vmap(reference.loss_fn)(layout.unflatten(thetas))
        got = reference.batched_loss_fn(layout.unflatten(thetas))
        assert got.shape == (batch,) and got.dtype == torch.float64
        torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
        single = pinn.objective(model, hp, 1, "cpu", torch.float32)  # float32 networks, float64 sums
        got32 = single.batched_loss_fn(layout.unflatten(thetas.float()))
        torch.testing.assert_close(got32, want, rtol=1e-4, atol=0)


def test_pinn_fast_path_workspace_is_reused_across_batch_sizes():
    """One workspace for calls of 5, 3 and 5 networks (buffers kept, then their leading entries) gives
    bit for bit what fresh buffers give, and keeps its buffers."""
    hp = defaults(pinn) | TINY | {"depth": 3}
    model = pinn.build_model(hp).double()
    pts = pinn.collocation_points(hp, 0, "cpu", torch.float64)
    layers = list(model.layers)
    workspace = pinn.TanhWorkspace()
    buffers = []
    for seed, batch in ((0, 5), (1, 3), (2, 5)):
        gen = torch.Generator().manual_seed(seed)
        weights = [
            layer.weight.detach() + 0.3 * torch.randn(batch, *layer.weight.shape, generator=gen, dtype=torch.float64)
            for layer in layers
        ]
        biases = [
            layer.bias.detach() + 0.3 * torch.randn(batch, *layer.bias.shape, generator=gen, dtype=torch.float64)
            for layer in layers
        ]
        args = (weights, biases, pts.xt, pts.tangent, pts.n_res)
        fresh = pinn.batched_tanh_forward(*args)
        reused = pinn.batched_tanh_forward(*args, workspace)
        for a, b in zip(fresh, reused):
            assert a.shape == b.shape and torch.equal(a, b)
        buffers.append(sorted(buf.data_ptr() for buf in workspace._buffers.values()))
    assert buffers[0] == buffers[1] == buffers[2]


def test_other_activations_take_the_generic_vmap_path():
    hp = defaults(pinn) | TINY | {"activation": "sin"}
    obj = pinn.objective(pinn.build_model(hp), hp, 0, "cpu", torch.float64)
    assert obj.batched_loss_fn is None
    d = random_directions(obj.model, 2, run_seed=0)
    axes = smp.grid_axes(2, 5, 1.0)
    batched = smp.sample(obj, d, axes, batch_size=4, progress=False)
    loop = smp.sample(obj, d, axes, method="loop", progress=False)
    assert batched.method == "batched"
    np.testing.assert_allclose(batched.loss, loop.loss, rtol=1e-12)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_sampling_matches_the_cpu(trained):
    """On the GPU: fused batched path = per-point loop = the CPU landscape (float64); float32 close."""
    run, model, cpu_objective = trained
    family, _, hp, seed, _ = load_trained(run, "cpu")
    d = random_directions(model, 2, run_seed=2)
    axes = smp.grid_axes(2, 7, 1.0)
    cpu = smp.sample(cpu_objective, d, axes, progress=False).loss
    gpu64 = family.objective(model, hp, seed, "cuda", torch.float64)
    batched = smp.sample(gpu64, d, axes, progress=False)
    assert batched.method == "batched" and gpu64.batched_loss_fn is not None
    np.testing.assert_allclose(batched.loss, cpu, rtol=1e-10)
    np.testing.assert_allclose(smp.sample(gpu64, d, axes, method="loop", progress=False).loss, cpu, rtol=1e-10)
    gpu32 = family.objective(model, hp, seed, "cuda", torch.float32)
    np.testing.assert_allclose(smp.sample(gpu32, d, axes, progress=False).loss, cpu, rtol=1e-3)


def test_output_bias_slice_is_the_analytic_quadratic(trained):
    """Moving only the output bias by a shifts u by a: L(a) = L(0) + 2 a mean(u0 - sin x | t = 0) + a^2."""
    _, model, objective = trained
    layout = Layout.of(objective.model)
    d = np.zeros((1, layout.size))
    d[0, layout.offsets[-2] : layout.offsets[-1]] = 1.0  # last tensor: the output bias
    assert layout.names[-1] == "layers.2.bias"
    axes = smp.grid_axes(1, 11, 2.0)
    loss = smp.sample(objective, d, axes, batch_size=4, progress=False).loss
    hp = defaults(pinn) | TINY
    pts = pinn.collocation_points(hp, 2, "cpu", torch.float64)
    with torch.no_grad():
        u0 = objective.model(pts.xt)[pts.n_res : pts.n_res + pts.n_ic]
        l0 = float(objective.loss_of_model())
    mean_gap = float(torch.mean(u0 - pts.u_initial))
    np.testing.assert_allclose(loss, l0 + 2 * axes[0] * mean_gap + axes[0] ** 2, rtol=1e-12)


def test_sample_landscape_is_bit_identical_on_cpu_and_centred(trained):
    _, model, objective = trained
    d = random_directions(model, 2, run_seed=2)
    a = smp.sample_landscape(objective, d, 9, 0.5, progress=False)
    b = smp.sample_landscape(objective, d, 9, 0.5, progress=False)
    assert a.shape == (9, 9) and a.dtype == np.float64
    assert np.array_equal(a, b)
    with torch.no_grad():
        centre = float(objective.loss_of_model())
    assert a[4, 4] == pytest.approx(centre, rel=1e-12)


def test_auto_batch_size_is_deterministic_on_cpu(trained):
    _, _, objective = trained
    cpu = torch.device("cpu")
    b = smp.auto_batch_size(objective, 100, cpu, torch.float64)
    assert b == smp.auto_batch_size(objective, 100, cpu, torch.float64)
    per_point = objective.metadata["bytes_per_eval"] + 2 * 100 * 8
    assert b == min(smp.MAX_BATCH, smp.CPU_BUDGET_BYTES // per_point)


def test_an_objective_without_a_memory_hint_is_sampled_with_a_warning_naming_it(caplog):
    """No silent cliff: without metadata['bytes_per_eval'] a CPU chunk is one point; the log says why and how."""
    lin = torch.nn.Linear(3, 1).double()
    x = torch.randn(10, 3, dtype=torch.float64)
    obj = Objective(model=lin, loss_fn=lambda params: (torch.func.functional_call(lin, params, (x,)) ** 2).mean())
    with caplog.at_level("WARNING", logger=smp.log.name):
        batch = smp.auto_batch_size(obj, 4, torch.device("cpu"), torch.float64)
    assert batch == 1 and "no metadata['bytes_per_eval']" in caplog.text and "landscape.batch_size" in caplog.text
    caplog.clear()
    obj.metadata["bytes_per_eval"] = 10 * 8
    with caplog.at_level("WARNING", logger=smp.log.name):
        assert smp.auto_batch_size(obj, 4, torch.device("cpu"), torch.float64) > 1000
    assert caplog.text == ""


def test_vmap_failure_falls_back_to_the_loop():
    lin = torch.nn.Linear(3, 1).double()
    x = torch.randn(10, 3, dtype=torch.float64)

    def loss_fn(params):  # .item() cannot run under vmap
        out = torch.func.functional_call(lin, params, (x,))
        return torch.tensor((out**2).mean().item(), dtype=torch.float64)

    obj = Objective(model=lin, loss_fn=loss_fn)
    d = np.random.default_rng(0).standard_normal((2, 4))
    res = smp.sample(obj, d, smp.grid_axes(2, 3, 1.0), progress=False)
    assert res.method.startswith("loop (vmap failed")
    ref = smp.sample(obj, d, smp.grid_axes(2, 3, 1.0), method="loop", progress=False)
    np.testing.assert_array_equal(res.loss, ref.loss)


def stochastic_objectives():
    """(objective, cause) pairs whose loss is not a fixed function of the parameters."""
    x = torch.randn(16, 3, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)

    def of(model, noise=None):
        def loss_fn(params):
            loss = (torch.func.functional_call(model, params, (x,)) ** 2).mean()
            return loss if noise is None else loss + noise()

        return Objective(model=model, loss_fn=loss_fn)

    linear = lambda: torch.nn.Linear(3, 4).double()  # noqa: E731
    return [
        (of(torch.nn.Sequential(linear(), torch.nn.Dropout(0.5)).train()), r"training mode: 1 \(Dropout\)"),
        (of(torch.nn.Sequential(linear(), torch.nn.BatchNorm1d(4).double()).train()), r"1 \(BatchNorm1d\)"),
        (of(torch.nn.Sequential(linear(), torch.nn.RReLU()).train()), r"1 \(RReLU\)"),
        (of(linear(), lambda: 1e-3 * torch.randn((), dtype=torch.float64)), "draws random numbers"),
        (of(linear(), lambda: 1e-3 * torch.rand((), dtype=torch.float64, generator=generator)), "random operation"),
    ]


@pytest.mark.parametrize("case", range(5))
def test_a_non_deterministic_objective_is_refused_not_sampled(case):
    """Dropout in training mode gave a noisy landscape through the loop fallback; now an error names the cause."""
    objective, cause = stochastic_objectives()[case]
    d = np.random.default_rng(0).standard_normal((2, sum(p.numel() for p in objective.model.parameters())))
    methods = ("batched", "loop") if case < 4 else ("batched",)  # a private generator is seen by vmap only
    for method in methods:
        with pytest.raises(ValueError, match=f"not deterministic.*{cause}"):
            smp.sample(objective, d, smp.grid_axes(2, 3, 1.0), method=method, progress=False)
    if case < 4:
        with pytest.raises(ValueError, match=cause):
            HessianOperator(objective)
    if case < 3:  # the same model in eval mode is a fixed function: sampled, the centre twice the same
        objective.model.eval()
        res = smp.sample(objective, d, smp.grid_axes(2, 3, 1.0), progress=False)
        with torch.no_grad():
            assert res.loss[4] == pytest.approx(float(objective.loss_of_model()), rel=1e-12)
        # vmap has no rrelu: a genuine vmap limitation still falls back to the loop
        assert res.method == "batched" if case < 2 else res.method.startswith("loop (vmap failed")


def test_cli_chain_train_directions_sample(trained, tmp_path):
    run, model, objective = trained
    directions = tmp_path / "directions.npz"
    landscape = '{"dim": 2, "resolution": 5, "span": 0.5, "seed": 1}'
    assert (
        cli.main(
            ["directions", "--run-dir", str(run), "--landscape", landscape, "--out", str(directions), "--device", "cpu"]
        )
        == 0
    )
    out = tmp_path / "landscape.npz"
    assert (
        cli.main(
            [
                "sample",
                "--run-dir",
                str(run),
                "--directions",
                str(directions),
                "--landscape",
                landscape,
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    data = load_npz(out, required=("loss", "axes", "center_loss", "metadata"))
    assert data["loss"].shape == (5, 5) and data["axes"].shape == (2, 5)
    np.testing.assert_array_equal(data["axes"], smp.grid_axes(2, 5, 0.5))
    with torch.no_grad():
        centre = float(objective.loss_of_model())
    assert float(data["center_loss"]) == pytest.approx(centre, rel=1e-12)
    assert data["loss"][2, 2] == pytest.approx(centre, rel=1e-12)
    meta = data["metadata"]
    assert meta["family"] == "pinn" and meta["seed"] == 2 and meta["method"] == "batched"
    assert meta["landscape"]["precision"] == "float64" and meta["directions"]["kind"] == "random"
    assert meta["eval_set"]["n_collocation"] == TINY["n_collocation"] and meta["points_per_s"] > 0
    assert meta["hp"] == load_json(run / "train.json")["hp"]
    # same settings, loop method: same numbers
    loop_out = tmp_path / "loop.npz"
    assert (
        cli.main(
            [
                "sample",
                "--run-dir",
                str(run),
                "--directions",
                str(directions),
                "--landscape",
                landscape[:-1] + ', "method": "loop"}',
                "--out",
                str(loop_out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    np.testing.assert_allclose(load_npz(loop_out)["loss"], data["loss"], rtol=1e-6)
    # a wrong dim is an error naming the key, exit code 2
    assert (
        cli.main(
            [
                "sample",
                "--run-dir",
                str(run),
                "--directions",
                str(directions),
                "--landscape",
                '{"dim": 3}',
                "--out",
                str(tmp_path / "x.npz"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )


def test_diverged_model_is_skipped_with_nan_landscape(trained, tmp_path):
    run, model, _ = trained
    broken = tmp_path / "broken"
    broken.mkdir()
    saved = torch.load(run / "model.pt", weights_only=True)
    saved["state_dict"] = {k: torch.full_like(v, float("nan")) for k, v in saved["state_dict"].items()}
    torch.save(saved, broken / "model.pt")
    (broken / "train.json").write_text((run / "train.json").read_text())
    landscape = {"dim": 2, "resolution": 4, "span": 1.0}
    smp.run_sampling(
        broken, _directions_file(model, tmp_path), landscape, broken / "landscape.npz", "cpu", progress=False
    )
    data = load_npz(broken / "landscape.npz")
    assert data["loss"].shape == (4, 4) and np.isnan(data["loss"]).all() and np.isnan(data["center_loss"])
    assert "not finite" in data["metadata"]["skipped_reason"]


def _directions_file(model, tmp_path):
    from losstopo.io import save_npz
    from losstopo.landscape.directions import compute_directions

    path = tmp_path / "d.npz"
    save_npz(path, **compute_directions(pinn, model, {}, 0, {"dim": 2}, torch.device("cpu")))
    return path
