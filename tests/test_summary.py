"""Scale-free persistence in topology.json: relative to the loss range and of log10 loss."""

from __future__ import annotations

import numpy as np
import pytest

from losstopo.topology import compute_topology, summarize


def _field():
    rng = np.random.default_rng(3)
    return np.exp(rng.normal(0, 1, (12, 11)))  # positive, several minima


def test_scale_free_persistence_ignores_the_loss_scale_and_matches_the_pairs():
    field = _field()
    plain = summarize(compute_topology(field), threshold=0.05)
    scaled = summarize(compute_topology(1000 * field), threshold=0.05)
    for stat in ("total", "avg", "max"):
        for suffix in ("", "_simplified"):
            raw = f"{stat}_persistence{suffix}"
            assert scaled[raw] == pytest.approx(1000 * plain[raw])
            for free in ("_rel", "_log"):
                assert scaled[raw + free] == pytest.approx(plain[raw + free])  # scale-free
    topo = compute_topology(field)
    finite = ~topo.pairs.essential
    birth, death = topo.pairs.birth[finite], topo.pairs.death[finite]
    assert plain["total_persistence_log"] == pytest.approx(np.sum(np.log10(death / birth)))
    assert plain["max_persistence_rel"] == pytest.approx((death - birth).max() / np.ptp(field))
    # log loss has the same merge tree: its persistence equals the raw persistence of log10(field)
    logged = summarize(compute_topology(np.log10(field)))
    assert logged["avg_persistence"] == pytest.approx(plain["avg_persistence_log"])


def test_log_persistence_is_undefined_for_a_loss_that_is_not_positive():
    out = summarize(compute_topology(_field() - 1.0))
    assert out["avg_persistence_log"] is None and out["avg_persistence_rel"] is not None
    flat = summarize(compute_topology(np.ones((4, 4))))
    assert flat["avg_persistence_rel"] is None and flat["n_pairs"] == 0
