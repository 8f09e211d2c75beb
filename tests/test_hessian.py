"""Hessian analysis against the exact Hessian (torch.autograd.functional.hessian) of tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from losstopo.curvature.hessian import (
    HessianOperator,
    analyze,
    hessian_directions,
    hutchinson_trace,
    plot_density,
    slq_density,
    smoothness,
    top_eigenpairs,
)
from losstopo.io import load_json, save_json
from losstopo.objective import Objective

DT = torch.float64


def mlp_objective(sizes=(3, 8, 8, 1), act=nn.Tanh, loss="mse", seed=0, n=40) -> Objective:
    """A tiny MLP in float64 on fixed random data (regression, or 3-class cross-entropy)."""
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    model = nn.Sequential(*layers[:-1]).to(DT)
    x = torch.randn(n, sizes[0], dtype=DT)
    if loss == "mse":
        y = torch.randn(n, sizes[-1], dtype=DT)
        crit = lambda out: ((out - y) ** 2).mean()  # noqa: E731
    else:
        y = torch.randint(0, sizes[-1], (n,))
        crit = lambda out: nn.functional.cross_entropy(out, y)  # noqa: E731

    def loss_fn(params):
        return crit(torch.func.functional_call(model, params, (x,)))

    return Objective(model=model, loss_fn=loss_fn)


def pinn_objective(width=6, depth=2, beta=1.0, activation="tanh"):
    from losstopo.sweep.families import defaults
    from losstopo.training.families import pinn

    hp = {
        **defaults(pinn),
        "width": width,
        "depth": depth,
        "beta": beta,
        "activation": activation,
        "n_collocation": 60,
        "n_initial": 20,
        "n_boundary": 10,
    }
    torch.manual_seed(1)
    return pinn.objective(pinn.build_model(hp), hp, 0, "cpu", "float64")


def exact_hessian(obj: Objective) -> np.ndarray:
    """Independent reference: autograd's double-backward Hessian of the flattened loss."""
    named = list(obj.model.named_parameters())
    sizes = [p.numel() for _, p in named]
    theta = torch.cat([p.detach().reshape(-1) for _, p in named])

    def f(flat):
        parts = torch.split(flat, sizes)
        return obj.loss_fn({n: t.view(p.shape) for (n, p), t in zip(named, parts)})

    h = torch.autograd.functional.hessian(f, theta).numpy()
    return 0.5 * (h + h.T)


@pytest.fixture(scope="module")
def mlp():
    obj = mlp_objective()
    h = exact_hessian(obj)
    return obj, h, *np.linalg.eigh(h)


@pytest.fixture(scope="module")
def tiny_pinn():
    obj = pinn_objective()
    h = exact_hessian(obj)
    return obj, h, *np.linalg.eigh(h)


