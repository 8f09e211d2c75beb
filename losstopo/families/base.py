"""What every model family provides, and the objective that sampling and Hessian stages share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn


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


@dataclass
class TrainResult:
    """What a family's ``train`` returns: per-epoch rows, final metrics, and whether it diverged."""

    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    status: str = "ok"  # "ok" | "diverged"
    reason: str | None = None


def diverged_result(history: list[dict[str, Any]], performance: tuple[str, ...], epoch: int, lr: float,
                    losses: dict[str, float]) -> TrainResult | None:
    """A ``diverged`` result if any of ``losses`` ({"training": value, ...}) is not finite after ``epoch``."""
    bad = [name for name, value in losses.items() if not math.isfinite(value)]
    if not bad:
        return None
    metrics = {key: float("nan") for key in performance} | {"epochs_completed": epoch - 1}
    return TrainResult(history, metrics, status="diverged", reason=f"non-finite {bad[0]} loss in epoch {epoch} (lr={lr})")


def completed_result(history: list[dict[str, Any]], performance: tuple[str, ...], model: nn.Module) -> TrainResult:
    """The result of an epoch-based run that finished: the last epoch's performance metrics."""
    metrics = {key: history[-1][key] for key in performance}
    metrics.update(epochs_completed=history[-1]["epoch"], num_parameters=sum(p.numel() for p in model.parameters()),
                   train_seconds=history[-1]["seconds"])
    return TrainResult(history, metrics)
