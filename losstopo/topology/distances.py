"""Shape distances between persistence diagrams: exact bottleneck and Wasserstein distances of 0-dim diagrams.

Distances: exact bottleneck and q-Wasserstein distances (Cohen-Steiner, Edelsbrunner & Harer 2007; Kerber,
Morozov & Nigmanov 2017) as assignment problems on the augmented cost matrix, solved with scipy: a minimum-cost
perfect matching (``linear_sum_assignment``) for Wasserstein, and the smallest candidate cost that admits a perfect
matching (``maximum_bipartite_matching``, binary search) for bottleneck. Both are polynomial and terminate on every
input by construction; Hera (``gudhi.hera``) was dropped because its auction loops on diagonal points
(gudhi-devel#477). Defaults: order 1, L-infinity ground metric.

Essential classes (death = inf): ``essential="drop"`` (default) leaves them out, so the distance
compares the finite (minimum, saddle) pairs, i.e. the basin structure; ``"max"`` closes each one at
the landscape's largest finite loss, TTK's (global minimum, global maximum) convention. The sweep's
table of distances between runs is ``losstopo.summary.distances``; docs/profile.md.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

ESSENTIAL = ("drop", "max")


def diagram(birth, death, essential: str = "drop", loss_max: float | None = None) -> np.ndarray:
    """(m, 2) finite diagram from pairs; infinite deaths dropped or replaced by ``loss_max``."""
    if essential not in ESSENTIAL:
        raise ValueError(f"essential must be one of {', '.join(ESSENTIAL)}, got {essential!r}")
    points = np.stack([np.asarray(birth, np.float64), np.asarray(death, np.float64)], axis=1).reshape(-1, 2)
    infinite = ~np.isfinite(points[:, 1])
    if essential == "drop":
        return points[~infinite]
    if infinite.any() and (loss_max is None or not np.isfinite(loss_max)):
        raise ValueError("essential='max' needs the landscape's finite maximum loss")
    points[infinite, 1] = loss_max
    return points


def split_diagram(points, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(finite off-diagonal points (k, 2), births of the essential classes (e,)) of one diagram.

    Points on the diagonal (zero persistence) are at distance 0 from it and change no distance: dropped.
    Raises ValueError on a wrong shape, NaN, a non-finite birth or a death of -inf."""
    d = np.asarray(points, np.float64)
    d = d.reshape(0, 2) if d.size == 0 else d
    if d.ndim != 2 or d.shape[1] != 2:
        raise ValueError(f"diagram {name}: expected an (n, 2) array of (birth, death), got shape {d.shape}")
    bad = np.flatnonzero(np.isnan(d).any(axis=1) | ~np.isfinite(d[:, 0]) | (d[:, 1] == -np.inf))
    if len(bad):
        raise ValueError(
            f"diagram {name}: point {d[bad[0]].tolist()} (row {bad[0]}); births must be finite, "
            "deaths finite or +inf, no NaN"
        )
    essential = np.isposinf(d[:, 1])
    finite = d[~essential]
    return finite[finite[:, 0] != finite[:, 1]], d[essential, 0]


def _prepare(a, b, p: float):
    """Both diagrams scaled by one power of two (exact) so that every coordinate is below 1 in magnitude: no cost
    overflows near +-1e308 or underflows near 1e-320. Returns (point-to-point costs (n, m), each point's distance
    to the diagonal (n,) and (m,), sorted essential births of a and b, the exponent of the scale)."""
    if not p >= 1:
        raise ValueError(f"internal_p must be >= 1 (a norm), got {p}")
    (fa, ea), (fb, eb) = split_diagram(a, "a"), split_diagram(b, "b")
    values = np.concatenate([fa.ravel(), fb.ravel(), ea, eb])
    exponent = int(np.frexp(np.abs(values).max())[1]) if len(values) else 0
    fa, fb, ea, eb = (np.ldexp(x, -exponent) for x in (fa, fb, ea, eb))
    cost = np.linalg.norm(fa[:, None, :] - fb[None, :, :], ord=p, axis=2).reshape(len(fa), len(fb))
    to_diagonal = [np.abs(f[:, 1] - f[:, 0]) / 2 * 2 ** (1 / p) for f in (fa, fb)]  # nearest: ((b+d)/2, (b+d)/2)
    return cost, *to_diagonal, np.sort(ea), np.sort(eb), exponent


def _saturates(graph: np.ndarray) -> bool:
    """Whether the bipartite graph (rows x columns, boolean) has a matching covering every row."""
    if not graph.shape[0]:
        return True
    return bool((maximum_bipartite_matching(csr_matrix(graph), perm_type="column") >= 0).all())


def bottleneck(a: np.ndarray, b: np.ndarray, internal_p: float = np.inf) -> float:
    """Exact bottleneck distance between two persistence diagrams ((n, 2) and (m, 2) arrays of (birth, death)).

    The smallest candidate cost c (point to point, L-``internal_p``, or point to diagonal) at which the points
    farther than c from the diagonal can all be matched to points at most c away; binary search over the
    candidates. By the Mendelsohn-Dulmage theorem such a matching exists iff one covers those of a and one covers
    those of b (two Hopcroft-Karp matchings, scipy). Essential classes (death = +inf) match each other by sorted
    birth; a different number of them gives inf. Raises ValueError on malformed diagrams (``split_diagram``)."""
    cost, diag_a, diag_b, ea, eb, exponent = _prepare(a, b, internal_p)
    if len(ea) != len(eb):
        return np.inf
    candidates = np.unique(np.concatenate([cost.ravel(), diag_a, diag_b, np.abs(ea - eb), [0.0]]))
    lo, hi = 0, len(candidates) - 1  # feasible at the largest candidate: every point may go to the diagonal
    while lo < hi:
        mid = (lo + hi) // 2
        c = candidates[mid]
        feasible = (
            _saturates(cost[diag_a > c] <= c)
            and _saturates((cost[:, diag_b > c] <= c).T)
            and (np.abs(ea - eb) <= c).all()
        )
        lo, hi = (lo, mid) if feasible else (mid + 1, hi)
    return float(np.ldexp(candidates[lo], exponent))


def wasserstein(a: np.ndarray, b: np.ndarray, order: float = 1.0, internal_p: float = np.inf) -> float:
    """Exact q-Wasserstein distance (q = ``order`` >= 1) between two persistence diagrams ((n, 2), (m, 2)).

    (min over matchings of the sum of cost^q)^(1/q), L-``internal_p`` ground metric, unmatched points go to the
    diagonal: a minimum-cost perfect matching (scipy ``linear_sum_assignment``) on the augmented (n + m) square
    matrix (point to point; point to any diagonal slot at its distance to the diagonal; diagonal to diagonal 0).
    ``order=inf`` is the bottleneck distance. Essential classes (death = +inf) match each other by sorted birth
    (optimal in one dimension); a different number of them gives inf. Raises ValueError on malformed diagrams or
    order < 1."""
    if not order >= 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if order == np.inf:
        return bottleneck(a, b, internal_p)
    cost, diag_a, diag_b, ea, eb, exponent = _prepare(a, b, internal_p)
    if len(ea) != len(eb):
        return np.inf
    n, m = cost.shape
    augmented = np.zeros((n + m, m + n))
    augmented[:n, :m], augmented[:n, m:], augmented[n:, :m] = cost, diag_a[:, None], diag_b[None, :]
    augmented **= order
    rows, cols = linear_sum_assignment(augmented)
    total = augmented[rows, cols].sum() + (np.abs(ea - eb) ** order).sum()
    return float(np.ldexp(total ** (1 / order), exponent))
