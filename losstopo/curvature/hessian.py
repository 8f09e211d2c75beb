"""Curvature of a fixed objective at the model's parameters: Hessian-vector products, top eigenpairs
(Lanczos), trace (Hutchinson) and eigenvalue spectral density (stochastic Lanczos quadrature).

Nothing here forms the Hessian except for tiny models: every method is built on Hessian-vector
products (HVPs) of ``Objective.loss_fn`` through ``torch.func``, counted in ``HessianOperator.n_hvp``.
"""

from __future__ import annotations

import inspect
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch.func import grad, grad_and_value, jvp, vmap
from torch.overrides import TorchFunctionMode

from losstopo.curvature.spectral_density import curves, draw, signed_log_density
from losstopo.device import resolve_device, resolve_dtype
from losstopo.io import atomic_path, load_npz, save_json, save_npz
from losstopo.objective import Objective, require_objective
from losstopo.progress import Progress
from losstopo.sweep.config import validate_block
from losstopo.sweep.schema import default
from losstopo.trained import load_trained

DEFAULT_EIG_TOL = default("hessian", "eig_tol")  # 1e-5; Hessian directions use it too (docs/hessian.md)
DENSE_MAX_PARAMS = 64
EIG_HVP_BUDGET = 3000  # default cap on one eigsh call: maxiter = budget // (ncv - k) restarts


class HessianOperator:
    """Flat Hessian-vector products of ``objective.loss_fn`` at the model's current parameters.

    The flat order is ``model.named_parameters()``, each tensor flattened and concatenated. The
    products run on the parameters' device and in their dtype (build the objective in float64 for
    accurate spectra). ``mode="reverse"`` (default) builds the gradient's graph once with
    ``torch.autograd.grad(create_graph=True)`` and keeps it, so each HVP is one backward pass through it
    (H is symmetric, so v^T H = (H v)^T; a batch of vectors is one batched backward pass). Plain autograd
    rather than ``torch.func``: functorch's grad transforms import ``torch._dynamo`` (and sympy) on first
    use, a CPU-second in every Hessian job. ``mode="forward"`` is forward-over-reverse, ``jvp(grad(f))``,
    which keeps no graph between calls but redoes the forward and backward pass for every product
    (measured 3-20x slower per product on CPU, see docs/hessian.md).
    """

    def __init__(self, objective: Objective, mode: str = "reverse"):
        named = [(name, p) for name, p in objective.model.named_parameters()]
        if not named:
            raise ValueError("the objective's model has no parameters")
        objective.check_deterministic()  # a reverse-mode graph would freeze one dropout mask into every product
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        dtypes = {p.dtype for _, p in named}
        if len(dtypes) != 1:
            raise ValueError(f"parameters have mixed dtypes {sorted(map(str, dtypes))}; cast the model to one dtype")
        self.theta = torch.cat([p.detach().reshape(-1) for _, p in named])
        self.dtype, self.device, self.size = self.theta.dtype, self.theta.device, self.theta.numel()
        self._loss_fn = objective.loss_fn
        self.n_hvp = 0
        if mode == "reverse":
            theta = self.theta.clone().requires_grad_(True)
            with torch.enable_grad():
                loss = self._flat_loss(theta)
                (gradient,) = torch.autograd.grad(loss, theta, create_graph=True)
            self._hvp1 = partial(self._backward, gradient, theta)
            loss, gradient = loss.detach(), gradient.detach()
        elif mode == "forward":
            gradient, loss = grad_and_value(self._flat_loss)(self.theta)
            self._hvp1 = lambda v: jvp(grad(self._flat_loss), (self.theta,), (v,))[1]
        else:
            raise ValueError(f"unknown HVP mode {mode!r}; expected 'reverse' or 'forward'")
        self.mode = mode
        self.loss = float(loss)
        self.grad_norm = float(torch.linalg.vector_norm(gradient))

    def _flat_loss(self, flat: torch.Tensor) -> torch.Tensor:
        parts = torch.split(flat, self.sizes)
        return self._loss_fn({n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes)})

    @staticmethod
    def _backward(gradient: torch.Tensor, theta: torch.Tensor, v: torch.Tensor, batched: bool = False) -> torch.Tensor:
        """H v = d(gradient . v)/d theta through the kept graph; ``batched``: v is (b, P), one pass for all."""
        return torch.autograd.grad(gradient, theta, v, retain_graph=True, is_grads_batched=batched)[0].detach()

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """H v for one flat vector (P,) or a batch (b, P) of them (batched: one batched backward pass in reverse
        mode, ``torch.vmap`` in forward mode)."""
        if v.ndim == 1:
            self.n_hvp += 1
            return self._hvp1(v)
        self.n_hvp += v.shape[0]
        if v.shape[0] == 1:
            return self._hvp1(v[0])[None]
        return self._hvp1(v, batched=True) if self.mode == "reverse" else vmap(self._hvp1)(v)

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """H v with numpy in and out (float64), for scipy."""
        x = torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).reshape(-1), device=self.device)
        return self.hvp(x.to(self.dtype)).detach().cpu().numpy().astype(np.float64).reshape(np.shape(v))

    def linear_operator(self) -> LinearOperator:
        return LinearOperator((self.size, self.size), matvec=self.matvec, dtype=np.float64)

    def dense(self, batch: int = 64) -> np.ndarray:
        """The whole Hessian from P products with unit vectors, symmetrised (only for tiny models)."""
        eye = torch.eye(self.size, dtype=self.dtype, device=self.device)
        cols = [self.hvp(eye[i : i + batch]).detach() for i in range(0, self.size, batch)]
        h = torch.cat(cols).cpu().double().numpy()
        return 0.5 * (h + h.T)


