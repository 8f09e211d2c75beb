"""Drawing a Hessian eigenvalue spectral density so that mass appears only where eigenvalues are.

Stochastic Lanczos quadrature gives a discrete measure: Ritz values (nodes) with weights summing to 1.
Broadening it with one Gaussian width for the whole range (``losstopo.curvature.hessian.slq_density``: 1% of the
span) smears the mass of the many near-zero nodes across zero, so a curve can show negative curvature
that no node has. Here instead, as PyHessian users plot spectra, the density is drawn over log10 |lambda|,
positive and negative eigenvalues apart, each node broadened by a width tied to its distance to the
nearest node of the same sign (half of it, between ``MIN_WIDTH`` and ``MAX_WIDTH`` decades). Nodes with
|lambda| at most ``zero_tol_rel`` times the largest |lambda| (the threshold of ``hessian_negative_mass``)
are "near zero": a log axis cannot show them, and their mass is reported as a number. So the negative
panel holds exactly the mass ``hessian_negative_mass`` counts, and an all-positive spectrum has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ZERO_TOL_REL = 1e-3  # as losstopo.curvature.hessian.DensityResult.summary
MIN_WIDTH, MAX_WIDTH = 0.05, 0.25  # kernel widths, decades of |lambda|
N_GRID = 400


@dataclass
class SignedDensity:
    """Density per decade of |lambda| for each sign: ``x`` (|lambda| values, log-spaced) and ``density``
    (integrating over log10 |lambda| to that sign's weight), None for a sign without nodes beyond the
    threshold; ``mass`` of each sign and ``near_zero`` mass; ``threshold`` in eigenvalue units."""

    positive: tuple[np.ndarray, np.ndarray] | None
    negative: tuple[np.ndarray, np.ndarray] | None
    mass_positive: float
    mass_negative: float
    near_zero: float
    threshold: float


def _one_sign(magnitudes: np.ndarray, weights: np.ndarray, n_grid: int) -> tuple[np.ndarray, np.ndarray] | None:
    if magnitudes.size == 0:
        return None
    u = np.log10(magnitudes)
    order = np.sort(u)
    if u.size > 1:
        gaps = np.abs(u[:, None] - order[None, :])
        gaps[gaps == 0] = np.inf  # a node's own position (and exact repeats) is no neighbour
        nearest = gaps.min(axis=1)
        width = np.clip(0.5 * nearest, MIN_WIDTH, MAX_WIDTH)
    else:
        width = np.full(1, MAX_WIDTH)
    grid = np.linspace(u.min() - 4 * width.max(), u.max() + 4 * width.max(), n_grid)
    z = (grid[:, None] - u[None, :]) / width[None, :]
    density = (weights[None, :] * np.exp(-0.5 * z**2) / (np.sqrt(2 * np.pi) * width[None, :])).sum(axis=1)
    return 10.0**grid, density


def signed_log_density(nodes, weights, zero_tol_rel: float = ZERO_TOL_REL, n_grid: int = N_GRID) -> SignedDensity:
    """The quadrature measure (``nodes``, ``weights``: 1-D arrays of equal length, weights >= 0) as
    densities over log10 |lambda| per sign. Raises ValueError on mismatched or empty input."""
    nodes = np.asarray(nodes, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if nodes.ndim != 1 or nodes.shape != weights.shape or nodes.size == 0:
        raise ValueError(
            f"nodes and weights must be non-empty 1-D arrays of one length, got shapes {nodes.shape} "
            f"and {weights.shape}"
        )
    if (weights < 0).any() or not np.isfinite(nodes).all():
        raise ValueError("weights must be >= 0 and nodes finite")
    weights = weights / weights.sum()
    threshold = zero_tol_rel * float(np.abs(nodes).max())
    pos, neg = nodes > threshold, nodes < -threshold
    return SignedDensity(
        positive=_one_sign(nodes[pos], weights[pos], n_grid),
        negative=_one_sign(-nodes[neg], weights[neg], n_grid),
        mass_positive=float(weights[pos].sum()),
        mass_negative=float(weights[neg].sum()),
        near_zero=float(weights[~pos & ~neg].sum()),
        threshold=threshold,
    )


def curves(density: SignedDensity, **labels) -> list[dict]:
    """Long-format rows (``sign``, ``abs_eigenvalue``, ``density`` and ``labels``), one per grid point: the
    input of :func:`draw`."""
    rows = []
    for sign, curve in (("λ > 0", density.positive), ("λ < 0", density.negative)):
        if curve is not None:
            rows += [{"sign": sign, "abs_eigenvalue": x, "density": y, **labels} for x, y in zip(*curve)]
    return rows


LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))


def draw(axes, rows: list[dict], masses: list[SignedDensity], hue: str | None = None, style: str | None = None) -> None:
    """Both panels: ``axes`` = (positive, negative), ``rows`` = concatenated ``curves`` rows, ``masses`` = every
    drawn density (their negative and near-zero masses go in the titles). One line per value of ``hue`` and
    ``style`` (labels of the rows): colours from matplotlib's colour cycle by ``hue``, dashes by ``style``;
    with ``hue``, the positive panel gets a legend (hue values, then style values). Plain matplotlib: the
    Hessian stage draws one of these per model, and seaborn alone took a second to import."""
    from matplotlib import rcParams
    from matplotlib.lines import Line2D

    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    hues = list(dict.fromkeys(row[hue] for row in rows)) if hue else [None]
    styles = list(dict.fromkeys(row[style] for row in rows)) if style else [None]
    lines: dict[tuple, list[dict]] = {}
    for row in rows:
        lines.setdefault((row["sign"], row[hue] if hue else None, row[style] if style else None), []).append(row)
    negative = max(d.mass_negative for d in masses)
    near_zero = max(d.near_zero for d in masses)
    for ax, sign in zip(axes, ("λ > 0", "λ < 0")):
        drawn = [(key, points) for key, points in lines.items() if key[0] == sign]
        for (_, h, st), points in drawn:
            ax.plot(
                [p["abs_eigenvalue"] for p in points],
                [p["density"] for p in points],
                color=colours[hues.index(h) % len(colours)],
                linestyle=LINESTYLES[styles.index(st) % len(LINESTYLES)],
                linewidth=1,
            )
        if drawn:
            ax.set_xscale("log")
        else:
            ax.text(
                0.5,
                0.5,
                f"no eigenvalue below\n-{ZERO_TOL_REL:g} × max |λ|:\nnegative mass 0",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
        ax.set_ylim(bottom=0)
        ax.set_xlabel("|Hessian eigenvalue| (log)")
        ax.set_ylabel("density per decade")
    if hue:
        handles = [Line2D([], [], color=colours[i % len(colours)], linewidth=1) for i in range(len(hues))]
        handles += [Line2D([], [], color="0.3", linestyle=LINESTYLES[i % len(LINESTYLES)]) for i in range(len(styles))]
        labels = [f"{hue} {h}" for h in hues] + ([f"{style} {st}" for st in styles] if style else [])
        axes[0].legend(handles[: len(labels)], labels, fontsize=7)
    axes[0].set_title(f"λ > 0; mass at |λ| ≤ {ZERO_TOL_REL:g} max |λ| (not drawn): up to {near_zero:.2g}", fontsize=8)
    axes[1].set_title(f"λ < 0, at |λ|; negative mass up to {negative:.2g}", fontsize=8)
