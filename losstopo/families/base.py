"""What every model family provides, and the objective that sampling and Hessian stages share."""

from __future__ import annotations

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
    """

    model: nn.Module
    loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)

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
