"""Sharded sampling: shard jobs gathered into one landscape equal the unsharded landscape, bit for bit."""

import numpy as np
import pytest

from losstopo.io import InputFileError, load_npz, save_npz
from losstopo.landscape.directions import compute_directions
from losstopo.landscape.sampling import _aligned_batch, gather_shards, run_sampling, shard_count
from losstopo.trained import load_trained
from losstopo.training.train import run_training

LANDSCAPE = {"dim": 2, "resolution": 9, "span": 0.5, "shard_points": 20}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    run_training("pinn", {"width": 8, "depth": 2, "n_collocation": 64, "lbfgs_steps": 10}, 0, run_dir, "cpu")
    family, model, hp, seed, _ = load_trained(run_dir, "cpu")
    save_npz(run_dir / "directions.npz", **compute_directions(family, model, hp, seed, LANDSCAPE, "cpu"))
    return run_dir


def test_shard_count():
    assert shard_count(LANDSCAPE) == 5  # 81 points in blocks of 20
    assert shard_count({**LANDSCAPE, "shard_points": None}) == 1
    assert shard_count({**LANDSCAPE, "shard_points": 81}) == 1
    assert shard_count({**LANDSCAPE, "sampling": "sobol"}) == 1


def test_aligned_batch_divides_the_shard_size():
    assert _aligned_batch(669, 20) == 20 and _aligned_batch(7, 20) == 5 and _aligned_batch(7, None) == 7
    assert _aligned_batch(1000, 1 << 20) == 512


def test_gathered_shards_equal_the_unsharded_landscape(run, tmp_path):
    whole = run_sampling(run, run / "directions.npz", LANDSCAPE, tmp_path / "whole.npz", "cpu", progress=False)
    shards = [tmp_path / f"shard{i}.npz" for i in range(shard_count(LANDSCAPE))]
    for i, path in enumerate(shards[::-1]):  # any order
        run_sampling(run, run / "directions.npz", LANDSCAPE, path, "cpu", progress=False, shard=len(shards) - 1 - i)
    meta = gather_shards(shards, tmp_path / "gathered.npz")
    a, b = load_npz(tmp_path / "whole.npz"), load_npz(tmp_path / "gathered.npz")
    np.testing.assert_array_equal(a["loss"], b["loss"])
    np.testing.assert_array_equal(a["axes"], b["axes"])
    assert a["loss"].shape == (9, 9) and meta["shards"] == 5 and whole["batch_size"] == meta["batch_size"]
    unsharded = {k: v for k, v in LANDSCAPE.items() if k != "shard_points"}
    run_sampling(run, run / "directions.npz", unsharded, tmp_path / "plain.npz", "cpu", progress=False)
    np.testing.assert_allclose(load_npz(tmp_path / "plain.npz")["loss"], a["loss"], rtol=1e-12)


def test_gather_refuses_an_incomplete_or_overlapping_set(run, tmp_path):
    paths = []
    for i in range(shard_count(LANDSCAPE)):
        paths.append(tmp_path / f"s{i}.npz")
        run_sampling(run, run / "directions.npz", LANDSCAPE, paths[-1], "cpu", progress=False, shard=i)
    with pytest.raises(InputFileError, match="missing"):
        gather_shards(paths[:-1], tmp_path / "out.npz")
    with pytest.raises(InputFileError, match="s1.npz"):
        gather_shards([paths[0], paths[1], paths[1], *paths[2:]], tmp_path / "out.npz")
    with pytest.raises(ValueError, match="shard 9"):
        run_sampling(run, run / "directions.npz", LANDSCAPE, tmp_path / "x.npz", "cpu", progress=False, shard=9)
    assert not (tmp_path / "out.npz").exists()
