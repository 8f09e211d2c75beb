"""Bottleneck and Wasserstein distances between diagrams, and the sweep's distance table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from losstopo import cli
from losstopo.summary.distances import comparisons, distance_table
from losstopo.topology import compute_topology, write_topology
from losstopo.topology.distances import bottleneck, diagram, wasserstein


def brute_force(a, b, order=1.0, p=np.inf):
    """(Wasserstein of ``order``, bottleneck) by enumerating every partial matching of a to b (the definition):
    matched pairs cost their L-p distance, every other point its L-p distance to the nearest diagonal point
    ((x + y) / 2, (x + y) / 2). Small diagrams only."""
    a, b = np.reshape(a, (-1, 2)), np.reshape(b, (-1, 2))

    def to_diagonal(x):
        return np.linalg.norm(x - x.mean(), ord=p)

    best_w, best_b = np.inf, np.inf

    def extend(i, used, costs):
        nonlocal best_w, best_b
        if i == len(a):
            costs = costs + [to_diagonal(b[j]) for j in range(len(b)) if j not in used]
            costs = np.array(costs)
            best_w = min(best_w, (costs**order).sum() ** (1 / order))
            best_b = min(best_b, costs.max(initial=0.0))
            return
        extend(i + 1, used, costs + [to_diagonal(a[i])])
        for j in range(len(b)):
            if j not in used:
                extend(i + 1, used | {j}, costs + [np.linalg.norm(a[i] - b[j], ord=p)])

    extend(0, frozenset(), [])
    return best_w, best_b


def random_diagram(rng, n, ties=False):
    """n points; with ties: half-integer coordinates (duplicates, zero persistence, death < birth occur)."""
    if ties:
        return rng.integers(0, 5, (n, 2)) / 2
    birth = rng.random(n) * 3
    return np.stack([birth, birth + rng.random(n) * 2], axis=1)


def test_issue_example_point_on_the_diagonal():
    """gudhi-devel#477: Hera looped forever on a zero-persistence point; these are the right values."""
    a, b = np.array([[1.0, 1.0]]), np.array([[1.0, 2.0], [0.5, 3.0]])
    assert bottleneck(a, b) == pytest.approx(1.25) and wasserstein(a, b) == pytest.approx(1.75)
    assert brute_force(a, b) == pytest.approx((1.75, 1.25))
    assert wasserstein(np.repeat(a, 50, axis=0), a) == 0 and bottleneck(np.repeat(a, 50, axis=0), []) == 0


def test_hand_computed_distances():
    a, b = np.array([[0.0, 1.0], [0.5, 2.0]]), np.array([[0.0, 1.2]])
    assert bottleneck(a, b) == pytest.approx(0.75)  # (0.5, 2) goes to the diagonal
    assert wasserstein(a, b) == pytest.approx(0.2 + 0.75)
    empty = np.zeros((0, 2))
    assert bottleneck(a, empty) == pytest.approx(0.75) and wasserstein(a, empty) == pytest.approx(1.25)
    assert bottleneck(empty, empty) == 0 and wasserstein(empty, []) == 0
    # duplicates: 200 copies against 100 copies of (0, 1): 100 go to the diagonal at 0.5 each
    assert wasserstein(np.tile([0.0, 1.0], (200, 1)), np.tile([0.0, 1.0], (100, 1))) == pytest.approx(50)
    assert bottleneck(np.tile([0.0, 1.0], (200, 1)), np.tile([0.0, 1.0], (100, 1))) == 0.5
    # a point below the diagonal is |death - birth| / 2 away from it in L-inf, 1/sqrt(2) * |d - b| in L2
    assert wasserstein([[2.0, 1.0]], empty) == 0.5 and wasserstein([[2.0, 1.0]], empty, internal_p=2) == pytest.approx(
        2**-0.5
    )


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("order, p", [(1.0, np.inf), (2.0, 2.0), (3.5, 1.0), (1.0, 2.0)])
def test_distances_equal_brute_force_matching(ties, order, p):
    rng = np.random.default_rng(int(ties) + 10 * int(order))
    for _ in range(12):
        a = random_diagram(rng, int(rng.integers(0, 5)), ties)
        b = random_diagram(rng, int(rng.integers(0, 5)), ties)
        want_w, want_b = brute_force(a, b, order, p)
        assert wasserstein(a, b, order, p) == pytest.approx(want_w, rel=1e-12, abs=1e-15)
        assert bottleneck(a, b, p) == pytest.approx(want_b, rel=1e-12, abs=1e-15)
        assert wasserstein(a, b, np.inf, p) == bottleneck(a, b, p)


@pytest.mark.parametrize("scale", [1e-310, 1e-200, 1e200, 2.0**1020])
def test_extreme_magnitudes(scale):
    """Distances are homogeneous of degree 1: scaled diagrams give the scaled distance, no overflow or underflow."""
    rng = np.random.default_rng(3)
    a, b = random_diagram(rng, 4), random_diagram(rng, 3)
    assert wasserstein(a * scale, b * scale) == pytest.approx(wasserstein(a, b) * scale, rel=1e-9)
    assert bottleneck(a * scale, b * scale) == pytest.approx(bottleneck(a, b) * scale, rel=1e-9)
    assert bottleneck([[-1e308, 1e308]], []) == 1e308 and wasserstein([[-1e308, 1e308]], [[0.0, 0.0]]) == 1e308


