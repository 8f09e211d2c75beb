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
from losstopo.objective import Objective
from losstopo.sweep.hparams.pinn import ACTIVATIONS, LOG_EVERY
from losstopo.sweep.hparams.pinn import PARAMS as PARAMS  # the family surface (losstopo.training.families)
from losstopo.sweep.hparams.pinn import PERFORMANCE_METRICS as PERFORMANCE_METRICS
from losstopo.training.loop import TrainResult

log = logging.getLogger(__name__)


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


class TanhWorkspace:
    """The hidden-layer buffers of ``batched_tanh_forward``, kept from one call to the next.

    Fresh buffers of this size (megabytes per chunk) are mapped anew by the C allocator on every call and
    faulted in page by page: measured ~700-950 minor page faults per 2-point float64 forward, about a third
    of its CPU time, as system time. A buffer serves any batch up to the largest one seen (the leading
    ``batch`` entries of it); other shapes, dtypes or devices replace it. Not for concurrent calls.
    """

    def __init__(self):
        self._buffers: dict[str, torch.Tensor] = {}

    def take(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised tensor of ``shape`` (batch first) with ``like``'s dtype and device."""
        buf = self._buffers.get(name)
        if (
            buf is None
            or buf.shape[1:] != shape[1:]
            or buf.shape[0] < shape[0]
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = self._buffers[name] = like.new_empty(shape)
        return buf[: shape[0]]


def batched_tanh_forward(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    xt: torch.Tensor,
    tangent: torch.Tensor,
    tangent_rows: int,
    workspace: TanhWorkspace | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """B tanh networks at once, with their derivative along ``tangent``: the sampler's fast path.

    ``weights[i]`` (B, out, in) and ``biases[i]`` (B, out) are layer i of B networks (layer 0 takes
    the 2 inputs, the hidden layers share one width, the last gives u); ``xt`` (N, 2); ``tangent``
    (2,), all of one dtype and device. Returns u (B, N) and du/ds
    (B, tangent_rows) at the first ``tangent_rows`` rows: what ``ConvectionMLP.forward`` returns for
    each network, to rounding (tests compare it with ``torch.vmap`` of the plain objective). The
    hidden layers write into ``workspace`` (a new one when None: pass the same one to repeated calls);
    the returned tensors are new.

    Method: with s = sigmoid(2 z), tanh z = 2 s - 1 and tanh' z = 4 s (1 - s), so the hidden layers can
    carry s and t = s (1 - s) dz instead of h and dh. The next layer's pre-activation and tangent are
    then 2 z' = (4 W) s + 2 (b - W 1) and dz' = (4 W) t: one weight matrix for both, built per network
    (B x out x in, cheap), and per layer one batched product for the values (bias fused), one for
    the tangents, a sigmoid and one pass for t (``sigmoid_backward`` computes dz (1 - s) s): fewer and
    cheaper elementwise passes than the plain forward (on a CPU, torch.tanh alone costs more than the
    matrix products). For evaluation only: it writes in place, so autograd cannot differentiate it.
    """
    workspace = TanhWorkspace() if workspace is None else workspace
    n, r = xt.shape[-2], int(tangent_rows)
    batch, width = weights[0].shape[:2]
    # feature-major (B, units, rows): W @ S measured 15-25 % faster than S @ W^T for these shapes on a CPU;
    # the hidden layers alternate between two buffer pairs
    pairs = [
        (workspace.take(f"s{i}", (batch, width, n), xt), workspace.take(f"t{i}", (batch, width, r), xt)) for i in (0, 1)
    ]
    # layer 0: 2 z = 2 (W x + b) for all B networks in one product (their inputs are shared);
    # its tangent W v is the same for every row
    x1 = torch.cat([xt.transpose(0, 1), xt.new_ones(1, n)])  # (3, N): x, t and a row of ones for the bias
    w1 = torch.cat([weights[0], biases[0].unsqueeze(2)], dim=2).mul_(2)  # (B, width, 3)
    z = torch.mm(w1.view(batch * width, -1), x1, out=pairs[0][0].view(batch * width, n)).view(batch, width, n)
    s = torch.sigmoid(z, out=z)
    dz = torch.matmul(weights[0], tangent).unsqueeze(2).expand(batch, width, r)
    t = torch.ops.aten.sigmoid_backward.grad_input(dz, s[..., :r], grad_input=pairs[0][1])
    spare = pairs[1]
    for w, b in zip(weights[1:-1], biases[1:-1]):
        w4 = w * 4
        z = torch.baddbmm((b - w.sum(-1)).mul_(2).unsqueeze(2), w4, s, out=spare[0])
        dz = torch.bmm(w4, t, out=spare[1])
        spare = s, t
        s = torch.sigmoid(z, out=z)
        t = torch.ops.aten.sigmoid_backward.grad_input(dz, s[..., :r], grad_input=dz)
    # output layer: u = W h + b = 2 W s + (b - W 1), du = W dh = 4 W t
    w, b = weights[-1], biases[-1]
    u = torch.baddbmm((b - w.sum(-1)).unsqueeze(2), w, s, alpha=2).squeeze(-2)
    du = torch.bmm(w, t).mul_(4).squeeze(-2)
    return u, du


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
    xt = np.concatenate(
        [
            res,
            np.column_stack([x_ic, np.zeros(n_ic)]),
            np.column_stack([np.zeros(n_bc), t_bc]),
            np.column_stack([np.full(n_bc, two_pi), t_bc]),
        ]
    )
    as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return CollocationSet(
        xt=as_t(xt),
        u_initial=as_t(np.sin(x_ic)),
        tangent=as_t([float(hp["beta"]), 1.0]),
        n_res=n_res,
        n_ic=n_ic,
        n_bc=n_bc,
    )


def _mean_square(r: torch.Tensor) -> torch.Tensor:
    """Mean square over the last axis, reduced in float64 whatever the net's precision."""
    return torch.mean(torch.square(r.to(torch.float64)), dim=-1)


def loss_terms(forward: Callable, pts: CollocationSet) -> dict[str, torch.Tensor]:
    """Initial-condition, PDE-residual and periodic-boundary mean squares, and their sum ``loss``.

    ``forward(xt, tangent, tangent_rows) -> (u, du)`` is the network (or any function of (x, t) with its
    derivative along ``tangent`` at the first ``tangent_rows`` rows: the residual points). ``u`` and
    ``du`` may carry leading batch dimensions (one network per batch entry); the terms then do too.
    """
    u, du = forward(pts.xt, pts.tangent, pts.n_res)
    a, b = pts.n_res, pts.n_res + pts.n_ic
    terms = {
        "loss_ic": _mean_square(u[..., a:b] - pts.u_initial),
        "loss_pde": _mean_square(du),
        "loss_bc": _mean_square(u[..., b : b + pts.n_bc] - u[..., b + pts.n_bc :]),
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


def performance(model: nn.Module, terms: dict[str, float], beta: float) -> dict[str, float]:
    """The performance metrics of the model's current weights, given its loss ``terms`` there (``loss_terms``):
    ``rel_l2_error`` (NaN for non-finite weights), ``final_loss`` and the loss terms."""
    error = rel_l2_error(model, beta) if _finite_params(model) else float("nan")
    return {
        "rel_l2_error": error,
        "final_loss": terms["loss"],
        "loss_ic": terms["loss_ic"],
        "loss_pde": terms["loss_pde"],
        "loss_bc": terms["loss_bc"],
    }


def train(model: nn.Module, hp: dict[str, Any], seed: int, device="auto", on_epoch=None) -> TrainResult:
    """Fit in place: optional Adam phase, then L-BFGS (strong Wolfe), logging every LOG_EVERY iterations.

    ``on_epoch(epoch, model, metrics)`` is called after each logged chunk, with the history row and the
    ``performance`` of the weights at that point (the relative L2 error costs one pass over the error grid)."""
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
        row = {
            "epoch": state["epoch"],
            "phase": phase,
            "iteration": state["iteration"],
            **evaluate(),
            "elapsed_s": time.perf_counter() - start,
        }
        history.append(row)
        log.info(
            "%s iter %d: loss %.3e (ic %.2e, pde %.2e, bc %.2e)",
            phase,
            row["iteration"],
            row["loss"],
            row["loss_ic"],
            row["loss_pde"],
            row["loss_bc"],
        )
        if on_epoch is not None:
            on_epoch(state["epoch"], model, row | performance(model, row, float(hp["beta"])))
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
    optimizer = torch.optim.LBFGS(
        params,
        lr=float(hp["lr"]),
        max_iter=LOG_EVERY,
        history_size=int(hp["lbfgs_history"]),
        line_search_fn="strong_wolfe",
    )
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
    metrics = performance(model, final, float(hp["beta"])) | {"iterations": state["iteration"]}
    if reason is not None:
        log.warning("training diverged: %s", reason)
        return TrainResult(history=history, metrics=metrics, status="diverged", reason=reason)
    log.info("done: loss %.3e, relative L2 error %.3e", final["loss"], metrics["rel_l2_error"])
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

    # the CPU path reuses its buffers from chunk to chunk (TanhWorkspace: page faults); CUDA's caching
    # allocator reuses memory already, and a held buffer would outlive an out-of-memory retry
    workspace = TanhWorkspace() if device.type == "cpu" else None

    def batched_loss_fn(params: dict[str, torch.Tensor]) -> torch.Tensor:
        weights = [params[f"layers.{i}.weight"] for i in range(len(net.layers))]
        biases = [params[f"layers.{i}.bias"] for i in range(len(net.layers))]
        return loss_terms(
            lambda xt, tangent, rows: batched_tanh_forward(weights, biases, xt, tangent, rows, workspace), pts
        )["loss"]

    n_points = pts.xt.shape[0]
    width, depth = int(hp["width"]), int(hp["depth"])
    metadata = {
        "family": "pinn",
        "eval_set": "the training collocation set (seeded by the run seed)",
        "seed": int(seed),
        "beta": float(hp["beta"]),
        "n_collocation": pts.n_res,
        "n_initial": pts.n_ic,
        "n_boundary": pts.n_bc,
        "loss": "mean sq. initial error + mean sq. PDE residual + mean sq. periodic mismatch",
        "dtype": str(dtype).removeprefix("torch."),
        # working memory of one evaluation (values, slopes and tangents per hidden unit): sizes sampling chunks
        "bytes_per_eval": int(n_points * width * depth * 6 * torch.finfo(dtype).bits // 8),
    }
    return Objective(
        model=net,
        loss_fn=loss_fn,
        metadata=metadata,
        batched_loss_fn=batched_loss_fn if hp["activation"] == "tanh" else None,
    )
