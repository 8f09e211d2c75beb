"""The objective that the landscape and curvature stages share: a fixed loss as a pure function of the
parameters, for any ``torch.nn.Module``.

:func:`make_objective` builds one from a model and a loss (a criterion on ``(inputs, targets)``, a data
loader's batches, a custom ``loss(output, batch)`` or a pure ``loss_fn(params)``); the model families
build theirs in their own ``objective(...)`` on :func:`functional_loss`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from losstopo.device import resolve_dtype

# Modules whose output in training mode is random or not the model's function of its parameters alone:
# dropout and RReLU draw random numbers; batch norm with running statistics normalises by the batch and
# updates its running statistics on every call.
TRAINING_MODE_DEPENDENT = (nn.modules.dropout._DropoutNd, nn.RReLU, nn.modules.batchnorm._BatchNorm)


@dataclass
class Objective:
    """The fixed loss a landscape or a Hessian is computed from, as a pure function of the parameters.

    ``loss_fn`` takes a dict ``{name: tensor}`` with the names and shapes of ``model.named_parameters()``
    and returns a scalar tensor. It must be safe under ``torch.func.vmap`` (a batch of parameter
    dicts) and ``torch.func.grad`` / ``jvp`` (Hessian-vector products). Its evaluation set is fixed and
    seeded, so calling it twice with the same parameters gives the same number.

    ``batched_loss_fn`` is an optional specialised evaluation of a batch: it takes the same dict with a
    leading batch dimension B on every tensor and returns the (B,) losses. It must equal
    ``torch.vmap(loss_fn)`` up to rounding (each family that supplies one tests that); the sampler
    uses it instead of ``vmap`` when present.
    """

    model: nn.Module
    loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    batched_loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None

    def loss_of_model(self) -> torch.Tensor:
        """The loss at the model's current parameters (the plain, unbatched path)."""
        return self.loss_fn(dict(self.model.named_parameters()))

    def check_eval_mode(self) -> None:
        """Raise ValueError naming every module in training mode whose output depends on it
        (``TRAINING_MODE_DEPENDENT``: dropout, RReLU, batch norm with running statistics). Costs no evaluation."""
        training = [
            f"{name or '(the model)'} ({type(m).__name__})"
            for name, m in self.model.named_modules()
            if m.training and isinstance(m, TRAINING_MODE_DEPENDENT) and getattr(m, "track_running_stats", True)
        ]
        if training:
            raise ValueError(
                f"the objective is not deterministic: module(s) in training mode: {', '.join(training)}; "
                "evaluate the model in eval mode (model.eval()) so the loss is a fixed function of "
                "the parameters"
            )

    def check_deterministic(self) -> Any:
        """Raise ValueError naming the cause if the loss is not a fixed function of the parameters; return
        the loss at the model's parameters (what ``loss_fn`` returned, without gradient) otherwise.

        Causes: a module in training mode whose output depends on it (:meth:`check_eval_mode`), or
        randomness: an evaluation that draws from torch's global random generator (CPU, or the CUDA
        device of the parameters). Costs one evaluation.
        """
        self.check_eval_mode()
        device = next(self.model.parameters(), torch.empty(0)).device

        def rng_states() -> list[torch.Tensor]:
            return [torch.get_rng_state()] + ([torch.cuda.get_rng_state(device)] if device.type == "cuda" else [])

        before = rng_states()
        with torch.no_grad():
            loss = self.loss_of_model()
        if any(not torch.equal(a, b) for a, b in zip(before, rng_states())):
            raise ValueError(
                "the objective is not deterministic: evaluating it draws random numbers (torch's "
                "random generator advanced during one evaluation); a landscape or Hessian of a "
                "random loss is noise"
            )
        return loss


def functional_loss(
    net: nn.Module, batches: list[tuple[Any, Any]], batch_loss: Callable[[Any, Any], torch.Tensor], denominator: float
) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """``loss_fn(params) = sum_b batch_loss(net(inputs_b), extra_b) / denominator`` over ``batches`` =
    [(inputs_b, extra_b), ...], with ``net`` evaluated by ``torch.func.functional_call`` on ``params`` and its
    own buffers held as constants (BatchNorm's running statistics in eval mode), so the loss is a pure
    function of the parameters: safe under ``torch.func.vmap``, ``grad`` and ``jvp``. The buffers are
    views of ``net``'s, so writing into ``net``'s buffers (mode connectivity) changes the loss."""
    buffers = {name: b.detach() for name, b in net.named_buffers()}

    def loss_fn(params: dict[str, torch.Tensor]) -> torch.Tensor:
        total = 0.0
        for inputs, extra in batches:
            total = total + batch_loss(torch.func.functional_call(net, (params, buffers), (inputs,)), extra)
        return total / denominator

    return loss_fn


# ------------------------------------------------------------------------------------- any model


def _name(fn: Any) -> str:
    """How an error message names a loss: the class of a module, else the function's qualified name."""
    if isinstance(fn, nn.Module):
        return type(fn).__name__
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _on(value: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """A batch element on ``device``: arrays become tensors, floating tensors take ``dtype``; the rest as given."""
    if isinstance(value, np.ndarray):
        value = torch.as_tensor(value)
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
    return value


def _is_array(value: Any) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray))


