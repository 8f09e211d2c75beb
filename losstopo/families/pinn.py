"""PINN for the 1-D convection equation (Krishnapriyan et al., NeurIPS 2021).

u_t + beta u_x = 0 on x in [0, 2 pi), t in [0, 1]; u(x, 0) = sin x; periodic in x. Exact solution
u(x, t) = sin(x - beta t).

The residual u_t + beta u_x is the derivative of the network along the constant input direction
v = (beta, 1), so the network propagates one forward-mode tangent next to its values (plain tensor
ops, no autograd on the inputs). That keeps the loss a pure function of the parameters that
``torch.func.vmap``, ``grad`` and ``jvp`` handle at any nesting depth, and costs about two forward
passes instead of a forward plus two input gradients.

Training defaults: float32, 500 uniform random collocation points, at most 1000 L-BFGS iterations,
one schedule for every beta. It is the cheapest schedule we measured that puts the failure transition
where the paper does (relative L2 error ~1e-2 at beta = 10, > 0.85 at beta >= 20; docs/pinn.md
has the table): a float64 loss evaluation costs about 2.5x more on a CPU for the same errors, and 500
points converge in fewer iterations than the paper's 1000 (which need ~1500) while 100 overfit.
Landscapes and Hessians are evaluated in their own precision (float64 by default) through
``objective``, whatever the training precision.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from losstopo.device import resolve_device, resolve_dtype
from losstopo.families.base import Objective, TrainResult

log = logging.getLogger(__name__)

ACTIVATIONS = ("tanh", "sin", "gelu", "softplus", "relu")
OPTIMIZERS = ("lbfgs", "adam+lbfgs")

PARAMS: dict[str, dict[str, Any]] = {
    "beta": {"type": "number", "minimum": 0, "default": 1.0,
             "description": "convection coefficient beta in u_t + beta u_x = 0"},
    "width": {"type": "integer", "minimum": 1, "default": 50, "description": "units per hidden layer"},
    "depth": {"type": "integer", "minimum": 1, "default": 4, "description": "number of hidden layers"},
    "activation": {"type": "string", "enum": list(ACTIVATIONS), "default": "tanh",
                   "description": "hidden-layer activation"},
    "n_collocation": {"type": "integer", "minimum": 1, "default": 500,
                      "description": "interior collocation points for the PDE residual (seeded, uniform)"},
    "n_initial": {"type": "integer", "minimum": 1, "default": 256,
                  "description": "points on t = 0 for the initial condition u(x, 0) = sin x"},
    "n_boundary": {"type": "integer", "minimum": 1, "default": 100,
                   "description": "times t at which u(0, t) and u(2 pi, t) are matched (periodic boundary)"},
    "optimizer": {"type": "string", "enum": list(OPTIMIZERS), "default": "lbfgs",
                  "description": "L-BFGS alone, or Adam first and then L-BFGS"},
    "lr": {"type": "number", "exclusiveMinimum": 0, "default": 1.0, "description": "L-BFGS learning rate"},
    "lbfgs_steps": {"type": "integer", "minimum": 0, "default": 1000,
                    "description": "maximum L-BFGS iterations (it stops earlier when converged)"},
    "lbfgs_history": {"type": "integer", "minimum": 1, "default": 50,
                      "description": "L-BFGS history size (curvature pairs kept)"},
    "adam_lr": {"type": "number", "exclusiveMinimum": 0, "default": 1e-3,
                "description": "Adam learning rate (optimizer adam+lbfgs only)"},
    "adam_steps": {"type": "integer", "minimum": 0, "default": 1000,
                   "description": "Adam steps before L-BFGS (optimizer adam+lbfgs only)"},
    "dtype": {"type": "string", "enum": ["float32", "float64"], "default": "float32",
              "description": "training precision (landscapes use their own, float64 by default)"},
}

PERFORMANCE_METRICS = ("rel_l2_error", "final_loss")

LOG_EVERY = 50  # optimiser iterations per history row / on_epoch call
EVAL_NX, EVAL_NT = 256, 100  # the error grid of the paper


def _activation(name: str) -> tuple[Callable, Callable]:
    """The activation a = f(z) and its tangent map (z, a, dz) -> f'(z) dz, both plain tensor ops."""
    if name == "tanh":
        return torch.tanh, lambda z, a, dz: torch.addcmul(dz, a, a * dz, value=-1)  # (1 - a^2) dz, one pass less
    if name == "sin":
        return torch.sin, lambda z, a, dz: torch.cos(z) * dz
    if name == "gelu":
        def gelu_tangent(z, a, dz):
            cdf = 0.5 * (1 + torch.erf(z * (1 / math.sqrt(2))))
            return (cdf + z * torch.exp(-0.5 * z * z) * (1 / math.sqrt(2 * math.pi))) * dz
        return F.gelu, gelu_tangent
    if name == "softplus":
        return F.softplus, lambda z, a, dz: torch.sigmoid(z) * dz
    if name == "relu":
        return torch.relu, lambda z, a, dz: torch.where(z > 0, dz, torch.zeros_like(dz))
    raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")