def test_essential_points_and_bad_input():
    a = np.array([[0.0, np.inf], [1.0, 3.0]])
    b = np.array([[0.5, np.inf], [1.0, 3.25]])
    assert bottleneck(a, b) == 0.5 and wasserstein(a, b) == pytest.approx(0.5 + 0.25)
    assert bottleneck(a, b[1:]) == np.inf and wasserstein(a[1:], b) == np.inf
    for bad, match in (
        ([[np.nan, 1.0]], "NaN"),
        ([[np.inf, np.inf]], "births must be finite"),
        ([[0.0, -np.inf]], "deaths"),
        (np.zeros((2, 3)), "shape"),
    ):
        with pytest.raises(ValueError, match=match):
            wasserstein(bad, a)
        with pytest.raises(ValueError, match=match):
            bottleneck(a, bad)
    with pytest.raises(ValueError, match="order"):
        wasserstein(a, b, order=0.5)
    with pytest.raises(ValueError, match="internal_p"):
        bottleneck(a, b, internal_p=0.5)


def test_medium_diagrams_match_gudhi():
    gudhi = pytest.importorskip("gudhi")
    rng = np.random.default_rng(7)
    a, b = random_diagram(rng, 300), random_diagram(rng, 250)
    assert bottleneck(a, b) == pytest.approx(gudhi.bottleneck_distance(a, b, e=0), rel=1e-14)


def test_essential_classes():
    birth, death = np.array([0.0, 1.0, 2.0]), np.array([np.inf, 3.0, 2.5])
    assert diagram(birth, death).tolist() == [[1.0, 3.0], [2.0, 2.5]]
    assert diagram(birth, death, "max", loss_max=9.0).tolist() == [[0.0, 9.0], [1.0, 3.0], [2.0, 2.5]]
    with pytest.raises(ValueError, match="maximum"):
        diagram(birth, death, "max")
    with pytest.raises(ValueError, match="essential"):
        diagram(birth, death, "keep")


def test_comparisons_pair_seeds_and_neighbours():
    rows = [
        {"seed": s, "a": a, "b": b}
        for a in (1, 2, 10)
        for b in ("x", "y")
        for s in (0, 1, 2)
        if not (a == 10 and b == "y" and s == 2)
    ]
    frame = pd.DataFrame(rows)
    pairs = comparisons(frame, ["a", "b"])
    got = {
        (
            p["kind"],
            p["hyperparameter"],
            p["values"],
            p["other_values"],
            int(frame.loc[p["a"], "seed"]),
            int(frame.loc[p["b"], "seed"]),
        )
        for p in pairs
    }
    seeds = {
        ("seed", "", (a, b), (a, b), s, t)
        for a in (1, 2, 10)
        for b in ("x", "y")
        for s, t in ((0, 1), (0, 2), (1, 2))
        if not (a == 10 and b == "y" and 2 in (s, t))
    }
    along_a = {
        ("neighbour", "a", (a, b), (a2, b), s, s)
        for a, a2 in ((1, 2), (2, 10))
        for b in ("x", "y")
        for s in (0, 1, 2)
        if not (a2 == 10 and b == "y" and s == 2)
    }
    along_b = {
        ("neighbour", "b", (a, "x"), (a, "y"), s, s) for a in (1, 2, 10) for s in (0, 1, 2) if not (a == 10 and s == 2)
    }
    assert got == seeds | along_a | along_b and len(pairs) == len(got)


def make_runs(tmp_path):
    """Three runs of one family: beta 1 (seeds 0, 1) and beta 30 (seed 0); one more without finite samples."""
    fields = {
        ("1", 0): [0, 3, 1, 2, 5.0],
        ("1", 1): [0, 3, 2, 2.5, 5.0],
        ("30", 0): [1, 9, 2, 6, 4, 11.0],
        ("30", 1): [np.nan] * 4,
    }
    rows = []
    for (beta, seed), f in fields.items():
        run_dir = tmp_path / f"beta~{beta}" / f"seed~{seed}"
        summary = write_topology(compute_topology(np.array(f)), run_dir / "topology")
        rows.append(
            {
                "family": "pinn",
                "run_id": f"pinn/beta~{beta}/seed~{seed}",
                "seed": seed,
                "beta": int(beta),
                "run_dir": str(run_dir),
                "loss_min": summary["loss_min"],
                "loss_max": summary["loss_max"],
                "n_vertices": summary["n_vertices"],
            }
        )
    return pd.DataFrame(rows)


def test_distance_table(tmp_path):
    runs = make_runs(tmp_path)
    table = distance_table(runs)
    assert table[["kind", "setting", "other_setting", "seed_a", "seed_b"]].values.tolist() == [
        ["seed", "beta=1", "beta=1", 0, 1],
        ["neighbour", "beta=1", "beta=30", 0, 0],
    ]
    seed_row, nb_row = table.iloc[0], table.iloc[1]
    # beta=1: pairs (1, 3) vs (2, 3): matched at L-inf distance 1 (both to the diagonal: 1 and 0.5)
    assert seed_row["bottleneck"] == pytest.approx(1.0) and seed_row["wasserstein"] == pytest.approx(1.0)
    assert seed_row["bottleneck_rel"] == pytest.approx(1.0 / 5)  # both landscapes span 0..5
    a, b = np.array([[1.0, 3.0]]), np.array([[2.0, 9.0], [4.0, 6.0]])  # beta=30: persistence 7 and 2
    assert nb_row["bottleneck"] == pytest.approx(brute_force(a, b)[1])
    assert nb_row["wasserstein_rel"] == pytest.approx(brute_force(a / 5, (b - 1) / 10)[0])
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
    persistence = runs.loc[0, "run_dir"] + "/topology/persistence.csv"
    pairs = pd.read_csv(persistence)  # every column and row kept (topology.json counts them), one birth lost
    pairs.loc[pairs.index[-1], "birth"] = np.nan
    pairs.to_csv(persistence, index=False)
    assert cli.main(["distances", "--runs", str(tmp_path / "runs.csv"), "--out", str(out)]) == 2
    assert f"diagram {persistence}: point [nan, " in capsys.readouterr().err
