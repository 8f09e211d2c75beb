"""Mode connectivity: the batched path between two seeds against a plain loop of loss evaluations at
interpolated weights (and BatchNorm statistics), the barrier height, diverged models, the table."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from losstopo import cli
from losstopo.io import load_json, save_json
from losstopo.landscape import connectivity as mc
from losstopo.training.families import resnet, unet

TINY = {"width": 6, "depth": 2, "n_collocation": 50, "n_initial": 12, "n_boundary": 6, "lbfgs_steps": 15}
TINY_RESNET = {"train_size": 32, "test_size": 16, "eval_size": 12, "eval_batch_size": 12, "width": 0.25}
TINY_UNET = {"n_images": 24, "image_size": 16, "eval_size": 4, "depth": 1, "base_width": 4}


def _write_run_json(run, seed):
    save_json(
        run / "run.json", {"run_id": f"pinn/width~6/seed~{seed}", "family": "pinn", "seed": seed, "swept": {"width": 6}}
    )


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """Two tiny trained PINN run folders of one setting (seeds 0 and 1)."""
    runs = []
    for seed in (0, 1):
        run = tmp_path_factory.mktemp(f"seed{seed}")
        assert (
            cli.main(
                [
                    "train",
                    "--family",
                    "pinn",
                    "--seed",
                    str(seed),
                    "--out-dir",
                    str(run),
                    "--device",
                    "cpu",
                    "--params",
                    json.dumps(TINY),
                ]
            )
            == 0
        )
        _write_run_json(run, seed)
        runs.append(run)
    return runs


def reference_path(family, model_a, model_b, hp, seed, t):
    """The plain loop: for each t, a copy of model A with every parameter and floating buffer set to
    (1 - t) A + t B, and its objective's loss."""
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    out = []
    for ti in t:
        model = copy.deepcopy(model_a).double()  # float64 weights: no rounding of the interpolated values
        model.load_state_dict(
            {
                k: (1 - ti) * v.double() + ti * state_b[k].double() if v.is_floating_point() else v
                for k, v in state_a.items()
            }
        )
        with torch.no_grad():
            out.append(float(family.objective(model, hp, seed, "cpu", torch.float64).loss_of_model()))
    return np.array(out)


def test_path_equals_a_plain_loop_at_interpolated_weights(two_seeds):
    from losstopo.trained import load_trained

    family, model_a, hp, seed_a, _ = load_trained(two_seeds[0], "cpu")
    _, model_b, _, _, _ = load_trained(two_seeds[1], "cpu")
    t = mc.path_coordinates(9)
    path = mc.linear_path(family.objective(model_a, hp, seed_a, "cpu", torch.float64), model_b, t.size).loss
    ref = reference_path(family, model_a, model_b, hp, seed_a, t)
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path, ref, rtol=1e-10, atol=0)
    assert path.max() > min(path[0], path[-1])  # two different models: the path is not flat


@pytest.mark.parametrize("family, hp", [(resnet, TINY_RESNET), (unet, TINY_UNET)], ids=["resnet", "unet"])
def test_batchnorm_statistics_are_interpolated_too(family, hp):
    """Two BatchNorm networks with different weights and running statistics: the path equals the loop
    with interpolated buffers (a fresh objective per point), and its end points are exactly the two
    models' own losses."""
    hp = family.full_hp(hp)
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = family.build_model(hp).double()
        with torch.no_grad():
            for name, b in model.named_buffers():
                if b.is_floating_point():
                    b.copy_(torch.rand_like(b) + 0.5 if "var" in name else torch.randn_like(b) * 0.1)
        models.append(model)
    assert any(
        not torch.equal(a, b)
        for (n, a), (_, b) in zip(models[0].named_buffers(), models[1].named_buffers())
        if a.is_floating_point()
    )
    t = mc.path_coordinates(5)
    objective = family.objective(models[0], hp, 0, "cpu", torch.float64)
    path = mc.linear_path(objective, models[1], t.size).loss
    np.testing.assert_allclose(path, reference_path(family, models[0], models[1], hp, 0, t), rtol=1e-10)
    with torch.no_grad():  # model A's statistics are back in the objective: its loss is A's again
        np.testing.assert_allclose(float(objective.loss_of_model()), path[0], rtol=1e-12)
    with torch.no_grad():
        own = [float(family.objective(m, hp, 0, "cpu", torch.float64).loss_of_model()) for m in models]
    np.testing.assert_allclose(path[[0, -1]], own, rtol=1e-12)