class ConvectionMLP(nn.Module):
    """Fully connected net (x, t) -> u that can also return the derivative along a fixed input direction."""

    def __init__(self, width: int, depth: int, activation: str):
        super().__init__()
        sizes = [2] + [width] * depth + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self._act, self._tangent = _activation(activation)
        for layer in self.layers:  # Xavier-normal weights, zero biases: the usual PINN initialisation
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, xt: torch.Tensor, tangent: torch.Tensor | None = None, tangent_rows: int | None = None):
        """u at the rows of ``xt`` (N, 2); with ``tangent`` (2,), also du/ds along that input direction.

        The derivative is propagated for the first ``tangent_rows`` rows only (all by default), as
        (u (N,), du (tangent_rows,)).
        """
        n = xt.shape[-2] if tangent_rows is None else tangent_rows
        h, dh = xt, tangent
        for layer in self.layers[:-1]:
            z = F.linear(h, layer.weight, layer.bias)
            h = self._act(z)
            if dh is not None:
                dh = self._tangent(z[..., :n, :], h[..., :n, :], F.linear(dh, layer.weight))
        last = self.layers[-1]
        u = F.linear(h, last.weight, last.bias).squeeze(-1)
        if dh is None:
            return u
        return u, F.linear(dh, last.weight).squeeze(-1)


def build_model(hp: dict[str, Any]) -> nn.Module:
    """A freshly initialised network in the training precision ``hp["dtype"]``."""
    model = ConvectionMLP(int(hp["width"]), int(hp["depth"]), hp["activation"])
    return model.to(resolve_dtype(hp["dtype"]))


@dataclass(frozen=True)
class CollocationSet:
    """Every input point of the loss, concatenated so one forward pass evaluates all terms."""

    xt: torch.Tensor  # (n_res + n_ic + 2 n_bc, 2): residual points, then t = 0, then x = 0, then x = 2 pi
    u_initial: torch.Tensor  # sin x at the t = 0 points
    tangent: torch.Tensor  # (beta, 1): d/ds along it is u_t + beta u_x
    n_res: int
    n_ic: int
    n_bc: int


