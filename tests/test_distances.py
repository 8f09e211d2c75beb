"""Bottleneck and Wasserstein distances between diagrams, and the sweep's distance table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from losstopo import cli
from losstopo.topology import compute_topology, write_topology
from losstopo.topology.distances import bottleneck, comparisons, diagram, distance_table, wasserstein

pytest.importorskip("gudhi.hera", reason="shape distances need gudhi")


def augmented_costs(a, b):
    """The standard (n + m) square cost matrix: points to points (L-inf), points to their own
    diagonal copy (half the persistence), diagonal to diagonal (0); np.inf where not allowed."""
    n, m = len(a), len(b)
    cost = np.full((n + m, m + n), np.inf)
    cost[:n, :m] = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)
    cost[np.arange(n), m + np.arange(n)] = (a[:, 1] - a[:, 0]) / 2
    cost[n + np.arange(m), np.arange(m)] = (b[:, 1] - b[:, 0]) / 2
    cost[n:, m:] = 0.0
    return cost


def reference_wasserstein(a, b):
    cost = augmented_costs(a, b)
    if cost.size == 0:
        return 0.0
    rows, cols = linear_sum_assignment(np.where(np.isinf(cost), 1e18, cost))
    return float(cost[rows, cols].sum())


def reference_bottleneck(a, b):
    """Smallest c with a perfect matching among the pairs of cost <= c (bipartite matching)."""
    cost = augmented_costs(a, b)
    if cost.size == 0:
        return 0.0
    for c in np.unique(cost[np.isfinite(cost)]):
        match = maximum_bipartite_matching(csr_matrix(cost <= c), perm_type="column")
        if (match >= 0).all():
            return float(c)
    raise AssertionError("no perfect matching")


def random_diagram(rng, n, ties=False):
    birth = rng.integers(0, 5, n) / 2 if ties else rng.random(n) * 3
    return np.stack([birth, birth + (rng.integers(0, 4, n) / 2 if ties else rng.random(n) * 2)], axis=1)


def test_hand_computed_distances():
    a, b = np.array([[0.0, 1.0], [0.5, 2.0]]), np.array([[0.0, 1.2]])
    assert bottleneck(a, b) == pytest.approx(0.75)  # (0.5, 2) goes to the diagonal
    assert wasserstein(a, b) == pytest.approx(0.2 + 0.75)
    empty = np.zeros((0, 2))
    assert bottleneck(a, empty) == pytest.approx(0.75) and wasserstein(a, empty) == pytest.approx(1.25)
    assert bottleneck(empty, empty) == 0 and wasserstein(empty, empty) == 0


@pytest.mark.parametrize("ties", [False, True])
def test_distances_equal_assignment_references(ties):
    rng = np.random.default_rng(int(ties))
    for _ in range(15):
        a = random_diagram(rng, int(rng.integers(0, 9)), ties)
        b = random_diagram(rng, int(rng.integers(0, 9)), ties)
        assert bottleneck(a, b) == pytest.approx(reference_bottleneck(a, b), abs=1e-12)
        assert wasserstein(a, b) == pytest.approx(reference_wasserstein(a, b), rel=1e-5, abs=1e-12)


def test_essential_classes():
    birth, death = np.array([0.0, 1.0, 2.0]), np.array([np.inf, 3.0, 2.5])
    assert diagram(birth, death).tolist() == [[1.0, 3.0], [2.0, 2.5]]
    assert diagram(birth, death, "max", loss_max=9.0).tolist() == [[0.0, 9.0], [1.0, 3.0], [2.0, 2.5]]
    with pytest.raises(ValueError, match="maximum"):
        diagram(birth, death, "max")
    with pytest.raises(ValueError, match="essential"):
        diagram(birth, death, "keep")


def test_comparisons_pair_seeds_and_neighbours():
    rows = [{"seed": s, "a": a, "b": b} for a in (1, 2, 10) for b in ("x", "y") for s in (0, 1, 2)
            if not (a == 10 and b == "y" and s == 2)]
    frame = pd.DataFrame(rows)
    pairs = comparisons(frame, ["a", "b"])
    got = {(p["kind"], p["hyperparameter"], p["values"], p["other_values"],
            int(frame.loc[p["a"], "seed"]), int(frame.loc[p["b"], "seed"])) for p in pairs}
    seeds = {("seed", "", (a, b), (a, b), s, t) for a in (1, 2, 10) for b in ("x", "y")
             for s, t in ((0, 1), (0, 2), (1, 2)) if not (a == 10 and b == "y" and 2 in (s, t))}
    along_a = {("neighbour", "a", (a, b), (a2, b), s, s) for a, a2 in ((1, 2), (2, 10)) for b in ("x", "y")
               for s in (0, 1, 2) if not (a2 == 10 and b == "y" and s == 2)}
    along_b = {("neighbour", "b", (a, "x"), (a, "y"), s, s) for a in (1, 2, 10) for s in (0, 1, 2)
               if not (a == 10 and s == 2)}
    assert got == seeds | along_a | along_b and len(pairs) == len(got)


def make_runs(tmp_path):
    """Three runs of one family: beta 1 (seeds 0, 1) and beta 30 (seed 0); one more without finite samples."""
    fields = {("1", 0): [0, 3, 1, 2, 5.0], ("1", 1): [0, 3, 2, 2.5, 5.0], ("30", 0): [1, 9, 2, 6, 4, 11.0],
              ("30", 1): [np.nan] * 4}
    rows = []
    for (beta, seed), f in fields.items():
        run_dir = tmp_path / f"beta~{beta}" / f"seed~{seed}"
        summary = write_topology(compute_topology(np.array(f)), run_dir / "topology")
        rows.append({"family": "pinn", "run_id": f"pinn/beta~{beta}/seed~{seed}", "seed": seed, "beta": int(beta),
                     "run_dir": str(run_dir), "loss_min": summary["loss_min"], "loss_max": summary["loss_max"],
                     "n_vertices": summary["n_vertices"]})
    return pd.DataFrame(rows)


def test_distance_table(tmp_path):
    runs = make_runs(tmp_path)
    table = distance_table(runs)
    assert table[["kind", "setting", "other_setting", "seed_a", "seed_b"]].values.tolist() == [
        ["seed", "beta=1", "beta=1", 0, 1], ["neighbour", "beta=1", "beta=30", 0, 0]]
    seed_row, nb_row = table.iloc[0], table.iloc[1]
    # beta=1: pairs (1, 3) vs (2, 3): matched at L-inf distance 1 (both to the diagonal: 1 and 0.5)
    assert seed_row["bottleneck"] == pytest.approx(1.0) and seed_row["wasserstein"] == pytest.approx(1.0)
    assert seed_row["bottleneck_rel"] == pytest.approx(1.0 / 5)  # both landscapes span 0..5
    a, b = np.array([[1.0, 3.0]]), np.array([[2.0, 9.0], [4.0, 6.0]])  # beta=30: persistence 7 and 2
    assert nb_row["bottleneck"] == pytest.approx(reference_bottleneck(a, b))
    assert nb_row["wasserstein_rel"] == pytest.approx(reference_wasserstein(a / 5, (b - 1) / 10), rel=1e-5)
    assert (nb_row["n_points_a"], nb_row["n_points_b"], nb_row["beta"]) == (1, 2, 1)
    closed = distance_table(runs, essential="max")
    assert closed.loc[0, "n_points_a"] == 2 and closed.loc[0, "bottleneck_rel"] == pytest.approx(1.0 / 5)


def test_cli_distances(tmp_path, capsys):
    runs = make_runs(tmp_path)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    out = tmp_path / "tables" / "distances.csv"
    assert cli.main(["distances", "--runs", str(tmp_path / "runs.csv"), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 and set(table["essential"]) == {"drop"}
    assert "mean relative W1 between seeds" in capsys.readouterr().out
    assert cli.main(["distances", "--runs", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    assert "missing.csv: file not found" in capsys.readouterr().err
