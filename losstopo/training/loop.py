"""What training returns, and the epoch loop that the epoch-trained families (ResNet, UNet) share.

A family's ``train`` returns a :class:`TrainResult`; a run that diverges is a result (``status
"diverged"`` with the reason), never an exception. :func:`fit_epochs` is the minibatch loop of the
image families: seeded data order, a per-step learning-rate schedule, per-epoch evaluation and the
divergence check; the family supplies the loss of a batch and the evaluation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from losstopo.progress import Progress


@dataclass
class TrainResult:
    """What a family's ``train`` returns: per-epoch rows, final metrics, and whether it diverged."""

    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    status: str = "ok"  # "ok" | "diverged"
    reason: str | None = None


def diverged_result(
    history: list[dict[str, Any]], performance: tuple[str, ...], epoch: int, lr: float, losses: dict[str, float]
) -> TrainResult | None:
    """A ``diverged`` result if any of ``losses`` ({"training": value, ...}) is not finite after ``epoch``."""
    bad = [name for name, value in losses.items() if not math.isfinite(value)]
    if not bad:
        return None
    metrics = {key: float("nan") for key in performance} | {"epochs_completed": epoch - 1}
    return TrainResult(
        history, metrics, status="diverged", reason=f"non-finite {bad[0]} loss in epoch {epoch} (lr={lr})"
    )


def completed_result(history: list[dict[str, Any]], performance: tuple[str, ...], model: nn.Module) -> TrainResult:
    """The result of an epoch-based run that finished: the last epoch's performance metrics."""
    metrics = {key: history[-1][key] for key in performance}
    metrics.update(
        epochs_completed=history[-1]["epoch"],
        num_parameters=sum(p.numel() for p in model.parameters()),
        train_seconds=history[-1]["seconds"],
    )
    return TrainResult(history, metrics)


def lr_factor(schedule: str, total_steps: int) -> Callable[[int], float]:
    """The learning-rate multiplier of step ``step`` (torch's ``LambdaLR``): ``cosine`` decays to zero over
    ``total_steps``; ``step`` multiplies by 0.1 at 50% and 75% of training (He et al. 2016); ``none`` is 1."""
    if schedule == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
    if schedule == "step":
        return lambda step: 0.1 ** ((step >= total_steps // 2) + (step >= (3 * total_steps) // 4))
    if schedule == "none":
        return lambda step: 1.0
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected cosine, step or none")


BatchLoss = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def fit_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    n_train: int,
    batch_size: int,
    epochs: int,
    schedule: str,
    seed: int,
    device: torch.device,
    batch_loss: BatchLoss,
    evaluate: Callable[[], dict[str, float]],
    watch: dict[str, str],
    performance: tuple[str, ...],
    description: str,
    on_epoch: Callable[[int, nn.Module, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place for ``epochs`` passes over ``n_train`` examples in a seeded random order.

    ``batch_loss(index, generator)`` gets the (b,) indices of a minibatch on ``device`` and the seeded
    generator (for augmentation) and returns the mean training loss of the batch and per-batch sums (e.g.
    ``{"train_accuracy": correct count}``), reported per example. After each epoch the history row holds
    ``epoch``, ``lr``, ``train_loss``, those per-example means, ``evaluate()``'s metrics and ``seconds``;
    training stops as diverged when a row value named in ``watch`` ({what: row key}) is not finite
    (checked once per epoch, so a GPU is not synchronised every step). ``on_epoch(epoch, model, row)``
    is called after every finished epoch (checkpoints).
    """
    generator = torch.Generator().manual_seed(int(seed))
    steps_per_epoch = math.ceil(n_train / batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(schedule, epochs * steps_per_epoch))
    lr0 = optimizer.param_groups[0]["lr"]
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    with Progress(epochs, description, unit="epoch") as progress:
        for epoch in range(1, epochs + 1):
            model.train()
            lr = optimizer.param_groups[0]["lr"]
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            sums: dict[str, torch.Tensor] = {}
            for index in torch.randperm(n_train, generator=generator).split(batch_size):
                index = index.to(device)
                loss, counts = batch_loss(index, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach().double() * len(index)
                for key, count in counts.items():
                    sums[key] = sums.get(key, 0) + count
            row = {
                "epoch": epoch,
                "lr": lr,
                "train_loss": loss_sum.item() / n_train,
                **{key: total.item() / n_train for key, total in sums.items()},
                **evaluate(),
                "seconds": time.perf_counter() - start,
            }
            history.append(row)
            progress.update(1)
            failed = diverged_result(history, performance, epoch, lr0, {what: row[key] for what, key in watch.items()})
            if failed is not None:
                return failed
            if on_epoch is not None:
                on_epoch(epoch, model, row)
    return completed_result(history, performance, model)