def collocation_points(hp: dict[str, Any], seed: int, device, dtype) -> CollocationSet:
    """The fixed, seeded points of the loss; the same (hp, seed) always gives the same set."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x9199]))  # own stream, not torch's init
    n_res, n_ic, n_bc = int(hp["n_collocation"]), int(hp["n_initial"]), int(hp["n_boundary"])
    two_pi = 2 * np.pi
    res = np.column_stack([rng.uniform(0, two_pi, n_res), rng.uniform(0, 1, n_res)])
    x_ic = rng.uniform(0, two_pi, n_ic)
    t_bc = rng.uniform(0, 1, n_bc)
    xt = np.concatenate([res, np.column_stack([x_ic, np.zeros(n_ic)]),
                         np.column_stack([np.zeros(n_bc), t_bc]), np.column_stack([np.full(n_bc, two_pi), t_bc])])
    as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return CollocationSet(xt=as_t(xt), u_initial=as_t(np.sin(x_ic)), tangent=as_t([float(hp["beta"]), 1.0]),
                          n_res=n_res, n_ic=n_ic, n_bc=n_bc)


def _mean_square(r: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.square(r.to(torch.float64)))  # reduced in float64 whatever the net's precision


def loss_terms(forward: Callable, pts: CollocationSet) -> dict[str, torch.Tensor]:
    """Initial-condition, PDE-residual and periodic-boundary mean squares, and their sum ``loss``.

    ``forward(xt, tangent, tangent_rows) -> (u, du)`` is the network (or any function of (x, t) with its
    derivative along ``tangent`` at the first ``tangent_rows`` rows: the residual points).
    """
    u, du = forward(pts.xt, pts.tangent, pts.n_res)
    a, b = pts.n_res, pts.n_res + pts.n_ic
    terms = {
        "loss_ic": _mean_square(u[a:b] - pts.u_initial),
        "loss_pde": _mean_square(du),
        "loss_bc": _mean_square(u[b:b + pts.n_bc] - u[b + pts.n_bc:]),
    }
    terms["loss"] = terms["loss_ic"] + terms["loss_pde"] + terms["loss_bc"]
    return terms


def evaluation_grid(beta: float, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's 256 (x) by 100 (t) error grid as rows (x, t), and the exact solution on it."""
    x = torch.linspace(0, 2 * math.pi, EVAL_NX + 1, dtype=torch.float64)[:-1]  # endpoint excluded
    t = torch.linspace(0, 1, EVAL_NT, dtype=torch.float64)
    tt, xx = torch.meshgrid(t, x, indexing="ij")
    xt = torch.stack([xx.reshape(-1), tt.reshape(-1)], dim=1)
    u = torch.sin(xt[:, 0] - beta * xt[:, 1])
    return xt.to(device=device, dtype=dtype), u.to(device=device)


def relative_l2(u_hat: torch.Tensor, u: torch.Tensor) -> float:
    """||u - u_hat|| / ||u||, in float64."""
    u_hat, u = u_hat.detach().to(torch.float64), u.detach().to(torch.float64)
    return float(torch.linalg.vector_norm(u - u_hat) / torch.linalg.vector_norm(u))


def rel_l2_error(model: nn.Module, beta: float) -> float:
    """Relative L2 error of the model against sin(x - beta t) on the evaluation grid."""
    p = next(model.parameters())
    xt, u = evaluation_grid(beta, dtype=p.dtype, device=p.device)
    with torch.no_grad():
        return relative_l2(model(xt), u)


