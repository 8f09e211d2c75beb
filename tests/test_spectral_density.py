"""Hessian spectral density drawing: mass only where eigenvalues are; no negative mass for a positive spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from losstopo.curvature.hessian import DensityResult
from losstopo.curvature.spectral_density import MAX_WIDTH, signed_log_density


def _positive_spectrum():
    """An SLQ-like measure: most weight on small positive Ritz values, a few sharp directions up to 1e4."""
    rng = np.random.default_rng(0)
    nodes = np.concatenate([10 ** rng.uniform(-2, 0, 60), [50.0, 1e4]])
    weights = np.concatenate([np.full(60, 0.9 / 60), [0.07, 0.03]])
    return nodes, weights


def test_an_all_positive_spectrum_shows_no_negative_mass():
    nodes, weights = _positive_spectrum()
    signed = signed_log_density(nodes, weights)
    assert signed.negative is None and signed.mass_negative == 0.0
    x, density = signed.positive
    assert (x > 0).all() and (density >= 0).all()
    # a single Gaussian of 1% of the range, as the density.npz curve has, puts much of the mass below zero
    sigma = 0.01 * np.ptp(nodes)
    grid = np.linspace(nodes.min() - 5 * sigma, nodes.max() + 5 * sigma, 20001)
    smeared = (weights * np.exp(-0.5 * ((grid[:, None] - nodes) / sigma) ** 2)).sum(1)
    assert smeared[grid < 0].sum() / smeared.sum() > 0.3


def test_mass_sits_where_the_nodes_are_and_integrates_to_their_weight():
    nodes, weights = _positive_spectrum()
    signed = signed_log_density(nodes, weights)
    x, density = signed.positive
    u = np.log10(x)
    assert np.trapezoid(density, u) == pytest.approx(signed.mass_positive, rel=1e-3)
    far = np.min(np.abs(u[:, None] - np.log10(nodes)[None, :]), axis=1) > 4 * MAX_WIDTH  # 4 kernel widths
    assert far[(u > 2) & (u < 3.5)].any()  # the empty decades between 50 and 1e4 are drawn ...
    assert density[far].max() < 1e-3 * density.max()  # ... and hold (almost) nothing


def test_negative_mass_equals_the_hessian_summary_and_near_zero_nodes_are_counted_apart():
    nodes = np.array([-30.0, -1.5, 1e-4, 0.5, 2.0, 1e4])
    weights = np.array([0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
    signed = signed_log_density(nodes, weights)
    summary = DensityResult(
        grid=np.zeros(2),
        density=np.zeros(2),
        nodes=nodes,
        weights=weights,
        probe=np.zeros(6, int),
        steps=np.array([6]),
        sigma=1.0,
        n_params=10,
        n_hvp=6,
    ).summary()
    # threshold 1e-3 * 1e4 = 10: -1.5, 1e-4 and 0.5 and 2.0 are near zero, only -30 is significant
    assert signed.mass_negative == pytest.approx(summary["negative_mass_significant"]) == pytest.approx(0.1)
    assert signed.near_zero == pytest.approx(0.2 + 0.3 + 0.2 + 0.1)
    assert signed.mass_positive == pytest.approx(0.1)
    assert np.trapezoid(signed.negative[1], np.log10(signed.negative[0])) == pytest.approx(0.1, rel=1e-3)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="shapes"):
        signed_log_density([1.0, 2.0], [1.0])