def _as_operator(target: Objective | HessianOperator) -> HessianOperator:
    return target if isinstance(target, HessianOperator) else HessianOperator(require_objective(target))


def _rademacher(rng: np.random.Generator, shape: tuple[int, ...], op: HessianOperator) -> torch.Tensor:
    z = rng.integers(0, 2, size=shape).astype(np.float64) * 2.0 - 1.0
    return torch.as_tensor(z, dtype=op.dtype, device=op.device)


# --------------------------------------------------------------------------------------------- eigenpairs


@dataclass
class EigenResult:
    """Eigenpairs of H: ``which="LA"`` largest first, ``"SA"`` most negative first.

    When Lanczos did not converge, only the pairs it did converge are kept (possibly none),
    ``converged`` is False and ``message`` says so.
    """

    eigenvalues: np.ndarray  # (n,)
    eigenvectors: np.ndarray  # (n, P), unit norm
    residuals: np.ndarray  # (n,) ||H v - lambda v|| / |lambda|
    rayleigh: np.ndarray  # (n,) v^T H v, measured with the residuals (used to deflate the trace)
    k: int
    which: str
    method: str  # "lanczos" | "dense"
    tol: float
    converged: bool
    message: str
    n_hvp: int

    def to_json(self) -> dict[str, Any]:
        return {
            "eigenvalues": self.eigenvalues.tolist(),
            "residuals": self.residuals.tolist(),
            "k": self.k,
            "n_converged": int(self.eigenvalues.size),
            "which": self.which,
            "method": self.method,
            "tol": self.tol,
            "converged": self.converged,
            "message": self.message,
            "n_hvp": self.n_hvp,
        }