def _finite_params(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def train(model: nn.Module, hp: dict[str, Any], seed: int, device="auto", on_epoch=None) -> TrainResult:
    """Fit in place: optional Adam phase, then L-BFGS (strong Wolfe), logging every LOG_EVERY iterations."""
    device, dtype = resolve_device(device), resolve_dtype(hp["dtype"])
    model.to(device=device, dtype=dtype)
    pts = collocation_points(hp, seed, device, dtype)
    params = list(model.parameters())
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    state = {"epoch": 0, "iteration": 0}

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            return {k: float(v) for k, v in loss_terms(model, pts).items()}

    def record(phase: str, iterations: int) -> str | None:
        """Log one history row; the reason if the run diverged."""
        state["epoch"] += 1
        state["iteration"] += iterations
        row = {"epoch": state["epoch"], "phase": phase, "iteration": state["iteration"], **evaluate(),
               "elapsed_s": time.perf_counter() - start}
        history.append(row)
        log.info("%s iter %d: loss %.3e (ic %.2e, pde %.2e, bc %.2e)", phase, row["iteration"], row["loss"],
                 row["loss_ic"], row["loss_pde"], row["loss_bc"])
        if on_epoch is not None:
            on_epoch(state["epoch"], model)
        if not math.isfinite(row["loss"]):
            return f"non-finite loss {row['loss']} in {phase} at iteration {row['iteration']}"
        if not _finite_params(model):
            return f"non-finite parameters in {phase} at iteration {row['iteration']}"
        return None

    def closure():
        optimizer.zero_grad()
        loss = loss_terms(model, pts)["loss"]
        loss.backward()
        return loss

    def guarded_step(optimizer, phase: str) -> str | None:
        """One optimiser step; the divergence reason if it failed on non-finite numbers (L-BFGS raises then)."""
        try:
            optimizer.step(closure)
        except (RuntimeError, ValueError) as exc:
            if math.isfinite(evaluate()["loss"]) and _finite_params(model):
                raise
            return f"{phase} step failed on non-finite values at iteration {state['iteration']}: {exc}"
        return None

    reason = None
    if hp["optimizer"] == "adam+lbfgs":
        optimizer = torch.optim.Adam(params, lr=float(hp["adam_lr"]))
        remaining = int(hp["adam_steps"])
        while remaining > 0 and reason is None:
            done = 0
            while done < min(LOG_EVERY, remaining) and reason is None:
                reason = guarded_step(optimizer, "adam")
                done += 1
            remaining -= done
            diverged = record("adam", done)
            reason = reason or diverged

    remaining = int(hp["lbfgs_steps"])
    optimizer = torch.optim.LBFGS(params, lr=float(hp["lr"]), max_iter=LOG_EVERY,
                                  history_size=int(hp["lbfgs_history"]), line_search_fn="strong_wolfe")
    while remaining > 0 and reason is None:
        chunk = min(LOG_EVERY, remaining)
        # max_eval never binds (at most 25 line-search evaluations per iteration), so a chunk that ends
        # early means L-BFGS met its tolerance
        optimizer.param_groups[0].update(max_iter=chunk, max_eval=25 * chunk)
        before = optimizer.state[params[0]].get("n_iter", 0)
        reason = guarded_step(optimizer, "lbfgs")
        done = optimizer.state[params[0]].get("n_iter", 0) - before
        remaining -= done
        diverged = record("lbfgs", done)
        reason = reason or diverged
        if done < chunk:
            break  # converged (or could not move): further calls would not change anything

    final = evaluate()
    if reason is None and not (math.isfinite(final["loss"]) and _finite_params(model)):
        reason = "non-finite loss or parameters at the end of training"
    error = rel_l2_error(model, float(hp["beta"])) if _finite_params(model) else float("nan")
    metrics = {"rel_l2_error": error, "final_loss": final["loss"], "loss_ic": final["loss_ic"],
               "loss_pde": final["loss_pde"], "loss_bc": final["loss_bc"], "iterations": state["iteration"]}
    if reason is not None:
        log.warning("training diverged: %s", reason)
        return TrainResult(history=history, metrics=metrics, status="diverged", reason=reason)
    log.info("done: loss %.3e, relative L2 error %.3e", final["loss"], error)
    return TrainResult(history=history, metrics=metrics)


def objective(model: nn.Module, hp: dict[str, Any], seed: int, device="auto", dtype=torch.float64) -> Objective:
    """The training loss on the training collocation set, as a pure function of a parameter dict.

    The model is copied (moved to ``device``/``dtype``), so the caller's model is left untouched.
    """
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    net = copy.deepcopy(model).to(device=device, dtype=dtype)
    pts = collocation_points(hp, seed, device, dtype)

    def forward_with(params):
        return lambda xt, tangent, rows: torch.func.functional_call(net, params, (xt, tangent, rows))

    def loss_fn(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return loss_terms(forward_with(params), pts)["loss"]

    n_points = pts.xt.shape[0]
    width, depth = int(hp["width"]), int(hp["depth"])
    metadata = {
        "family": "pinn", "eval_set": "the training collocation set (seeded by the run seed)",
        "seed": int(seed), "beta": float(hp["beta"]), "n_collocation": pts.n_res, "n_initial": pts.n_ic,
        "n_boundary": pts.n_bc, "loss": "mean sq. initial error + mean sq. PDE residual + mean sq. periodic mismatch",
        "dtype": str(dtype).removeprefix("torch."),
        # working memory of one evaluation (values, slopes and tangents per hidden unit): sizes sampling chunks
        "bytes_per_eval": int(n_points * width * depth * 6 * torch.finfo(dtype).bits // 8),
    }
    return Objective(model=net, loss_fn=loss_fn, metadata=metadata)