def fixed_batches(
    data: Any, device: torch.device, dtype: torch.dtype, batch_size: int | None = None, max_batches: int | None = None
) -> list[Any]:
    """The evaluation set as a list of batches, each a tensor (the inputs) or a tuple (inputs, targets, ...).

    ``data`` is one tensor, one tuple of tensors (split into ``batch_size`` rows when given), or any other
    iterable of batches (a ``DataLoader``), iterated once, its first ``max_batches`` batches kept. Raises
    ValueError naming ``data`` when it is empty, a batch is neither a tensor nor a tuple starting with one,
    or the tensors of a batch differ in their number of rows.
    """
    if _is_array(data) or (isinstance(data, (tuple, list)) and data and all(_is_array(v) for v in data)):
        whole = _on(data, device, dtype) if _is_array(data) else tuple(_on(v, device, dtype) for v in data)
        if batch_size is None:
            batches = [whole]
        elif int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        elif isinstance(whole, torch.Tensor):
            batches = list(whole.split(int(batch_size)))
        else:
            batches = [tuple(parts) for parts in zip(*(v.split(int(batch_size)) for v in whole))]
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
        batches = []
        for batch in data:
            if max_batches is not None and len(batches) >= int(max_batches):
                break
            batches.append(
                _on(batch, device, dtype) if _is_array(batch) else tuple(_on(v, device, dtype) for v in batch)
            )
    else:
        raise ValueError(
            f"data must be a tensor, a tuple (inputs, targets) of tensors or an iterable of batches "
            f"(e.g. a DataLoader); got {type(data).__name__}"
        )
    if not batches:
        raise ValueError("data holds no batch: the evaluation set is empty")
    for i, batch in enumerate(batches):
        parts = [batch] if isinstance(batch, torch.Tensor) else list(batch)
        if not parts or not isinstance(parts[0], torch.Tensor):
            raise ValueError(
                f"data: batch {i} is not a tensor or a tuple starting with the inputs tensor (for other batches, "
                "e.g. dicts or several inputs, write the loss as loss_fn(params))"
            )
        rows = {len(p) for p in parts if isinstance(p, torch.Tensor) and p.ndim}
        if len(rows) > 1 or parts[0].ndim == 0:
            shapes = ", ".join(str(tuple(p.shape)) for p in parts if isinstance(p, torch.Tensor))
            raise ValueError(f"data: the tensors of batch {i} must have the same number of rows; shapes {shapes}")
    return batches


def _inputs(batch: Any) -> torch.Tensor:
    return batch if isinstance(batch, torch.Tensor) else batch[0]


def _describe(batch: Any) -> str:
    parts = [batch] if isinstance(batch, torch.Tensor) else list(batch)
    return ", ".join(
        f"{tuple(p.shape)} {str(p.dtype).removeprefix('torch.')}" for p in parts if isinstance(p, torch.Tensor)
    )


def _check_value(value: Any, what: str) -> float:
    """The loss as a float; ValueError naming ``what`` if it is not a finite scalar."""
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(
            f"{what} returned {shape}, not a scalar tensor; a loss must reduce over its batch (e.g. reduction='mean')"
        )
    if not torch.isfinite(value):
        raise ValueError(f"{what} is {float(value)} at the model's parameters: the loss must be finite there")
    return float(value)