def _relative_residuals(hv: np.ndarray, vecs: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """||H v - lambda v|| / |lambda| per row (the absolute residual where lambda is exactly 0)."""
    r = np.linalg.norm(hv - vals[:, None] * vecs, axis=1)
    return r / np.where(vals == 0.0, 1.0, np.abs(vals))


def _canonical_signs(vecs: np.ndarray) -> np.ndarray:
    """Flip each eigenvector so that its largest-magnitude entry is positive (deterministic output)."""
    idx = np.argmax(np.abs(vecs), axis=1)
    return vecs * np.sign(vecs[np.arange(len(vecs)), idx])[:, None]


def top_eigenpairs(
    target: Objective | HessianOperator,
    k: int,
    *,
    which: str = "LA",
    tol: float = DEFAULT_EIG_TOL,
    maxiter: int | None = None,
    ncv: int | None = None,
    seed: int = 0,
    dense_max_params: int = DENSE_MAX_PARAMS,
) -> EigenResult:
    """The k largest (``which="LA"``) or most negative (``"SA"``) eigenpairs of the Hessian.

    Lanczos (ARPACK ``eigsh``) on HVPs, stopping when ARPACK's residual estimate is below
    ``tol * |lambda|``; the true relative residual of every returned pair is then measured with k
    more HVPs. ``ncv`` (Lanczos vectors kept between restarts) defaults to max(2k + 1, 8) for "LA"
    (ARPACK's own max(2k + 1, 20) spends ~10 needless HVPs on well-separated top eigenvalues) and
    max(2k + 1, 60) for "SA" (the most negative modes of a trained net are tiny and sit next to a
    huge near-zero bulk; short restarts then converge very slowly). ``maxiter`` (ARPACK restarts)
    defaults to about EIG_HVP_BUDGET HVPs. Models with at most ``dense_max_params`` parameters, or
    k >= P - 1 (ARPACK needs k < P - 1 to be useful), use the dense Hessian instead (P HVPs).
    k > P is an error.
    """
    op = _as_operator(target)
    if which not in ("LA", "SA"):
        raise ValueError(f"which must be 'LA' (largest) or 'SA' (most negative), got {which!r}")
    if not 1 <= k <= op.size:
        raise ValueError(f"asked for k={k} eigenpairs of a Hessian with {op.size} parameters; need 1 <= k <= {op.size}")
    start = op.n_hvp
    sign = -1.0 if which == "LA" else 1.0  # sort key: LA largest first, SA smallest first
    if op.size <= dense_max_params or k >= op.size - 1:
        h = op.dense()
        vals, vecs = np.linalg.eigh(h)
        order = np.argsort(sign * vals)[:k]
        vals, vecs = vals[order], vecs[:, order].T
        vecs = _canonical_signs(vecs)
        hv = vecs @ h
        return EigenResult(
            vals,
            vecs,
            _relative_residuals(hv, vecs, vals),
            np.sum(vecs * hv, axis=1),
            k,
            which,
            "dense",
            tol,
            True,
            f"dense eigh of the {op.size}x{op.size} Hessian",
            op.n_hvp - start,
        )
    if ncv is None:
        ncv = min(op.size, max(2 * k + 1, 8 if which == "LA" else 60))
    if maxiter is None:
        maxiter = max(1, EIG_HVP_BUDGET // (ncv - k))
    v0 = np.random.default_rng(seed).standard_normal(op.size)
    converged, message = True, f"Lanczos (ARPACK) converged: {k} eigenpairs ({which}), tol={tol:g}"
    try:
        vals, vecs = eigsh(op.linear_operator(), k=k, which=which, tol=tol, maxiter=maxiter, ncv=ncv, v0=v0)
    except ArpackNoConvergence as exc:
        vals, vecs = exc.eigenvalues, exc.eigenvectors
        converged = False
        message = (
            f"Lanczos (ARPACK) did not converge: {len(vals)} of {k} eigenpairs ({which}) reached "
            f"tol={tol:g} within maxiter={maxiter} restarts after {op.n_hvp - start} HVPs; only those are "
            f"reported. Raise maxiter or ncv, or loosen tol."
        )
    order = np.argsort(sign * vals)
    vals, vecs = np.asarray(vals)[order], _canonical_signs(np.asarray(vecs)[:, order].T)
    hv = (
        op.hvp(torch.as_tensor(vecs, dtype=op.dtype, device=op.device)).detach().cpu().double().numpy()
        if len(vals)
        else np.zeros((0, op.size))
    )
    return EigenResult(
        vals,
        vecs,
        _relative_residuals(hv, vecs, vals),
        np.sum(vecs * hv, axis=1),
        k,
        which,
        "lanczos",
        tol,
        converged,
        message,
        op.n_hvp - start,
    )


def hessian_directions(
    objective: Objective,
    k: int,
    *,
    which: str = "LA",
    tol: float = DEFAULT_EIG_TOL,
    maxiter: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k Hessian eigenvectors as landscape directions: ((k, P) float64 unit rows, (k,) eigenvalues).

    Rows follow ``model.named_parameters()`` order, flattened and concatenated; signs are fixed so
    the largest-magnitude entry is positive. Raises RuntimeError when Lanczos does not converge,
    since a landscape on wrong directions would be silently wrong.
    """
    result = direction_eigenpairs(objective, k, which=which, tol=tol, maxiter=maxiter, seed=seed)
    return result.eigenvectors, result.eigenvalues


def direction_eigenpairs(objective: Objective, k: int, **options: Any) -> EigenResult:
    """:func:`hessian_directions` with everything :func:`top_eigenpairs` measured (residuals, Rayleigh
    quotients, HVPs): the Hessian directions stage stores it, so the Hessian stage can take these pairs
    instead of computing them again (:func:`eigenpairs_from_directions`). ``options``: keyword options of
    :func:`top_eigenpairs` (``which``, ``tol``, ``maxiter``, ``seed``). Eigenvectors are float64 unit rows;
    RuntimeError when Lanczos does not converge."""
    result = top_eigenpairs(objective, k, **options)
    if not result.converged:
        raise RuntimeError(f"Hessian directions: {result.message}")
    result.eigenvectors = (result.eigenvectors / np.linalg.norm(result.eigenvectors, axis=1, keepdims=True)).astype(
        np.float64
    )
    result.eigenvalues = result.eigenvalues.astype(np.float64)
    return result


def eigenpairs_from_directions(data: dict[str, Any], k: int, tol: float, path: str | Path = "directions.npz"):
    """The top ``k`` eigenpairs stored with Hessian directions (``losstopo directions``, landscape.directions
    hessian; ``data`` as :func:`losstopo.io.load_npz` reads ``path``), as the :class:`EigenResult` that
    :func:`top_eigenpairs` would give at tolerance ``tol``: the first k of the directions' pairs, each of
    which met that tolerance. ``n_hvp`` is 0 (none spent here; ``message`` names the source and its HVPs).

    None, so that the caller computes them, when the directions were skipped (a model with non-finite
    parameters) or were written before they stored their eigenpairs. ValueError naming ``path`` for random
    directions, fewer than k pairs, or pairs computed at another tolerance.
    """
    meta = data.get("metadata", {})
    if meta.get("kind") != "hessian":
        raise ValueError(f"{path}: {meta.get('kind')!r} directions hold no Hessian eigenpairs; compute them instead")
    eigen = meta.get("eigen")
    if "skipped_reason" in meta or eigen is None or not {"residuals", "rayleigh"} <= set(data):
        return None
    if len(data["eigenvalues"]) < k or eigen["tol"] != tol:
        raise ValueError(
            f"{path}: holds {len(data['eigenvalues'])} eigenpairs at tol {eigen['tol']:g}; the Hessian stage "
            f"asks for {k} at tol {tol:g}"
        )
    return EigenResult(
        np.asarray(data["eigenvalues"][:k], dtype=np.float64),
        np.asarray(data["directions"][:k], dtype=np.float64),
        np.asarray(data["residuals"][:k], dtype=np.float64),
        np.asarray(data["rayleigh"][:k], dtype=np.float64),
        k,
        eigen["which"],
        eigen["method"],
        eigen["tol"],
        True,
        f"the first {k} of the {eigen['n_converged']} pairs of the Hessian directions ({path}, "
        f"{eigen['n_hvp']} HVPs there): {eigen['message']}",
        0,
    )


# --------------------------------------------------------------------------------------------- trace


@dataclass
class TraceResult:
    """Hutchinson estimate of tr(H) with its standard error; ``converged``: the stopping rule was met.

    ``value = deflated_part + mean(samples)``: the exact trace over the deflated subspace plus the
    Hutchinson mean over its orthogonal complement (``deflated_part`` is 0 without deflation).
    """

    value: float
    stderr: float
    n_probes: int
    converged: bool
    rel_tol: float
    min_probes: int
    max_probes: int
    deflated: int
    deflated_part: float
    n_hvp: int
    samples: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "stderr": self.stderr,
            "n_probes": self.n_probes,
            "converged": self.converged,
            "rel_tol": self.rel_tol,
            "min_probes": self.min_probes,
            "max_probes": self.max_probes,
            "deflated": self.deflated,
            "deflated_part": self.deflated_part,
            "n_hvp": self.n_hvp,
        }


def _deflation_basis(deflate: EigenResult | list[EigenResult], op: HessianOperator) -> torch.Tensor | None:
    """Orthonormal rows (r, P) spanning every eigenvector of ``deflate`` (one result or several, e.g. the top
    and the bottom pairs): QR of the stacked vectors, dropping those dependent on earlier ones."""
    results = [deflate] if isinstance(deflate, EigenResult) else list(deflate)
    vectors = [r.eigenvectors for r in results if r.eigenvalues.size]
    if not vectors:
        return None
    q, r = np.linalg.qr(np.vstack(vectors).astype(np.float64).T)
    diag = np.abs(np.diag(r))
    return torch.as_tensor(q[:, diag > 1e-8 * diag.max()].T.copy(), dtype=op.dtype, device=op.device)


def hutchinson_trace(
    target: Objective | HessianOperator,
    *,
    rel_tol: float = 1e-2,
    min_probes: int = 10,
    max_probes: int = 500,
    batch: int = 8,
    deflate: EigenResult | list[EigenResult] | None = None,
    seed: int = 0,
    progress: bool = False,
) -> TraceResult:
    """tr(H) ~ mean of z^T H z over Rademacher probes z, optionally deflated by known eigenvectors.

    With ``deflate`` (one or several ``EigenResult``, e.g. the top and the most negative pairs), the
    eigenvectors are orthonormalised to rows V and the trace is split exactly as tr(V H V^T) + tr(P H P),
    P = I - V^T V: the first term is measured with one HVP per row, only the second is estimated, from
    the projected probes P z. That is unbiased for any orthonormal V, and it removes the few large
    eigenvalues, of either sign, that otherwise dominate the variance (for a trained PINN, 500 plain
    probes left a 6% standard error). Probes run ``batch`` at a time; after each batch, stop once
    at least ``min_probes`` were used and the standard error (sample std / sqrt(n)) is at most
    ``rel_tol * |value|``, or at ``max_probes``.
    """
    op = _as_operator(target)
    if not 2 <= min_probes <= max_probes:
        raise ValueError(
            f"trace needs 2 <= min_probes <= max_probes, got min_probes={min_probes}, max_probes={max_probes}"
        )
    if batch < 1:
        raise ValueError(f"trace batch must be >= 1, got {batch}")
    rng, start = np.random.default_rng(seed), op.n_hvp
    basis = None if deflate is None else _deflation_basis(deflate, op)
    offset = 0.0 if basis is None else float((basis * op.hvp(basis)).sum().detach().cpu())
    samples: list[float] = []
    value = stderr = float("nan")
    converged = False
    with Progress(max_probes, "Hutchinson trace", unit="probe", enabled=progress) as bar:
        while len(samples) < max_probes:
            z = _rademacher(rng, (min(batch, max_probes - len(samples)), op.size), op)
            if basis is not None:
                z = z - (z @ basis.T) @ basis
            samples.extend(((z * op.hvp(z)).sum(dim=1)).detach().cpu().double().tolist())
            bar.update(z.shape[0])
            x = np.asarray(samples)
            value = offset + float(x.mean())
            stderr = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("inf")
            if x.size >= min_probes and stderr <= rel_tol * abs(value):
                converged = True
                break
    return TraceResult(
        value,
        stderr,
        len(samples),
        converged,
        rel_tol,
        min_probes,
        max_probes,
        0 if basis is None else len(basis),
        offset,
        op.n_hvp - start,
        np.asarray(samples),
    )


# --------------------------------------------------------------------------------------------- density


@dataclass
class DensityResult:
    """Spectral density by stochastic Lanczos quadrature.

    ``nodes``/``weights`` are every probe's Gauss quadrature (Ritz values and squared first
    components of the Ritz vectors, divided by the number of probes, so all weights sum to 1);
    ``probe`` says which probe each node came from. ``density`` is their Gaussian broadening with
    standard deviation ``sigma`` on ``grid``, normalised to integrate to 1 (trapezoid rule).
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    probe: np.ndarray
    steps: np.ndarray  # Lanczos steps each probe took (fewer than asked: an invariant subspace was found)
    sigma: float
    n_params: int
    n_hvp: int

    def summary(self, zero_tol_rel: float = 1e-3) -> dict[str, Any]:
        """Moments and sign split of the quadrature measure (not of the broadened curve)."""
        mean = float(np.sum(self.weights * self.nodes))
        second = float(np.sum(self.weights * self.nodes**2))
        threshold = zero_tol_rel * float(np.max(np.abs(self.nodes)))
        return {
            "mean": mean,
            "second_moment": second,
            "trace_estimate": mean * self.n_params,
            "frobenius_sq_estimate": second * self.n_params,
            "min_node": float(self.nodes.min()),
            "max_node": float(self.nodes.max()),
            "negative_mass": float(self.weights[self.nodes < 0].sum()),
            "negative_mass_significant": float(self.weights[self.nodes < -threshold].sum()),
            "significant_threshold": threshold,
            "sigma": self.sigma,
            "n_probes": int(self.steps.size),
            "lanczos_steps": self.steps.tolist(),
            "n_hvp": self.n_hvp,
        }

    ARRAYS = ("grid", "density", "nodes", "weights", "probe", "steps")  # what density.npz holds

    def arrays(self) -> dict[str, np.ndarray]:
        return {key: getattr(self, key) for key in self.ARRAYS}


def _lanczos_block(op: HessianOperator, q0: torch.Tensor, steps: int, bar: Progress) -> tuple[np.ndarray, ...]:
    """Independent Lanczos runs from the unit rows of q0, all advanced together, each fully
    reorthogonalised (Gram-Schmidt twice) against its own basis. Returns (alpha, beta, steps taken)."""
    b = q0.shape[0]
    basis = q0.new_zeros(b, steps, op.size)
    alpha, beta = np.zeros((b, steps)), np.zeros((b, steps))
    taken = np.full(b, steps)
    q, active = q0.clone(), np.arange(b)
    for j in range(steps):
        idx = torch.as_tensor(active, device=op.device)
        basis[idx, j] = q[idx]
        w = op.hvp(q[idx]).detach()
        bar.update(len(active))
        alpha[active, j] = (w * q[idx]).sum(dim=1).cpu().double().numpy()
        prev = basis[idx, : j + 1]
        for _ in range(2):
            w = w - torch.einsum("aj,ajp->ap", torch.einsum("ajp,ap->aj", prev, w), prev)
        norms = torch.linalg.vector_norm(w, dim=1).cpu().double().numpy()
        if j == steps - 1:
            break
        beta[active, j] = norms
        scale = np.maximum(np.abs(alpha[active, : j + 1]).max(axis=1), beta[active, :j].max(axis=1, initial=0.0))
        done = norms <= 1e-10 * np.maximum(scale, np.finfo(float).tiny)
        taken[active[done]] = j + 1
        keep = ~done
        q[torch.as_tensor(active[keep], device=op.device)] = (
            w[torch.as_tensor(keep, device=op.device)]
            / torch.as_tensor(norms[keep], dtype=op.dtype, device=op.device)[:, None]
        )
        active = active[keep]
        if active.size == 0:
            break
    return alpha, beta, taken


def slq_density(
    target: Objective | HessianOperator,
    *,
    n_probes: int = 4,
    lanczos_steps: int = 80,
    sigma: float | None = None,
    n_grid: int = 1000,
    grid: np.ndarray | None = None,
    seed: int = 0,
    memory_mb: float = 1024.0,
    progress: bool = False,
) -> DensityResult:
    """Eigenvalue spectral density of H by stochastic Lanczos quadrature (Rademacher start vectors).

    ``lanczos_steps`` is capped at P. ``sigma`` defaults to 1% of the span of all Ritz values; the
    default grid spans the Ritz values padded by 5 sigma. Probes run together in blocks whose
    reorthogonalisation bases fit in ``memory_mb``.
    """
    op = _as_operator(target)
    if n_probes < 1 or lanczos_steps < 1:
        raise ValueError(f"density needs n_probes >= 1 and lanczos_steps >= 1, got {n_probes} and {lanczos_steps}")
    steps = min(lanczos_steps, op.size)
    block = int(max(1, min(n_probes, memory_mb * 2**20 // (steps * op.size * op.theta.element_size()))))
    rng, start = np.random.default_rng(seed), op.n_hvp
    nodes, weights, probe, taken = [], [], [], []
    with Progress(n_probes * steps, "SLQ density", unit="hvp", enabled=progress) as bar:
        for first in range(0, n_probes, block):
            z = _rademacher(rng, (min(block, n_probes - first), op.size), op) / np.sqrt(op.size)
            alpha, beta, block_taken = _lanczos_block(op, z, steps, bar)
            for i, m in enumerate(block_taken):
                theta, vecs = scipy.linalg.eigh_tridiagonal(alpha[i, :m], beta[i, : m - 1])
                nodes.append(theta)
                weights.append(vecs[0] ** 2 / n_probes)
                probe.append(np.full(m, first + i))
            taken.extend(block_taken.tolist())
    nodes_a, weights_a = np.concatenate(nodes), np.concatenate(weights)
    span = float(nodes_a.max() - nodes_a.min())
    if sigma is None:
        sigma = 0.01 * span if span > 0 else max(1e-3 * abs(float(nodes_a.max())), 1e-12)
    if sigma <= 0:
        raise ValueError(f"density sigma must be > 0, got {sigma}")
    if grid is None:
        grid = np.linspace(nodes_a.min() - 5 * sigma, nodes_a.max() + 5 * sigma, n_grid)
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError(f"density grid must be a strictly increasing 1-D array of >= 2 points, got shape {grid.shape}")
    dens = (weights_a[None, :] * np.exp(-0.5 * ((grid[:, None] - nodes_a[None, :]) / sigma) ** 2)).sum(axis=1)
    dens /= np.sqrt(2 * np.pi) * sigma
    area = np.trapezoid(dens, grid)
    if not area > 0:
        raise ValueError(
            f"density grid [{grid[0]:g}, {grid[-1]:g}] misses the spectrum [{nodes_a.min():g}, {nodes_a.max():g}]"
        )
    return DensityResult(
        grid,
        dens / area,
        nodes_a,
        weights_a,
        np.concatenate(probe),
        np.asarray(taken),
        float(sigma),
        op.size,
        op.n_hvp - start,
    )


# --------------------------------------------------------------------------------------------- analysis

_KINKED_OPS = {
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "rrelu",
    "hardtanh",
    "hardswish",
    "hardsigmoid",
    "hardshrink",
    "softshrink",
    "threshold",
    "elu",
    "selu",
    "celu",
    "abs",
    "clamp",
    "clip",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
}


class _OpRecorder(TorchFunctionMode):
    """Collect the names of the torch functions and tensor methods one loss evaluation calls."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(getattr(func, "__name__", "").strip("_"))
        return func(*args, **(kwargs or {}))


def smoothness(objective: Objective) -> tuple[bool, str]:
    """Whether the loss is twice differentiable, and what the Hessian numbers mean either way.

    ``objective.metadata["twice_differentiable"]`` (with an optional ``"nonsmooth_reason"``) wins;
    otherwise one loss evaluation is watched for kinked functions (ReLU and its relatives, max
    pooling, abs, clamp, L1/Huber losses), whether called as modules, functionals or tensor methods.
    """
    meta = objective.metadata
    if "twice_differentiable" in meta:
        smooth, found = bool(meta["twice_differentiable"]), str(meta.get("nonsmooth_reason", "declared by the family"))
    else:
        with torch.no_grad(), _OpRecorder() as recorder:
            objective.loss_of_model()
        kinks = sorted(n for n in recorder.names if n in _KINKED_OPS or "max_pool" in n)
        smooth, found = not kinks, "calls " + ", ".join(kinks)
    if smooth:
        return True, (
            "The loss is twice differentiable at the model's parameters: eigenvalues, trace and density "
            "are those of its exact Hessian, up to the reported residuals and standard errors."
        )
    return False, (
        f"The loss is only piecewise twice differentiable ({found}). Autograd differentiates the smooth "
        "piece that contains the current parameters and treats every kink as locally flat, so all "
        "numbers describe the almost-everywhere Hessian: the curvature within the current activation "
        "pattern. It is exact wherever an infinitesimal move does not change that pattern (almost every "
        "parameter point), but it ignores the curvature concentrated on the kinks, so the loss sampled at "
        "finite distances can bend more sharply than these eigenvalues suggest."
    )


def _options(section: str, value: bool | dict[str, Any] | None, fn) -> dict[str, Any] | None:
    """``True``: defaults, ``False``/``None``: skip, a dict: keyword options for ``fn`` (checked by name)."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"Hessian setting {section!r} must be true, false or an object, got {value!r}")
    allowed = [p for p in inspect.signature(fn).parameters if p not in ("target", "seed", "progress")]
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"unknown Hessian {section} option(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
    return dict(value)


def analyze(
    objective: Objective,
    *,
    top_k: int = 4,
    bottom_k: int = 0,
    eig_tol: float = DEFAULT_EIG_TOL,
    eig_maxiter: int | None = None,
    eig_ncv: int | None = None,
    trace: bool | dict[str, Any] = True,
    density: bool | dict[str, Any] = True,
    seed: int = 0,
    mode: str = "reverse",
    progress: bool = False,
    top: EigenResult | None = None,
) -> tuple[dict[str, Any], DensityResult | None]:
    """Top / bottom eigenpairs, trace and spectral density of the objective's Hessian.

    Returns the JSON-ready report (keys documented in docs/hessian.md) and the density result
    (``None`` when ``density`` is off or the loss is not finite). ``trace`` and ``density`` take
    ``True``/``False`` or a dict of options for :func:`hutchinson_trace` / :func:`slq_density`; the
    trace's ``deflate`` option is a bool here (default true: deflate by every computed eigenpair, top and
    bottom). ``top``: the top ``top_k`` pairs, already computed at ``eig_tol`` (e.g.
    :func:`eigenpairs_from_directions`), used instead of computing them (ValueError if the count differs).
    """
    if top is not None and top.eigenvalues.size != top_k:
        raise ValueError(f"given {top.eigenvalues.size} top eigenpairs, but top_k is {top_k}")
    trace_opts = _options("trace", trace, hutchinson_trace)
    deflate = trace_opts.pop("deflate", True) if trace_opts is not None else False
    density_opts = _options("density", density, slq_density)
    for name, value in (("top_k", top_k), ("bottom_k", bottom_k)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"Hessian setting {name} must be an integer >= 0, got {value!r}")
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(4)]
    smooth, note = smoothness(require_objective(objective))
    settings = {
        "top_k": top_k,
        "bottom_k": bottom_k,
        "eig_tol": eig_tol,
        "eig_maxiter": eig_maxiter,
        "eig_ncv": eig_ncv,
        "trace": None if trace_opts is None else {**trace_opts, "deflate": deflate},
        "density": density_opts,
        "seed": seed,
        "mode": mode,
    }
    t0 = time.perf_counter()
    op = HessianOperator(objective, mode=mode)
    report: dict[str, Any] = {
        "status": "ok",
        "n_params": op.size,
        "dtype": str(op.dtype).removeprefix("torch."),
        "device": str(op.device),
        "hvp_mode": mode,
        "loss": op.loss,
        "grad_norm": op.grad_norm,
        "twice_differentiable": smooth,
        "note": note,
        "settings": settings,
        "top": None,
        "bottom": None,
        "trace": None,
        "density": None,
        "seconds": {},
    }
    if not (np.isfinite(op.loss) and np.isfinite(op.grad_norm)):
        report["status"] = "nonfinite"
        report["message"] = (
            f"loss {op.loss} / gradient norm {op.grad_norm} not finite at the model's parameters; no Hessian analysis"
        )
        report["n_hvp"] = {"total": 0}
        return report, None
    report["seconds"]["setup"] = time.perf_counter() - t0
    eig = {"tol": eig_tol, "maxiter": eig_maxiter, "ncv": eig_ncv}
    computed = []
    for key, k, which, s in (("top", top_k, "LA", seeds[0]), ("bottom", bottom_k, "SA", seeds[1])):
        if key == "top" and top is not None:
            computed.append(top)
            report[key] = top.to_json()
        elif k:
            computed.append(_timed(report, key, partial(top_eigenpairs, op, k, which=which, seed=s, **eig)))
            report[key] = computed[-1].to_json()
    if trace_opts is not None:
        report["trace"] = _timed(
            report,
            "trace",
            lambda: hutchinson_trace(
                op, deflate=computed if deflate else None, seed=seeds[2], progress=progress, **trace_opts
            ),
        ).to_json()
    dens = None
    if density_opts is not None:
        dens = _timed(report, "density", lambda: slq_density(op, seed=seeds[3], progress=progress, **density_opts))
        report["density"] = dens.summary()
    report["n_hvp"] = {k: report[k]["n_hvp"] for k in ("top", "bottom", "trace", "density") if report[k]}
    report["n_hvp"]["total"] = op.n_hvp
    return report, dens


def _timed(report: dict[str, Any], key: str, fn):
    start = time.perf_counter()
    out = fn()
    report["seconds"][key] = time.perf_counter() - start
    return out


def plot_density(
    dens: DensityResult | None, path: str | Path, *, title: str = "", eigenvalues: list[float] | None = None
) -> None:
    """Eigenvalue spectral density (PNG) over log10 |lambda|, positive and negative eigenvalues apart, each
    quadrature node broadened by its local spacing (``losstopo.curvature.spectral_density``), top eigenvalues marked."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend to pick

    fig = Figure(figsize=(8, 3.5), layout="constrained")
    axes = fig.subplots(1, 2)
    if dens is None:
        for ax in axes:
            ax.text(0.5, 0.5, "no spectral density computed", ha="center", va="center", transform=ax.transAxes)
    else:
        signed = signed_log_density(dens.nodes, dens.weights)
        draw(axes, curves(signed), [signed])
        for value in eigenvalues or []:
            axes[0 if value > 0 else 1].axvline(abs(value), color="C3", lw=0.8, ls="--")
    fig.suptitle(title, fontsize=9)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)


# `losstopo hessian --settings` keys beyond the config's hessian block: options of analyze()
CLI_ONLY_SETTINGS = ("eig_maxiter", "eig_ncv", "mode")


def main(args) -> int:
    """``losstopo hessian``: analyse one trained run; write hessian.json, the density .npz and its plot."""
    settings = validate_block("hessian", args.settings, extra=CLI_ONLY_SETTINGS)
    settings.pop("enabled", None)  # the workflow's switch, not an option of the analysis
    dtype = resolve_dtype(settings.pop("precision", "float64"))
    device = resolve_device(args.device)
    top = None
    if getattr(args, "directions", None):  # the top eigenpairs of the Hessian directions, at the same tolerance
        if dtype != torch.float64:
            raise ValueError(
                f"--directions: Hessian directions are float64 eigenpairs, hessian.precision asks for {dtype}"
            )
        top_k, tol = settings.get("top_k", default("hessian", "top_k")), settings.get("eig_tol", DEFAULT_EIG_TOL)
        top = eigenpairs_from_directions(load_npz(args.directions), top_k, tol, args.directions)
        if top is None:
            print(
                f"hessian: {args.directions} holds no eigenpairs (skipped, or older): computing them", file=sys.stderr
            )
    family, model, hp, seed, train_info = load_trained(args.run_dir, device)
    model = model.to(dtype)
    objective = family.objective(model, hp, seed, device, dtype)
    report, dens = analyze(objective, progress=True, top=top, **settings)
    report["run_dir"] = str(args.run_dir)
    report["train_status"] = train_info.get("status")
    save_json(args.out_json, report)
    arrays = dens.arrays() if dens is not None else {k: np.zeros(0) for k in DensityResult.ARRAYS}
    save_npz(args.out_density, **arrays, metadata={"run_dir": str(args.run_dir), "density": report["density"]})
    if args.out_plot:
        top = report["top"]["eigenvalues"] if report["top"] else None
        plot_density(dens, args.out_plot, title=str(args.run_dir), eigenvalues=top)
    top = report["top"]
    print(
        f"hessian {args.run_dir}: P={report['n_params']} top={top['eigenvalues'] if top else None} "
        f"trace={report['trace']['value'] if report['trace'] else None} HVPs={report['n_hvp']['total']}",
        file=sys.stderr,
    )
    return 0
