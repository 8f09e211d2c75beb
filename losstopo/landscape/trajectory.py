"""Trajectory directions (Li et al. 2018, "Visualizing the loss landscape of neural nets", section 7): the
principal components of the parameters along training, and the training path projected on them.

The rows are the parameter vectors at the saved epochs minus the final one (the landscape's centre); their
PCA (scikit-learn, exact SVD, about the rows' mean as in Li et al.'s code) gives the top-k principal axes.
Li et al. do not filter-normalise these directions, and neither do we: each axis is a unit vector scaled by
the path's extent along it (the largest |coordinate| of a state), so the path lies in [-1, 1]^k and a
landscape ``span`` of 1 frames it exactly. The path's coordinates are the projections of the states on the
unit axes divided by that extent. Signs are fixed so that the first state (the initial weights) has a
coordinate <= 0: training runs towards the final model at the origin along every positive axis.

In the workflow the train stage keeps the states (``checkpoints.pt``, key ``trajectory``) when the sweep asks
for ``landscape.directions: trajectory``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from losstopo.io import InputFileError
from losstopo.trained import load_saved

RELATIVE_VARIANCE_TOL = 1e-12  # a principal axis with less of the total variance is not a direction of the path


def pca_directions(states: np.ndarray, centre: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k PCA directions of ``states`` (T, P) about the final parameters ``centre`` (P,).

    Returns the directions (k, P) float64 (orthogonal; each the unit principal axis times the path's
    extent along it), the path (T, k): each state's coordinates in those directions, in [-1, 1], and the
    share of the variance each direction explains (k,) (scikit-learn's ``explained_variance_ratio_``).
    Raises ValueError when ``k`` is not between 1 and T - 1 (T states about their mean span at most T - 1
    dimensions), a state is not finite, or the states span fewer than k dimensions.
    """
    from sklearn.decomposition import PCA  # imported here: the other direction kinds never pay for it

    states = np.asarray(states, dtype=np.float64)
    centre = np.asarray(centre, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != centre.size:
        raise ValueError(f"trajectory: states have shape {states.shape}; expected (T, {centre.size})")
    if not 1 <= int(k) <= len(states) - 1:
        raise ValueError(
            f"trajectory: {len(states)} state(s) span at most {max(len(states) - 1, 0)} direction(s) "
            f"about their mean; {k} were asked for (keep more states along training, or lower dim)"
        )
    bad = ~np.isfinite(states).all(axis=1)
    if bad.any():
        raise ValueError(f"trajectory: state {int(np.argmax(bad))} has non-finite parameters")
    diffs = states - centre
    pca = PCA(n_components=int(k), svd_solver="full").fit(diffs)
    ratio = np.asarray(pca.explained_variance_ratio_, dtype=np.float64)
    if not (ratio > RELATIVE_VARIANCE_TOL).all():
        raise ValueError(
            f"trajectory: the states span only {int((ratio > RELATIVE_VARIANCE_TOL).sum())} dimension(s); "
            f"{k} directions were asked for"
        )
    axes = np.asarray(pca.components_, dtype=np.float64)
    coords = diffs @ axes.T
    sign = np.where(coords[0] > 0, -1.0, 1.0)
    extent = np.abs(coords).max(axis=0)
    return axes * (sign * extent)[:, None], coords * sign / extent + 0.0, ratio  # + 0.0: no -0.0


def load_trajectory(path: str | os.PathLike, last_epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The states kept along training in a run's ``checkpoints.pt``: (epochs (T,) int64, states (T, P) float64),
    only those up to ``last_epoch`` when given (a checkpoint's own trajectory); InputFileError naming the
    file when it holds none (the run was trained without ``--trajectory``)."""
    saved: dict[str, Any] = load_saved(path, ()).get("trajectory") or {}
    epochs = np.asarray(saved.get("epochs", []), dtype=np.int64)
    if epochs.size == 0:
        raise InputFileError(
            f"{path}: no trajectory kept; train the run with --trajectory (landscape.directions: trajectory)"
        )
    states = saved["parameters"].double().numpy()
    keep = epochs <= last_epoch if last_epoch is not None else np.ones(epochs.size, bool)
    return epochs[keep], states[keep]