def test_barrier_height():
    assert mc.barrier_height(np.array([1.0, 3.0, 2.0])) == pytest.approx(3.0 - 1.5)
    assert mc.barrier_height(np.array([1.0, 0.5, 1.0])) == pytest.approx(0.0)  # a convex dip: barrier 0
    assert np.isnan(mc.barrier_height(np.array([1.0, np.nan, 2.0])))
    with pytest.raises(ValueError, match="connectivity.points"):
        mc.path_coordinates(2)


def test_cli_path_files_table_and_a_diverged_model(two_seeds, tmp_path):
    paths = tmp_path / "seed~1.json"
    assert (
        cli.main(
            [
                "connectivity",
                "--run-b",
                str(two_seeds[1]),
                "--runs-a",
                str(two_seeds[0]),
                "--points",
                "5",
                "--device",
                "cpu",
                "--out",
                str(paths),
            ]
        )
        == 0
    )
    [result] = load_json(paths)["pairs"]
    assert result["status"] == "ok" and len(result["loss"]) == 5 and result["t"][-1] == 1.0
    assert (result["seed_a"], result["seed_b"]) == (0, 1)
    assert result["barrier"] == pytest.approx(mc.barrier_height(np.array(result["loss"])))
    # a model B whose parameters are not finite, connected to two lower seeds: both pairs are recorded as
    # skipped, with the reason, in the order of --runs-a
    bad = tmp_path / "bad"
    shutil.copytree(two_seeds[1], bad)
    saved = torch.load(bad / "model.pt", weights_only=False)
    saved["state_dict"] = {k: torch.full_like(v, float("nan")) for k, v in saved["state_dict"].items()}
    torch.save(saved, bad / "model.pt")
    skipped = tmp_path / "skipped.json"
    assert (
        cli.main(
            [
                "connectivity",
                "--run-b",
                str(bad),
                "--runs-a",
                str(two_seeds[0]),
                str(two_seeds[1]),
                "--points",
                "5",
                "--device",
                "cpu",
                "--out",
                str(skipped),
            ]
        )
        == 0
    )
    pairs = load_json(skipped)["pairs"]
    assert [p["status"] for p in pairs] == ["skipped", "skipped"] and "not finite" in pairs[0]["reason"]
    assert [p["run_a"] for p in pairs] == [str(two_seeds[0]), str(two_seeds[1])]
    out = tmp_path / "connectivity.csv"
    assert cli.main(["connectivity-table", "--path-files", str(paths), str(skipped), "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame["status"]) == ["ok", "skipped", "skipped"] and list(frame["width"]) == [6, 6, 6]
    assert list(frame["seed_a"]) == [0, 0, 1] and list(frame["path_file"]) == [str(paths), str(skipped), str(skipped)]
    assert frame["setting"].iloc[0] == "pinn/width~6" and frame["barrier"].iloc[0] == pytest.approx(result["barrier"])
    assert frame["barrier"].iloc[1:].isna().all()
    assert cli.main(["connectivity-table", "--out", str(tmp_path / "empty.csv")]) == 0
    assert "barrier" in pd.read_csv(tmp_path / "empty.csv").columns
    # two runs of different settings are refused
    other = tmp_path / "other"
    assert (
        cli.main(
            [
                "train",
                "--family",
                "pinn",
                "--seed",
                "0",
                "--out-dir",
                str(other),
                "--device",
                "cpu",
                "--params",
                json.dumps(TINY | {"width": 5}),
            ]
        )
        == 0
    )
    assert (
        cli.main(
            [
                "connectivity",
                "--run-b",
                str(other),
                "--runs-a",
                str(two_seeds[0]),
                "--out",
                str(tmp_path / "x.json"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
