"""Invariance of topology metrics under orientation, stencil and resolution, on fields with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from losstopo.summary import invariance


def _two_dips() -> np.ndarray:
    """A 4 x 4 bowl (no minimum of its own) with dips 0 at (1, 1) and 1 at (2, 2), diagonal neighbours.

    By hand: the axis and Freudenthal stencils (Freudenthal's diagonal is (1, -1)) keep the dips apart,
    2 minima; the full stencil joins them, 1. Reflecting one axis puts the dips on the Freudenthal
    diagonal, 1 minimum; transposing does not. Every 2nd sample keeps (2, 2) only: 1 minimum.
    """
    i, j = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    field = 10 + (i - 1.5) ** 2 + (j - 1.5) ** 2
    field[1, 1], field[2, 2] = 0.0, 1.0
    return field


def test_orientations_are_the_symmetries_of_the_grid():
    assert len(invariance.orientations(1)) == 2 and len(invariance.orientations(3, full=True)) == 48
    assert invariance.orientations(2)[0] == invariance.orientations(2, full=True)[0] == ((0, 1), ())  # identity
    assert len(set(invariance.orientations(3, full=True))) == 48
    assert len(invariance.orientations(3)) == 6 + 3 and len(invariance.orientations(4)) == 24 + 4


def test_known_spreads_of_a_two_dip_field():
    measured = invariance.measure(_two_dips(), "freudenthal", 0.0)
    minima = measured.groupby("factor")["n_minima"].agg(["min", "max"])
    assert minima.loc["orientation"].tolist() == [1, 2]
    assert minima.loc["stencil"].tolist() == [1, 2]
    assert minima.loc["resolution"].tolist() == [1, 2]
    stencil = measured[measured["factor"] == "stencil"].set_index("variant")["n_minima"]
    assert stencil.to_dict() == {"axis": 2, "freudenthal": 2, "full": 1}
    spread = invariance.spreads(measured).set_index(["metric", "factor"])
    assert spread.loc[("n_minima", "orientation"), "reference"] == 2
    assert spread.loc[("n_minima", "orientation"), "rel_spread"] == pytest.approx(0.5)
    assert spread.loc[("n_minima", "stencil"), "rel_spread"] == pytest.approx(0.5)


def test_a_bowl_holds_still_and_a_tie_broken_field_does_not():
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, 9)] * 3, indexing="ij")
    bowl = invariance.spreads(invariance.measure(1 + i**2 + 2 * j**2 + 3 * k**2, "freudenthal", 0.0))
    assert (bowl.loc[bowl["metric"] == "n_minima", "rel_spread"] == 0).all()
    rows = [
        bowl.assign(family="f", run_id="bowl"),
        invariance.spreads(invariance.measure(_two_dips(), "freudenthal", 0.0)).assign(family="f", run_id="dips"),
    ]
    summary = invariance.summarize_spreads(pd.concat(rows, ignore_index=True)).set_index("metric")
    # n_minima moves by 0 and 0.5: one of two landscapes moves (median 0.25), more than the share of 0.1
    assert summary.loc["n_minima", "median_orientation"] == pytest.approx(0.25)
    assert not summary.loc["n_minima", "holds_still"]
    assert summary.loc["n_minima", "n_landscapes"] == 2 and summary.loc["n_minima", "share_moving"] == 0.5


def _spread_rows(spreads: list[float], metric: str = "n_minima") -> pd.DataFrame:
    """invariance.csv rows: one landscape per spread, the same spread under orientation and stencil."""
    return pd.DataFrame(
        [
            {"family": "f", "run_id": f"r{i}", "metric": metric, "factor": factor, "rel_spread": spread}
            for i, spread in enumerate(spreads)
            for factor in invariance.FACTORS
        ]
    )


def test_the_gate_is_the_share_of_landscapes_that_move_not_the_median():
    """A median spread of 0 with 4 of 10 landscapes moving (as the default PINN sweep's minimum count did) does
    not hold still; 1 of 10 does, at the default share of 0.1; undefined landscapes do not count."""
    four = invariance.summarize_spreads(_spread_rows([0.0] * 6 + [0.5] * 4)).iloc[0]
    assert four["median_orientation"] == 0 and (four["n_moving"], four["share_moving"]) == (4, 0.4)
    assert not four["holds_still"] and (four["tolerance"], four["max_share"]) == (0.1, 0.1)
    one = invariance.summarize_spreads(_spread_rows([0.0] * 9 + [np.inf, np.nan])).iloc[0]
    assert (one["n_landscapes"], one["n_moving"], one["share_moving"], one["holds_still"]) == (11, 1, 0.1, True)
    strict = invariance.summarize_spreads(_spread_rows([0.0] * 9 + [0.2]), max_share=0.05).iloc[0]
    assert not strict["holds_still"]
    loose = invariance.summarize_spreads(_spread_rows([0.0] * 9 + [0.2]), tolerance=0.3).iloc[0]
    assert loose["n_moving"] == 0 and loose["holds_still"]
    undefined = invariance.summarize_spreads(_spread_rows([np.nan, np.nan])).iloc[0]
    assert np.isnan(undefined["share_moving"]) and not undefined["holds_still"]
