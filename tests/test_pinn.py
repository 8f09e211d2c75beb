"""The PINN family: loss terms against analytic functions, derivatives against autograd, training, run files."""

from __future__ import annotations

import math

import jsonschema
import numpy as np
import pandas as pd
import pytest
import torch

from losstopo import cli
from losstopo.io import load_json
from losstopo.sweep.families import defaults
from losstopo.trained import load_trained
from losstopo.training.families import pinn
from losstopo.training.train import resolve_hparams, run_training

DT = torch.float64
TINY = {"width": 6, "depth": 2, "n_collocation": 64, "n_initial": 16, "n_boundary": 8, "lbfgs_steps": 20}


def tiny_hp(**over):
    return defaults(pinn) | TINY | over


def sine_net(beta: float, amplitude: float = 1.0, speed: float | None = None) -> pinn.ConvectionMLP:
    """A one-unit sin network that is exactly amplitude * sin(x - speed * t) (speed defaults to beta)."""
    net = pinn.ConvectionMLP(width=1, depth=1, activation="sin").to(DT)
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[1.0, -(beta if speed is None else speed)]]))
        net.layers[0].bias.zero_()
        net.layers[1].weight.fill_(amplitude)
        net.layers[1].bias.zero_()
    return net


def test_params_follow_the_family_contract():
    for name, spec in pinn.PARAMS.items():
        assert {"default", "description", "type"} <= set(spec), name
        jsonschema.validate(spec["default"], {k: v for k, v in spec.items() if k not in ("default", "description")})
    assert set(pinn.PERFORMANCE_METRICS) == {"rel_l2_error", "final_loss"}


@pytest.mark.parametrize("beta", [1.0, 30.0])
def test_exact_solution_gives_zero_loss_through_the_objective(beta):
    hp = tiny_hp(beta=beta)
    obj = pinn.objective(sine_net(beta), hp, seed=3, device="cpu", dtype=DT)
    assert float(obj.loss_of_model().detach()) < 1e-26
    pts = pinn.collocation_points(hp, 3, "cpu", DT)
    terms = pinn.loss_terms(obj.model, pts)
    assert max(float(v) for v in terms.values()) < 1e-26
    assert pinn.rel_l2_error(sine_net(beta), beta) < 1e-14


def test_each_loss_term_matches_its_formula():
    beta, speed, amp = 2.0, 0.5, 1.1
    hp = tiny_hp(beta=beta)
    pts = pinn.collocation_points(hp, 0, "cpu", DT)
    terms = {k: float(v) for k, v in pinn.loss_terms(sine_net(beta, amp, speed), pts).items()}
    xt = pts.xt.numpy()
    x_r, t_r = xt[: pts.n_res].T
    x_ic = xt[pts.n_res : pts.n_res + pts.n_ic, 0]
    # u = amp sin(x - speed t): u_t + beta u_x = amp (beta - speed) cos(x - speed t); u(x, 0) - sin x = (amp - 1) sin x
    assert terms["loss_pde"] == pytest.approx(
        np.mean((amp * (beta - speed) * np.cos(x_r - speed * t_r)) ** 2), rel=1e-12
    )
    assert terms["loss_ic"] == pytest.approx(np.mean(((amp - 1) * np.sin(x_ic)) ** 2), rel=1e-12)
    assert terms["loss_bc"] < 1e-26  # sin is 2 pi periodic in x
    assert terms["loss"] == pytest.approx(terms["loss_pde"] + terms["loss_ic"] + terms["loss_bc"], rel=1e-15)


@pytest.mark.parametrize("activation", pinn.ACTIVATIONS)
def test_tangent_derivatives_match_autograd(activation):
    torch.manual_seed(0)
    net = pinn.ConvectionMLP(width=7, depth=3, activation=activation).to(DT)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.8)  # non-zero biases: exercise every term
    xt = torch.rand(30, 2, dtype=DT) * torch.tensor([2 * math.pi, 1.0], dtype=DT)
    xt.requires_grad_(True)
    grad = torch.autograd.grad(net(xt).sum(), xt)[0]
    for v in ([1.0, 0.0], [0.0, 1.0], [3.0, 1.0]):
        u, du = net(xt.detach(), torch.tensor(v, dtype=DT), tangent_rows=20)
        assert du.shape == (20,) and u.shape == (30,)
        torch.testing.assert_close(du, (grad @ torch.tensor(v, dtype=DT))[:20], rtol=1e-12, atol=1e-12)


