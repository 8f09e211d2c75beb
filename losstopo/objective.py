"""The objective that the landscape and curvature stages share: a fixed loss as a pure function of the
parameters (any ``torch.nn.Module``; the model families build theirs with ``objective(...)``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

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

    def check_deterministic(self) -> None:
        """Raise ValueError naming the cause if the loss is not a fixed function of the parameters.

        Causes: a module in training mode whose output depends on it (``TRAINING_MODE_DEPENDENT``: dropout,
        RReLU, batch norm with running statistics), or randomness: an evaluation that draws from torch's
        global random generator (CPU, or the CUDA device of the parameters). Costs one evaluation.
        """
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
        device = next(self.model.parameters(), torch.empty(0)).device

        def rng_states() -> list[torch.Tensor]:
            return [torch.get_rng_state()] + ([torch.cuda.get_rng_state(device)] if device.type == "cuda" else [])

        before = rng_states()
        with torch.no_grad():
            self.loss_of_model()
        if any(not torch.equal(a, b) for a, b in zip(before, rng_states())):
            raise ValueError(
                "the objective is not deterministic: evaluating it draws random numbers (torch's "
                "random generator advanced during one evaluation); a landscape or Hessian of a "
                "random loss is noise"
            )
