"""Sharded sampling: shard jobs gathered into one landscape equal the unsharded landscape, bit for bit."""

import numpy as np
import pytest

from losstopo.io import InputFileError, load_npz, save_npz
from losstopo.landscape import sampling
from losstopo.landscape.directions import compute_directions
from losstopo.landscape.sampling import chunk_end, gather_shards, run_sampling, shard_count
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


def test_chunks_restart_at_every_block_and_never_cross_one():
    assert chunk_end(0, 7) == 7 and chunk_end(7, 7) == 14 and chunk_end(3, 7, None) == 7
    # blocks of 17 (a prime) in batches of 7: 0-7, 7-14, 14-17 | 17-24, 24-31, 31-34 | ...
    ends = [chunk_end(i, 7, 17) for i in (0, 7, 14, 17, 24, 31, 34)]
    assert ends == [7, 14, 17, 24, 31, 34, 41]
    assert chunk_end(0, 669, 20) == 20 and chunk_end(10, 669, 20) == 20  # a batch larger than the block


@pytest.mark.parametrize("shard_points, batch_size", [(17, 7), (23, "auto")])
def test_any_shard_size_gathers_to_the_whole_grid_bit_for_bit(run, tmp_path, shard_points, batch_size):
    landscape = {**LANDSCAPE, "shard_points": shard_points, "batch_size": batch_size}
    run_sampling(run, run / "directions.npz", landscape, tmp_path / "whole.npz", "cpu", progress=False)
    shards = [tmp_path / f"shard{i}.npz" for i in range(shard_count(landscape))]
    for i, path in enumerate(shards):
        run_sampling(run, run / "directions.npz", landscape, path, "cpu", progress=False, shard=i)
    gather_shards(shards, tmp_path / "gathered.npz")
    np.testing.assert_array_equal(load_npz(tmp_path / "whole.npz")["loss"], load_npz(tmp_path / "gathered.npz")["loss"])


def test_a_prime_shard_size_costs_what_its_neighbour_costs(run, tmp_path, monkeypatch):
    """Field report 22.6: shard_points 10007 cut the batch to 1 (10007 vectorised calls, ~166x the time of
    10008). Now both shard sizes keep the batch and take ceil(points / batch) calls."""
    calls = []
    batched = sampling._Evaluator.batched
    monkeypatch.setattr(
        sampling._Evaluator, "batched", lambda self, coords: calls.append(len(coords)) or batched(self, coords)
    )
    used = {}
    for size in (10007, 10008):
        calls.clear()
        landscape = {"dim": 2, "resolution": 101, "span": 0.5, "shard_points": size}
        meta = run_sampling(
            run, run / "directions.npz", landscape, tmp_path / f"{size}.npz", "cpu", progress=False, shard=0
        )
        used[size] = (len(calls), meta["batch_size"])
        assert sum(calls) == size
    (calls_prime, batch_prime), (calls_even, batch_even) = used[10007], used[10008]
    assert batch_prime == batch_even > 1 and calls_prime <= calls_even == -(-10008 // batch_even)


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
