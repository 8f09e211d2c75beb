"""Random and Hessian directions: filter normalisation, the 1-D switch, orthogonality, seeds, the npz."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from losstopo.io import InputFileError, save_npz
from losstopo.landscape import directions as dirs
from losstopo.sweep.families import defaults
from losstopo.training.families import pinn

TINY = {"width": 5, "depth": 2, "n_collocation": 40, "n_initial": 10, "n_boundary": 6}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = pinn.build_model(defaults(pinn) | TINY)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.rand_like(p))  # non-zero biases so the 1-D switch is visible
    return m


def blocks(vec: np.ndarray, layout: dirs.Layout):
    return {
        n: vec[a:b].reshape(s)
        for n, s, a, b in zip(layout.names, layout.shapes, layout.offsets[:-1], layout.offsets[1:])
    }


def test_layout_follows_named_parameters(model):
    layout = dirs.Layout.of(model)
    named = list(model.named_parameters())
    assert layout.names == tuple(n for n, _ in named)
    assert layout.size == sum(p.numel() for _, p in named) == layout.offsets[-1]
    theta = dirs.flat_parameters(model)
    for name, p in named:
        torch.testing.assert_close(layout.unflatten(theta)[name], p.detach().double())
    batch = layout.unflatten(torch.stack([theta, 2 * theta]))
    assert batch["layers.1.weight"].shape == (2, 5, 5)


@pytest.mark.parametrize("normalize_1d", [False, True])
def test_filter_normalisation_per_output_unit(model, normalize_1d):
    layout = dirs.Layout.of(model)
    theta = dirs.flat_parameters(model).numpy()
    d = dirs.filter_normalize(
        np.random.default_rng(0).standard_normal(layout.size), theta, dirs.filter_ids(model, normalize_1d)
    )
    th, dd = blocks(theta, layout), blocks(d, layout)
    for name, shape in zip(layout.names, layout.shapes):
        if len(shape) >= 2:  # every row (output unit) scaled to the norm of the same row of theta
            np.testing.assert_allclose(np.linalg.norm(dd[name], axis=1), np.linalg.norm(th[name], axis=1), rtol=1e-12)
        elif normalize_1d:  # each entry of a 1-D tensor is its own filter
            np.testing.assert_allclose(np.abs(dd[name]), np.abs(th[name]), rtol=1e-12)
        else:  # Li et al.: biases get no direction
            assert not dd[name].any()


LAYERS = [  # (layer, input shape)
    (torch.nn.Linear(4, 3), (2, 4)),
    (torch.nn.Conv1d(4, 6, 3, groups=2), (2, 4, 5)),
    (torch.nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    (torch.nn.Conv3d(2, 4, 2, groups=2), (2, 2, 3, 3, 3)),
    (torch.nn.ConvTranspose1d(4, 6, 3, groups=2), (2, 4, 5)),
    (torch.nn.ConvTranspose2d(2, 3, 3), (2, 2, 4, 4)),
    (torch.nn.ConvTranspose2d(6, 4, 3, groups=2, stride=2), (2, 6, 3, 3)),
    (torch.nn.ConvTranspose3d(4, 2, 2, groups=2), (2, 4, 3, 3, 3)),
    (torch.nn.BatchNorm2d(3), (2, 3, 4, 4)),
]


@pytest.mark.parametrize("layer, shape", LAYERS, ids=[f"{type(m).__name__}-{i}" for i, (m, _) in enumerate(LAYERS)])
@pytest.mark.parametrize("normalize_1d", [False, True])
def test_a_filter_is_an_output_channel_for_every_layer_kind(layer, shape, normalize_1d):
    """Filter o of a tensor = the entries output channel o depends on (read off the gradient of that channel)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(layer).double().train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.rand_like(p))
    ids = dirs.filter_ids(model, normalize_1d)
    layout = dirs.Layout.of(model)
    x = torch.randn(shape, dtype=torch.float64)
    params = dict(model.named_parameters())
    for name, block in blocks(ids, layout).items():
        if params[name].dim() < 2 and not normalize_1d:
            assert (block == -1).all()
            continue
        seen = set()
        for o in range(model(x).shape[1]):
            (grad,) = torch.autograd.grad(model(x)[:, o].sum(), params[name])
            used = (grad != 0).numpy()
            assert len(set(block[used].tolist())) == 1, (name, o)
            assert ((block == block[used][0]) == used).all(), (name, o)
            seen.add(int(block[used][0]))
        assert len(seen) == len(set(block.ravel().tolist()))  # one filter per output channel, no other
    theta = dirs.flat_parameters(model).numpy()
    d = dirs.filter_normalize(np.random.default_rng(1).standard_normal(layout.size), theta, ids)
    for f in np.unique(ids[ids >= 0]):
        assert np.linalg.norm(d[ids == f]) == pytest.approx(np.linalg.norm(theta[ids == f]), rel=1e-12)
    assert not d[ids < 0].any()