def test_collocation_points_are_seeded_and_in_the_domain():
    hp = tiny_hp(beta=5.0)
    a, b = pinn.collocation_points(hp, 7, "cpu", DT), pinn.collocation_points(hp, 7, "cpu", DT)
    assert torch.equal(a.xt, b.xt) and torch.equal(a.u_initial, b.u_initial)
    assert not torch.equal(a.xt, pinn.collocation_points(hp, 8, "cpu", DT).xt)
    n_res, n_ic, n_bc = TINY["n_collocation"], TINY["n_initial"], TINY["n_boundary"]
    assert a.xt.shape == (n_res + n_ic + 2 * n_bc, 2)
    res, ic = a.xt[:n_res], a.xt[n_res : n_res + n_ic]
    b0, b1 = a.xt[n_res + n_ic : n_res + n_ic + n_bc], a.xt[n_res + n_ic + n_bc :]
    assert (
        (res[:, 0] >= 0).all() and (res[:, 0] < 2 * math.pi).all() and (res[:, 1] >= 0).all() and (res[:, 1] <= 1).all()
    )
    assert (ic[:, 1] == 0).all() and torch.equal(a.u_initial, torch.sin(ic[:, 0]))
    assert (b0[:, 0] == 0).all() and (b1[:, 0] == 2 * math.pi).all() and torch.equal(b0[:, 1], b1[:, 1])
    assert a.tangent.tolist() == [5.0, 1.0]


def test_relative_l2_error_on_the_paper_grid():
    xt, u = pinn.evaluation_grid(beta=2.0)
    assert xt.shape == (256 * 100, 2)
    assert xt[:, 0].max() < 2 * math.pi and xt[:, 0].min() == 0  # x endpoint excluded
    assert xt[:, 1].min() == 0 and xt[:, 1].max() == 1
    torch.testing.assert_close(u, torch.sin(xt[:, 0] - 2.0 * xt[:, 1]))
    assert pinn.relative_l2(torch.zeros_like(u), u) == pytest.approx(1.0, rel=1e-15)
    assert pinn.relative_l2(3 * u, u) == pytest.approx(2.0, rel=1e-14)
    assert pinn.rel_l2_error(sine_net(2.0, amplitude=0.75), 2.0) == pytest.approx(0.25, rel=1e-12)


def test_objective_is_vmap_grad_and_hvp_safe():
    torch.manual_seed(1)
    hp = tiny_hp()
    model = pinn.build_model(hp)
    obj = pinn.objective(model, hp, 0, "cpu", DT)
    params = {k: v.detach() for k, v in obj.model.named_parameters()}
    # vmap over three parameter sets equals three plain calls
    batch = {k: torch.stack([v, v + 0.01, v - 0.02]) for k, v in params.items()}
    plain = torch.stack([obj.loss_fn({k: v[i] for k, v in batch.items()}) for i in range(3)])
    torch.testing.assert_close(torch.vmap(obj.loss_fn)(batch), plain, rtol=1e-13, atol=0)
    # torch.func.grad equals autograd on the model
    g = torch.func.grad(obj.loss_fn)(params)
    obj.loss_of_model().backward()
    for name, p in obj.model.named_parameters():
        torch.testing.assert_close(g[name], p.grad, rtol=1e-12, atol=1e-14)
    # forward-over-reverse HVP equals a central difference of gradients
    v = {k: torch.randn_like(t) for k, t in params.items()}
    hv = torch.func.jvp(torch.func.grad(obj.loss_fn), (params,), (v,))[1]
    eps = 1e-5
    gp = torch.func.grad(obj.loss_fn)({k: params[k] + eps * v[k] for k in params})
    gm = torch.func.grad(obj.loss_fn)({k: params[k] - eps * v[k] for k in params})
    for k in params:
        torch.testing.assert_close(hv[k], (gp[k] - gm[k]) / (2 * eps), rtol=1e-5, atol=1e-8)


def test_objective_leaves_the_callers_model_alone():
    model = pinn.build_model(tiny_hp())
    before = next(model.parameters()).dtype
    obj = pinn.objective(model, tiny_hp(), 0, "cpu", torch.float64)
    assert next(model.parameters()).dtype == before == torch.float32
    assert next(obj.model.parameters()).dtype == torch.float64


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam+lbfgs"])
def test_short_training_decreases_the_loss(optimizer):
    hp = tiny_hp(optimizer=optimizer, adam_steps=60, adam_lr=1e-2)
    torch.manual_seed(0)
    model = pinn.build_model(hp)
    pts = pinn.collocation_points(hp, 0, "cpu", torch.float32)
    with torch.no_grad():
        initial = float(pinn.loss_terms(model, pts)["loss"])
    epochs = []
    result = pinn.train(model, hp, 0, "cpu", on_epoch=lambda e, m, metrics: epochs.append(e))
    assert result.status == "ok" and result.reason is None
    assert result.metrics["final_loss"] < 0.5 * initial
    assert epochs == [row["epoch"] for row in result.history]
    assert {"adam", "lbfgs"} >= {row["phase"] for row in result.history}
    assert (optimizer == "adam+lbfgs") == (result.history[0]["phase"] == "adam")
    assert math.isfinite(result.metrics["rel_l2_error"])