class _ActivationBytes:
    """Bytes of the outputs of every leaf module during one forward pass (forward hooks)."""

    def __init__(self, net: nn.Module):
        self.total = 0
        leaves = [m for m in net.modules() if not any(True for _ in m.children())]
        self.handles = [m.register_forward_hook(self.hook) for m in leaves]

    def hook(self, module, args, output) -> None:
        for t in output if isinstance(output, (tuple, list)) else [output]:
            if isinstance(t, torch.Tensor):
                self.total += t.numel() * t.element_size()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def make_objective(
    model: nn.Module,
    criterion: Callable[[Any, Any], torch.Tensor] | None = None,
    data: Any = None,
    *,
    loss: Callable[[Any, Any], torch.Tensor] | None = None,
    loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None,
    dtype: torch.dtype | str = torch.float64,
    device: torch.device | str | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Objective:
    """The loss of any model on a fixed evaluation set, as a pure function of its parameters.

    Give exactly one loss:

    - ``criterion(output, targets)`` with ``data`` of (inputs, targets) batches, e.g. ``nn.CrossEntropyLoss()``
      and ``(X, y)``, as PyHessian's ``hessian(model, criterion, data=(X, y))``;
    - ``loss(output, batch)``: any function of the model's output and the whole batch;
    - ``loss_fn(params)``: a pure function of the parameter dict (names of ``model.named_parameters()``;
      tensors in ``dtype`` on ``device``), without ``data``.

    ``data`` is a tensor (the inputs), a tuple (inputs, targets, ...) of tensors or arrays (split into
    ``batch_size`` rows when given) or any iterable of such batches, e.g. a ``DataLoader``, iterated once
    and kept (its first ``max_batches`` batches): a fixed evaluation set. Inputs may have any shape
    (tabular, sequences, images); the model is called on each batch's inputs (its first tensor). The
    loss is the mean of the batch losses weighted by their number of rows, so with a criterion that
    averages over its batch it is the mean over the evaluation set, however it is batched; it is summed in
    float64.

    The model is copied to ``device`` (default: its parameters' device) in ``dtype`` (default float64, as
    the Hessian wants) and evaluated with ``torch.func.functional_call``, its buffers (BatchNorm's running
    statistics) held as constants, so the loss is safe under ``vmap``, ``grad`` and ``jvp``; the caller's
    model is not touched. Its mode is kept: a model in training mode with dropout or batch norm is refused.

    Checked here, before any landscape or Hessian work (each a ValueError naming the argument or the
    function): the choice of loss, ``data`` (empty, not batches, rows that differ, or inputs the model cannot
    take, with their shapes), a loss that is not a finite scalar at the model's parameters, a model in
    training mode and a random loss (:meth:`Objective.check_deterministic`). Costs two evaluations.

    ``metadata["bytes_per_eval"]``, the sampler's chunk-size hint, is twice the bytes of the largest batch's
    inputs and every leaf module's outputs (the working memory of one evaluation without autograd; forward
    hooks do not see functional operations between modules, hence the factor); ``metadata`` overrides it.
    """
    given = {
        name: fn for name, fn in (("criterion", criterion), ("loss", loss), ("loss_fn", loss_fn)) if fn is not None
    }
    if len(given) != 1:
        raise ValueError(f"give exactly one of criterion, loss or loss_fn; got {', '.join(given) or 'none'}")
    ((kind, fn),) = given.items()
    if not callable(fn):
        raise ValueError(f"{kind} must be callable, got {type(fn).__name__}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = list(model.parameters())
    if not params:
        raise ValueError("model has no parameters: there is no landscape to explore")
    dtype = resolve_dtype(dtype)
    device = torch.device(device) if device is not None else params[0].device
    what = f"{kind} {_name(fn)}"
    net = copy.deepcopy(model).to(device=device, dtype=dtype)
    info: dict[str, Any] = {"loss": what, "dtype": str(dtype).removeprefix("torch."), "device": str(device)}
    if kind == "loss_fn":
        if data is not None:
            raise ValueError("data is not used with loss_fn (a pure function of the parameters); leave it out")
        objective = Objective(net, fn, info | dict(metadata or {}))
        _check_value(objective.check_deterministic(), what)  # one evaluation: training mode, randomness, the value
        return objective
    if data is None:
        raise ValueError(f"data is required with {kind}: a tensor, an (inputs, targets) tuple or a DataLoader")
    batches = fixed_batches(data, device, dtype, batch_size, max_batches)
    if kind == "criterion" and any(isinstance(b, torch.Tensor) or len(b) < 2 for b in batches):
        raise ValueError(f"data: {what} needs (inputs, targets) batches; pass loss=... for a loss of the whole batch")
    pairs = [(_inputs(b), (b, len(_inputs(b)))) for b in batches]
    rows = sum(n for _, (_, n) in pairs)

    def per_batch(output: Any, batch: Any) -> torch.Tensor:
        return fn(output, batch[1]) if kind == "criterion" else fn(output, batch)

    def weighted(output: Any, extra: tuple[Any, int]) -> torch.Tensor:
        return per_batch(output, extra[0]).to(torch.float64) * extra[1]

    objective = Objective(net, functional_loss(net, pairs, weighted, rows), info)
    objective.check_eval_mode()
    largest = 0
    probe = _ActivationBytes(net)
    try:
        with torch.no_grad():
            for i, (inputs, (batch, _)) in enumerate(pairs):
                probe.total = inputs.numel() * inputs.element_size()
                try:
                    value = per_batch(net(inputs), batch)
                except Exception as exc:  # noqa: BLE001 -- any failure: name the argument and the shapes
                    raise ValueError(
                        f"data: the model and {what} cannot evaluate batch {i} (tensors {_describe(batch)}): "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
                _check_value(value, f"{what} on batch {i}")
                largest = max(largest, probe.total)
    finally:
        probe.remove()
    objective.check_deterministic()
    objective.metadata = info | {"eval_size": rows, "batches": len(pairs), "bytes_per_eval": 2 * largest}
    objective.metadata |= dict(metadata or {})
    return objective


def require_objective(value: Any, argument: str = "objective") -> Objective:
    """``value`` if it is an :class:`Objective`; a TypeError naming ``argument`` otherwise, saying how to make
    one (a model, a loss or a tensor passed where the objective belongs is the usual slip)."""
    if isinstance(value, Objective):
        return value
    hint = " (a model: wrap it with its loss and data first)" if isinstance(value, nn.Module) else ""
    raise TypeError(
        f"{argument}: expected an Objective from losstopo.make_objective(model, criterion, data), got "
        f"{type(value).__name__}{hint}"
    )