def _check_pairs(result, h, vals, vecs, which, k):
    order = np.argsort(-vals if which == "LA" else vals)[:k]
    assert result.converged and result.eigenvalues.shape == (k,)
    np.testing.assert_allclose(result.eigenvalues, vals[order], rtol=1e-5)
    cos = np.abs(np.sum(result.eigenvectors * vecs[:, order].T, axis=1))
    assert np.all(cos >= 0.9999), cos
    np.testing.assert_allclose(np.linalg.norm(result.eigenvectors, axis=1), 1.0, atol=1e-10)
    true_res = np.linalg.norm(result.eigenvectors @ h - result.eigenvalues[:, None] * result.eigenvectors, axis=1)
    np.testing.assert_allclose(result.residuals, true_res / np.abs(result.eigenvalues), rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_hvp_matches_exact_hessian_and_counts(mlp, mode):
    obj, h, _, _ = mlp
    op = HessianOperator(obj, mode=mode)
    assert op.size == h.shape[0] == 113 and op.dtype == DT
    rng = np.random.default_rng(0)
    v = rng.standard_normal(op.size)
    np.testing.assert_allclose(op.matvec(v), h @ v, rtol=1e-10, atol=1e-12)
    block = rng.standard_normal((3, op.size))
    np.testing.assert_allclose(op.hvp(torch.as_tensor(block)).numpy(), block @ h, rtol=1e-10, atol=1e-12)
    assert op.n_hvp == 4
    assert op.loss == pytest.approx(obj.loss_of_model().item(), rel=1e-12)


@pytest.mark.parametrize("which,k", [("LA", 4), ("SA", 2)])
def test_top_and_most_negative_eigenpairs_match_exact(mlp, which, k):
    obj, h, vals, vecs = mlp
    assert vals[0] < -1e-3 * vals[-1], "fixture must have a clearly negative mode"
    result = top_eigenpairs(obj, k, which=which, tol=1e-8)
    assert result.method == "lanczos" and result.n_hvp > k
    _check_pairs(result, h, vals, vecs, which, k)
    assert np.all(result.residuals < 1e-6)


def test_cross_entropy_relu_model_and_its_note():
    obj = mlp_objective(sizes=(4, 10, 3), act=nn.ReLU, loss="ce")
    h = exact_hessian(obj)
    vals, vecs = np.linalg.eigh(h)
    _check_pairs(top_eigenpairs(obj, 3, tol=1e-8), h, vals, vecs, "LA", 3)
    report, _ = analyze(obj, top_k=1, trace=False, density=False)
    assert report["twice_differentiable"] is False and "calls relu" in report["note"]
    assert "almost-everywhere" in report["note"]


def test_smoothness_sees_functional_kinks_and_family_declarations():
    obj = mlp_objective()
    assert smoothness(obj)[0] is True
    pool = torch.nn.functional.max_pool1d
    kinked = Objective(
        obj.model, lambda p: obj.loss_fn(p) + pool(p["0.weight"][None], 2).sum() + p["0.bias"].clamp(min=0).sum()
    )
    smooth, note = smoothness(kinked)
    assert not smooth and "clamp" in note and "max_pool1d" in note
    declared = Objective(obj.model, obj.loss_fn, {"twice_differentiable": False, "nonsmooth_reason": "ReLU blocks"})
    smooth, note = smoothness(declared)
    assert not smooth and "ReLU blocks" in note
    assert smoothness(pinn_objective(activation="relu"))[0] is False


def test_tiny_pinn_eigenpairs_trace_and_directions(tiny_pinn):
    obj, h, vals, vecs = tiny_pinn
    assert HessianOperator(obj).size == h.shape[0] > 64
    _check_pairs(top_eigenpairs(obj, 4, tol=1e-8), h, vals, vecs, "LA", 4)
    dirs, evals = hessian_directions(obj, 2, tol=1e-8)
    assert dirs.shape == (2, h.shape[0]) and dirs.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(evals, vals[::-1][:2], rtol=1e-5)
    assert np.all(np.abs(np.sum(dirs * vecs[:, ::-1][:, :2].T, axis=1)) >= 0.9999)
    tr = hutchinson_trace(obj, rel_tol=0.02, max_probes=400, seed=3)
    assert abs(tr.value - np.trace(h)) <= 3 * tr.stderr
    report, _ = analyze(obj, top_k=1, trace=False, density=False)
    assert report["twice_differentiable"] is True  # tanh PINN


def test_dense_fallback_for_tiny_models_and_k_too_large():
    obj = mlp_objective(sizes=(2, 3, 1))  # 13 parameters
    h = exact_hessian(obj)
    vals, vecs = np.linalg.eigh(h)
    result = top_eigenpairs(obj, 13)
    assert result.method == "dense" and result.n_hvp == 13
    _check_pairs(result, h, vals, vecs, "LA", 13)
    with pytest.raises(ValueError, match=r"k=14 eigenpairs of a Hessian with 13 parameters"):
        top_eigenpairs(obj, 14)
    with pytest.raises(ValueError, match="which must be"):
        top_eigenpairs(obj, 1, which="LM")


def test_nonconvergence_is_flagged_not_silent(mlp):
    obj = mlp[0]
    result = top_eigenpairs(obj, 6, tol=1e-15, maxiter=1, ncv=8)
    assert not result.converged
    assert "did not converge" in result.message and "of 6 eigenpairs" in result.message
    assert result.eigenvalues.size < 6 and result.to_json()["n_converged"] == result.eigenvalues.size
    with pytest.raises(RuntimeError, match="did not converge"):
        hessian_directions(obj, 6, tol=1e-15, maxiter=1)


def test_trace_within_three_standard_errors_and_stopping_rule(mlp):
    obj, h = mlp[:2]
    tr = hutchinson_trace(obj, rel_tol=0.1, min_probes=10, max_probes=1000, batch=16, seed=1)
    assert tr.converged and tr.stderr <= 0.1 * abs(tr.value) and tr.n_probes >= 10
    assert tr.n_hvp == tr.n_probes == tr.samples.size
    assert abs(tr.value - np.trace(h)) <= 3 * tr.stderr
    capped = hutchinson_trace(obj, rel_tol=0.0, min_probes=5, max_probes=12, batch=5)
    assert not capped.converged and capped.n_probes == 12
    with pytest.raises(ValueError, match="min_probes"):
        hutchinson_trace(obj, min_probes=1)


def test_deflated_trace_is_unbiased_and_tighter(mlp):
    obj, h = mlp[:2]
    op = HessianOperator(obj)
    top = top_eigenpairs(op, 4, tol=1e-8)
    np.testing.assert_allclose(top.rayleigh, top.eigenvalues, rtol=1e-10)
    plain = hutchinson_trace(op, rel_tol=0.0, max_probes=200, batch=50, seed=4)
    deflated = hutchinson_trace(op, rel_tol=0.0, max_probes=200, batch=50, seed=4, deflate=top)
    assert deflated.deflated == 4 and deflated.deflated_part == pytest.approx(top.eigenvalues.sum(), rel=1e-10)
    assert abs(deflated.value - np.trace(h)) <= 3 * deflated.stderr
    assert deflated.stderr < 0.7 * plain.stderr
    tiny = mlp_objective(sizes=(2, 3, 1))  # deflating every eigenvector leaves nothing to estimate
    full = hutchinson_trace(tiny, rel_tol=1e-12, batch=5, deflate=top_eigenpairs(tiny, 13))
    assert full.converged and full.n_probes == 10
    assert full.value == pytest.approx(np.trace(exact_hessian(tiny)), rel=1e-10)


def dominant_negative_mode(c=35.0) -> Objective:
    """A tiny tanh net whose loss, mse - c * mean(output)^2, has one dominant negative Hessian mode: the output
    mean is 0 at the parameters (last bias shifted), so the second term adds exactly -2c g g^T, g = grad mean."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).to(DT)
    x, y = torch.randn(40, 3, dtype=DT), torch.randn(40, 1, dtype=DT)
    with torch.no_grad():
        model[2].bias -= model(x).mean()

    def loss_fn(params):
        out = torch.func.functional_call(model, params, (x,))
        return ((out - y) ** 2).mean() - c * out.mean() ** 2

    return Objective(model=model, loss_fn=loss_fn)


def test_trace_deflates_the_bottom_eigenpairs_too():
    """Deflating only the top pairs left the dominant negative mode in the probes: not converged in 500."""
    obj = dominant_negative_mode()
    h = exact_hessian(obj)
    exact, eigenvalues = np.trace(h), np.linalg.eigvalsh(h)
    assert exact == pytest.approx(-127.04, abs=0.01) and eigenvalues[0] < -100 < -2 < eigenvalues[1]
    options = {"rel_tol": 0.01, "max_probes": 500}
    report, _ = analyze(obj, top_k=2, bottom_k=1, trace=options, density=False, seed=1)
    trace = report["trace"]
    assert trace["converged"] and trace["deflated"] == 3 and trace["n_probes"] < 100
    assert abs(trace["value"] - exact) <= 3 * trace["stderr"]
    op = HessianOperator(obj)
    top_only = hutchinson_trace(op, deflate=top_eigenpairs(op, 2), seed=1, **options)
    assert not top_only.converged and top_only.stderr > 5 * trace["stderr"]
    tiny = mlp_objective(sizes=(2, 3, 1))  # overlapping sets: the dependent vectors are dropped, still exact
    both = [top_eigenpairs(tiny, 13), top_eigenpairs(tiny, 5, which="SA")]
    full = hutchinson_trace(tiny, rel_tol=1e-12, batch=5, deflate=both)
    assert full.deflated == 13 and full.value == pytest.approx(np.trace(exact_hessian(tiny)), rel=1e-10)


def test_slq_moments_match_exact_spectrum(mlp):
    obj, h, vals, _ = mlp
    p, n = h.shape[0], 30
    dens = slq_density(obj, n_probes=n, lanczos_steps=40, seed=2, memory_mb=0.2)  # several probe blocks
    s = dens.summary()
    assert dens.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.trapezoid(dens.density, dens.grid) == pytest.approx(1.0, abs=1e-12)
    assert dens.n_hvp == n * 40 and s["n_probes"] == n
    # E[z'Hz]/P = tr(H)/P and E[z'H^2z]/P = ||H||_F^2/P, with Rademacher variances 2(||A||_F^2 - sum A_ii^2)
    for moment, a in (("mean", h), ("second_moment", h @ h)):
        stderr = np.sqrt(2 * (np.sum(a * a) - np.sum(np.diag(a) ** 2)) / n) / p
        assert abs(s[moment] - np.trace(a) / p) <= 4 * stderr, (moment, s[moment], np.trace(a) / p, stderr)
    # Lanczos finds the extreme eigenvalues; the broadened curve keeps the mean and adds sigma^2
    assert s["max_node"] == pytest.approx(vals[-1], rel=1e-6)
    assert s["min_node"] == pytest.approx(vals[0], rel=1e-3)
    assert np.trapezoid(dens.grid * dens.density, dens.grid) == pytest.approx(s["mean"], abs=1e-6 * vals[-1])
    broadened = np.trapezoid(dens.grid**2 * dens.density, dens.grid)
    assert broadened == pytest.approx(s["second_moment"] + dens.sigma**2, rel=1e-6)
    assert s["negative_mass"] > 0 and s["negative_mass_significant"] <= s["negative_mass"]


def test_slq_with_p_steps_is_exact_quadrature():
    obj = mlp_objective(sizes=(2, 4, 1))  # 17 parameters: Lanczos spans the whole space
    h = exact_hessian(obj)
    dens = slq_density(obj, n_probes=3, lanczos_steps=50, seed=0)
    assert np.all(dens.steps <= 17)
    for i in range(3):
        nodes = dens.nodes[dens.probe == i]
        assert nodes.size == dens.steps[i]
        # every Ritz value of a complete Lanczos run is an exact eigenvalue
        assert np.min(np.abs(nodes[:, None] - np.linalg.eigvalsh(h)[None, :]), axis=1).max() < 1e-8
    z = dens.summary()
    assert z["max_node"] == pytest.approx(np.linalg.eigvalsh(h)[-1], rel=1e-10)


def test_analyze_report_is_json_ready(mlp, tmp_path):
    obj, h, vals, _ = mlp
    report, dens = analyze(
        obj,
        top_k=2,
        bottom_k=1,
        eig_tol=1e-8,
        trace={"rel_tol": 0.05, "max_probes": 300},
        density={"n_probes": 2, "lanczos_steps": 20},
        seed=5,
    )
    save_json(tmp_path / "hessian.json", report)
    back = load_json(tmp_path / "hessian.json")
    assert back["status"] == "ok" and back["n_params"] == 113 and back["dtype"] == "float64"
    np.testing.assert_allclose(back["top"]["eigenvalues"], vals[::-1][:2], rtol=1e-5)
    np.testing.assert_allclose(back["bottom"]["eigenvalues"], vals[:1], rtol=1e-5)
    assert abs(back["trace"]["value"] - np.trace(h)) <= 3 * back["trace"]["stderr"]
    assert back["trace"]["deflated"] == 3 and back["settings"]["trace"]["deflate"] is True  # top 2 and bottom 1
    counts = back["n_hvp"]
    assert counts["total"] == counts["top"] + counts["bottom"] + counts["trace"] + counts["density"]
    assert back["density"]["n_hvp"] == 40 and back["twice_differentiable"] is True
    assert set(back["seconds"]) == {"setup", "top", "bottom", "trace", "density"}
    assert set(dens.arrays()) == {"grid", "density", "nodes", "weights", "probe", "steps"}
    json.dumps(report, default=lambda o: o.tolist())
    plot_density(dens, tmp_path / "esd.png", title="tiny", eigenvalues=back["top"]["eigenvalues"])
    assert (tmp_path / "esd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_rejects_bad_settings_and_nonfinite_loss(mlp):
    obj = mlp[0]
    with pytest.raises(ValueError, match="unknown Hessian density option"):
        analyze(obj, density={"probes": 3})
    with pytest.raises(ValueError, match="top_k"):
        analyze(obj, top_k=-1)
    bad = mlp_objective()
    with torch.no_grad():
        next(bad.model.parameters())[0, 0] = float("nan")
    report, dens = analyze(bad)
    assert report["status"] == "nonfinite" and dens is None and report["top"] is None


def test_main_writes_json_density_and_plot(tmp_path):
    from argparse import Namespace

    from losstopo.curvature.hessian import main
    from losstopo.io import load_npz
    from losstopo.training.train import run_training

    hp = {"width": 5, "depth": 2, "n_collocation": 40, "n_initial": 16, "n_boundary": 8, "lbfgs_steps": 5}
    run_training("pinn", hp, seed=0, out_dir=tmp_path / "run", device="cpu")
    settings = {"top_k": 2, "trace": {"max_probes": 40}, "density": {"n_probes": 2, "lanczos_steps": 15}, "seed": 1}
    args = Namespace(
        run_dir=str(tmp_path / "run"),
        settings=settings,
        out_json=str(tmp_path / "h" / "hessian.json"),
        out_density=str(tmp_path / "h" / "density.npz"),
        out_plot=str(tmp_path / "h" / "esd.png"),
        device="cpu",
    )
    assert main(args) == 0
    report = load_json(args.out_json)
    assert report["status"] == "ok" and report["dtype"] == "float64" and report["train_status"] == "ok"
    assert report["top"]["converged"] and len(report["top"]["eigenvalues"]) == 2
    arrays = load_npz(args.out_density, required=("grid", "density", "nodes", "weights", "probe", "steps"))
    assert arrays["grid"].shape == arrays["density"].shape and arrays["metadata"]["density"] == report["density"]
    assert (tmp_path / "h" / "esd.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="config key 'hessian.trace.n': unknown key"):  # checked as the config is
        main(Namespace(**{**vars(args), "settings": {"trace": {"n": 3}}}))


def test_main_takes_the_top_eigenpairs_of_hessian_directions(tmp_path):
    """With --directions the stage reports the directions' own top pairs (no Lanczos here) and deflates the
    trace by them; against a run that computes them itself: the same eigenvalues to the Lanczos tolerance."""
    from argparse import Namespace

    from losstopo.curvature.hessian import main
    from losstopo.io import load_npz
    from losstopo.landscape.directions import main as directions_main
    from losstopo.training.train import run_training

    hp = {"width": 6, "depth": 2, "n_collocation": 40, "n_initial": 16, "n_boundary": 8, "lbfgs_steps": 5}
    run = tmp_path / "run"
    run_training("pinn", hp, seed=0, out_dir=run, device="cpu")
    landscape = {"directions": "hessian", "dim": 3}
    directions_main(
        Namespace(run_dir=str(run), landscape=landscape, out=str(run / "d.npz"), device="cpu", trajectory=None)
    )
    settings = {"top_k": 2, "trace": {"max_probes": 40}, "density": {"n_probes": 1, "lanczos_steps": 10, "n_grid": 10}}

    def analyse(name, **extra):
        out = {"out_json": str(tmp_path / f"{name}.json"), "out_density": str(tmp_path / f"{name}.npz")}
        args = Namespace(run_dir=str(run), settings=dict(settings), out_plot=None, device="cpu", **out, **extra)
        assert main(args) == 0
        return load_json(out["out_json"])

    own, reused = analyse("own"), analyse("reused", directions=str(run / "d.npz"))
    stored = load_npz(run / "d.npz")
    assert reused["top"]["eigenvalues"] == stored["eigenvalues"][:2].tolist()
    assert reused["top"]["residuals"] == stored["residuals"][:2].tolist() and reused["top"]["converged"]
    assert reused["n_hvp"]["top"] == 0 < own["n_hvp"]["top"] and "Hessian directions" in reused["top"]["message"]
    np.testing.assert_allclose(reused["top"]["eigenvalues"], own["top"]["eigenvalues"], rtol=1e-4)
    assert reused["trace"]["deflated"] == 2
    np.testing.assert_allclose(reused["trace"]["deflated_part"], own["trace"]["deflated_part"], rtol=1e-4)

    def refused(directions, **changed):
        args = Namespace(
            run_dir=str(run),
            settings={**settings, **changed},
            out_plot=None,
            device="cpu",
            out_json=str(tmp_path / "x.json"),
            out_density=str(tmp_path / "x.npz"),
            directions=directions,
        )
        with pytest.raises(ValueError) as err:
            main(args)
        return str(err.value)

    assert "at tol 1e-05; the Hessian stage asks for 2 at tol 0.001" in refused(str(run / "d.npz"), eig_tol=1e-3)
    assert "holds 3 eigenpairs" in refused(str(run / "d.npz"), top_k=4)
    assert "hessian.precision asks for torch.float32" in refused(str(run / "d.npz"), precision="float32")
    directions_main(
        Namespace(run_dir=str(run), landscape={"dim": 2}, out=str(run / "random.npz"), device="cpu", trajectory=None)
    )
    assert "'random' directions hold no Hessian eigenpairs" in refused(str(run / "random.npz"))
