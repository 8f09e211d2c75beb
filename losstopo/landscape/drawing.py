"""One sampled landscape drawn on a matplotlib axes: the loss heatmaps of ``losstopo figures`` and
``Landscape.plot`` share it.

A grid shows its central 2-D slice as log10 loss (a curve for k = 1); scattered samples show their points
projected on the first two directions, coloured by log10 loss. The training path of trajectory directions
(``metadata["directions"]["training_path"]``, Li et al. 2018) is drawn on top of 2-D views, projected on the
first two directions, from its first state (square) to the final model (the centre).
"""

from __future__ import annotations

import numpy as np


def central_slice(loss: np.ndarray) -> np.ndarray:
    """A 2-D view of a k-D landscape: the plane of the first two axes through the centre."""
    while loss.ndim > 2:
        loss = loss[..., loss.shape[-1] // 2]
    return loss


def direction_label(metadata: dict, i: int) -> str:
    """The axis label of direction ``i`` (0-based) of a landscape, from its ``landscape.npz`` metadata:
    ``Hessian eigenvector 1 (λ = 12.3)``, ``random direction 1 (filter-normalised)`` or
    ``PCA direction 1 (87% of variance)``."""
    directions = metadata.get("directions", {}) if isinstance(metadata, dict) else {}
    kind = directions.get("kind")
    eigenvalues = directions.get("eigenvalues") or []
    if kind == "hessian":
        value = f" (λ = {eigenvalues[i]:.3g})" if i < len(eigenvalues) and np.isfinite(eigenvalues[i]) else ""
        return f"Hessian eigenvector {i + 1}{value}"
    if kind == "random":
        return f"random direction {i + 1} (filter-normalised)"
    if kind == "trajectory":
        ratio = directions.get("explained_variance_ratio") or []
        share = f" ({100 * ratio[i]:.0f}% of variance)" if i < len(ratio) and np.isfinite(ratio[i]) else ""
        return f"PCA direction {i + 1}{share}"
    return f"{kind} direction {i + 1}" if kind else f"direction {i + 1}"


def training_path(metadata: dict) -> np.ndarray | None:
    """The projected training path (T, k) of trajectory directions, or None."""
    directions = metadata.get("directions", {}) if isinstance(metadata, dict) else {}
    path = np.asarray(directions.get("training_path") or [], dtype=np.float64)
    return path if path.ndim == 2 and len(path) else None


def draw_landscape(
    ax,
    loss: np.ndarray,
    axes: np.ndarray | None = None,
    points: np.ndarray | None = None,
    metadata: dict | None = None,
    fontsize: float = 7,
) -> None:
    """Draw one landscape on ``ax`` (a grid ``loss`` (r,)*k on ``axes`` (k, r), or scattered samples ``loss``
    (N,) at ``points`` (N, k)), with a log10-loss colour bar and the training path when the metadata holds one."""
    metadata = metadata or {}
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.log10(central_slice(loss) if points is None else loss)
    image = None
    if points is not None:
        second = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))
        image = ax.scatter(points[:, 0], second, c=shown, s=6, cmap="viridis")
    elif shown.ndim == 1:
        ax.plot(axes[0], shown)
        ax.set_ylabel("log10 loss", fontsize=fontsize)
    else:
        extent = (axes[0][0], axes[0][-1], axes[1][0], axes[1][-1])
        image = ax.imshow(shown.T, origin="lower", cmap="viridis", aspect="equal", extent=extent)
    ax.set_xlabel(direction_label(metadata, 0), fontsize=fontsize)
    if image is not None:
        ax.figure.colorbar(image, ax=ax, shrink=0.8, label="log10 loss")
        ax.set_ylabel(direction_label(metadata, 1), fontsize=fontsize)
        path = training_path(metadata)
        if path is not None and path.shape[1] >= 2:
            style = {"color": "white", "markeredgecolor": "black", "markeredgewidth": 0.5}
            ax.plot(path[:, 0], path[:, 1], "-o", ms=3, lw=1, label="training path (projected)", **style)
            ax.plot(path[0, 0], path[0, 1], "s", ms=5, label="start of training", **style)
            ax.legend(loc="best", fontsize=fontsize - 1, framealpha=0.6)
