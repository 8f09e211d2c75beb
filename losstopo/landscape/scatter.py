"""Scattered sample points in the landscape's k-dimensional subspace (instead of a grid).

A grid needs r^k samples; at k = 4 and beyond, scattered samples with a k-NN graph (paper 1) reach
the same density of the interesting region with far fewer. Points lie in [-span, span]^k, uniformly
at random or as a scrambled Sobol sequence (``scipy.stats.qmc``, low discrepancy). Sample 0 is always
the origin, the trained model itself, so ``loss_center`` is measured exactly; ``landscape.n_samples``
more follow.
"""

from __future__ import annotations

import math

import numpy as np

SAMPLINGS = ("grid", "random", "sobol")
SCATTERED = SAMPLINGS[1:]


def scatter_points(n: int, dim: int, span: float, method: str = "sobol", seed=0) -> np.ndarray:
    """(n + 1, dim) points: the origin, then n points in [-span, span]^dim by ``method``.

    ``seed`` is anything ``numpy.random.default_rng`` accepts (e.g. ``[landscape_seed, run_seed]``).
    ``sobol`` takes the first n points of a scrambled Sobol sequence; its balance properties are
    exact when n is a power of two.
    """
    if method not in SCATTERED:
        raise ValueError(f"landscape.sampling must be one of {', '.join(SAMPLINGS)} here, got {method!r}")
    if int(n) < 1:
        raise ValueError(f"landscape.n_samples must be at least 1, got {n}")
    if int(dim) < 1:
        raise ValueError(f"landscape.dim must be at least 1, got {dim}")
    if not (span > 0 and math.isfinite(span)):
        raise ValueError(f"landscape.span must be a positive number, got {span}")
    n, dim = int(n), int(dim)
    rng = np.random.default_rng(seed)
    if method == "random":
        unit = rng.random((n, dim))
    else:
        from scipy.stats import qmc

        sobol = qmc.Sobol(d=dim, scramble=True, seed=rng)
        unit = sobol.random_base2(math.ceil(math.log2(n)))[:n]
    return np.concatenate([np.zeros((1, dim)), span * (2 * unit - 1)])