def test_random_directions_are_orthogonal_and_keep_their_scale(model):
    d = dirs.random_directions(model, 3, run_seed=5, seed=1)
    layout = dirs.Layout.of(model)
    assert d.shape == (3, layout.size) and d.dtype == np.float64
    gram = d @ d.T
    assert np.abs(gram - np.diag(np.diag(gram))).max() < 1e-10 * np.diag(gram).max()
    assert dirs.max_abs_cosine(d) < dirs.ORTHOGONALITY_TOL
    # the first direction is exactly filter-normalised; the others keep the total filter-normalised norm
    theta = dirs.flat_parameters(model).numpy()
    weights = [a for a, s in zip(layout.offsets[:-1], layout.shapes) if len(s) >= 2]
    for a, s in zip(weights, [s for s in layout.shapes if len(s) >= 2]):
        rows = d[0, a : a + int(np.prod(s))].reshape(s[0], -1)
        np.testing.assert_allclose(
            np.linalg.norm(rows, axis=1),
            np.linalg.norm(theta[a : a + int(np.prod(s))].reshape(s[0], -1), axis=1),
            rtol=1e-12,
        )
    target = np.sqrt(
        sum(
            np.sum(theta[a:b] ** 2)
            for a, b, s in zip(layout.offsets[:-1], layout.offsets[1:], layout.shapes)
            if len(s) >= 2
        )
    )
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), target, rtol=1e-12)


def test_orthogonalize_is_gram_schmidt():
    rows = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    out = dirs.orthogonalize(rows)
    q, _ = np.linalg.qr(rows.T)  # independent reference: the same span, nested, in the same order
    for i in range(3):
        np.testing.assert_allclose(abs(out[i] @ q[:, i]), np.linalg.norm(out[i]), rtol=1e-12)
        assert np.linalg.norm(out[i]) == pytest.approx(np.linalg.norm(rows[i]), rel=1e-14)
    with pytest.raises(ValueError, match="linearly dependent"):
        dirs.orthogonalize(np.array([[1.0, 2.0], [2.0, 4.0]]))


def test_directions_are_determined_by_both_seeds(model):
    a = dirs.random_directions(model, 2, run_seed=0, seed=0)
    assert np.array_equal(a, dirs.random_directions(model, 2, run_seed=0, seed=0))
    assert not np.allclose(a, dirs.random_directions(model, 2, run_seed=0, seed=1))
    assert not np.allclose(a, dirs.random_directions(model, 2, run_seed=1, seed=0))


def test_bad_dimension_is_rejected(model):
    with pytest.raises(ValueError, match="dim"):
        dirs.random_directions(model, 0, run_seed=0)


def write_run(tmp_path, model, hp, seed=0):
    """A run folder as the train stage leaves it (model.pt, train.json)."""
    from losstopo.io import save_json

    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "hp": hp, "family": "pinn", "seed": seed}, run / "model.pt")
    save_json(run / "train.json", {"family": "pinn", "seed": seed, "hp": hp, "status": "ok", "metrics": {}})
    return run


def test_cli_writes_the_documented_npz(tmp_path, model):
    hp = defaults(pinn) | TINY
    run = write_run(tmp_path, model, hp, seed=3)
    out = tmp_path / "directions.npz"
    args = argparse.Namespace(
        run_dir=str(run),
        landscape={"dim": 3, "seed": 2, "normalize_1d": True},
        out=str(out),
        device="cpu",
        trajectory=None,
    )
    assert dirs.main(args) == 0
    data = dirs.load_directions(out, model)
    np.testing.assert_array_equal(data["directions"], dirs.random_directions(model, 3, 3, 2, normalize_1d=True))
    layout = dirs.Layout.of(model)
    assert list(data["names"]) == list(layout.names) and list(data["offsets"]) == list(layout.offsets)
    meta = data["metadata"]
    assert meta["kind"] == "random" and meta["seed"] == 2 and meta["run_seed"] == 3 and meta["normalize_1d"]
    assert meta["max_abs_cosine"] < 1e-10
    # a model with another layout is refused, naming the file
    other = pinn.build_model(defaults(pinn) | TINY | {"width": 4})
    with pytest.raises(InputFileError, match="directions.npz"):
        dirs.load_directions(out, other)


def test_hessian_directions_are_eigenvectors(tmp_path):
    hp = defaults(pinn) | {"width": 3, "depth": 1, "n_collocation": 30, "n_initial": 8, "n_boundary": 4}
    torch.manual_seed(2)
    model = pinn.build_model(hp)
    run = write_run(tmp_path, model, hp, seed=1)
    out = tmp_path / "directions.npz"
    dirs.main(
        argparse.Namespace(
            run_dir=str(run), landscape={"directions": "hessian", "dim": 2}, out=str(out), device="cpu", trajectory=None
        )
    )
    data = dirs.load_directions(out, model)
    objective = pinn.objective(model, hp, 1, "cpu", torch.float64)
    layout = dirs.Layout.of(objective.model)
    theta = dirs.flat_parameters(objective.model)
    h = torch.func.hessian(lambda v: objective.loss_fn(layout.unflatten(v)))(theta).numpy()  # exact, P x P
    top = np.sort(np.linalg.eigvalsh(h))[::-1][:2]
    np.testing.assert_allclose(data["eigenvalues"], top, rtol=1e-6)
    d = data["directions"]
    np.testing.assert_allclose(d @ h @ d.T, np.diag(top), atol=1e-6 * abs(top[0]))
    assert data["metadata"]["kind"] == "hessian"


def test_non_finite_model_gives_nan_directions(tmp_path, model):
    hp = defaults(pinn) | TINY
    broken = pinn.build_model(hp)
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    out = dirs.compute_directions(pinn, broken, hp, 0, {"dim": 2}, torch.device("cpu"))
    assert np.isnan(out["directions"]).all() and out["directions"].shape == (2, dirs.Layout.of(broken).size)
    assert "not finite" in out["metadata"]["skipped_reason"]
    save_npz(tmp_path / "d.npz", **out)
    assert dirs.load_directions(tmp_path / "d.npz", broken)["metadata"]["skipped_reason"]