def _nan_after(calls: int):
    """A forward hook that turns the network's output into NaN after ``calls`` forward passes."""
    count = {"n": 0}

    def hook(module, args, output):
        count["n"] += 1
        if count["n"] <= calls:
            return output
        return tuple(o * float("nan") for o in output) if isinstance(output, tuple) else output * float("nan")

    return hook


def test_divergence_is_reported_not_raised():
    hp = tiny_hp()
    model = pinn.build_model(hp)
    model.register_forward_hook(_nan_after(5))
    result = pinn.train(model, hp, 0, "cpu")
    assert result.status == "diverged"
    assert "non-finite" in result.reason
    assert math.isnan(result.metrics["final_loss"])


def test_diverged_run_still_writes_its_files(tmp_path, monkeypatch):
    build = pinn.build_model

    def build_diverging(hp):
        model = build(hp)
        model.register_forward_hook(_nan_after(3))
        return model

    monkeypatch.setattr(pinn, "build_model", build_diverging)
    out = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--family",
            "pinn",
            "--seed",
            "0",
            "--out-dir",
            str(out),
            "--device",
            "cpu",
            "--params",
            '{"width": 6, "depth": 2, "n_collocation": 64, "n_initial": 16, "n_boundary": 8}',
        ]
    )
    assert code == 0
    info = load_json(out / "train.json")
    assert info["status"] == "diverged" and "non-finite" in info["reason"]
    assert (out / "model.pt").exists() and (out / "history.csv").exists()


def test_run_training_writes_loadable_files(tmp_path):
    out = tmp_path / "run"
    info = run_training("pinn", TINY, seed=4, out_dir=out, device="cpu")
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints.pt",
        "history.csv",
        "model.pt",
        "run.json",
        "train.json",
    ]  # no temp files
    on_disk = load_json(out / "train.json")
    assert on_disk == info
    # run.json: the run's identity for the summaries (run id defaults to the folder as given, nothing swept)
    assert load_json(out / "run.json") == {
        "run_id": str(out),
        "family": "pinn",
        "seed": 4,
        "swept": {},
        "hp": info["hp"],
        "checkpoints": [],
        "performance": {"rel_l2_error": "lower", "final_loss": "lower"},
        "performance_order": ["rel_l2_error", "final_loss"],
    }
    named = tmp_path / "named"
    run_training(
        "pinn",
        TINY,
        seed=4,
        out_dir=named,
        device="cpu",
        checkpoints=(2, 1),
        run_id="pinn/width~6/seed~4",
        swept={"width": 6},
    )
    assert load_json(named / "run.json") | {"hp": None} == {
        "run_id": "pinn/width~6/seed~4",
        "family": "pinn",
        "seed": 4,
        "swept": {"width": 6},
        "hp": None,
        "checkpoints": [1, 2],
        "performance": {"rel_l2_error": "lower", "final_loss": "lower"},
        "performance_order": ["rel_l2_error", "final_loss"],
    }
    assert {"family", "seed", "hp", "status", "reason", "metrics", "wall_time_s", "device", "torch_version"} <= set(
        info
    )
    assert info["hp"] == tiny_hp() and info["status"] == "ok"
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["family"] == "pinn" and saved["seed"] == 4 and saved["hp"] == info["hp"]
    history = pd.read_csv(out / "history.csv")
    assert {"epoch", "phase", "iteration", "loss", "loss_ic", "loss_pde", "loss_bc"} <= set(history.columns)
    family, model, hp, seed, train_info = load_trained(out, "cpu")
    assert family is pinn and seed == 4 and hp == info["hp"] and train_info == info
    with torch.no_grad():
        loss = pinn.loss_terms(model, pinn.collocation_points(hp, seed, "cpu", torch.float32))["loss"]
    assert float(loss) == pytest.approx(info["metrics"]["final_loss"], rel=1e-12)


def test_training_is_reproducible_from_the_seed(tmp_path):
    a = run_training("pinn", TINY, seed=1, out_dir=tmp_path / "a", device="cpu")
    b = run_training("pinn", TINY, seed=1, out_dir=tmp_path / "b", device="cpu")
    assert a["metrics"] == b["metrics"]


def test_hyperparameters_are_checked():
    with pytest.raises(ValueError, match="'params.widht': unknown key"):
        resolve_hparams(pinn, {"widht": 3})
    with pytest.raises(ValueError, match="activation"):
        resolve_hparams(pinn, {"activation": "swish"})
    with pytest.raises(ValueError, match="width"):
        resolve_hparams(pinn, {"width": 0})
    assert resolve_hparams(pinn, {"beta": 30})["beta"] == 30
