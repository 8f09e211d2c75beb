"""A plug-in model family: a small 1-D CNN that detects a pulse hidden in a noisy sequence.

The task is generated (no download) and trains in about a second on a CPU. Half of the sequences carry a
Gaussian pulse of amplitude ``signal`` and width 3 at a random position; every sequence has unit Gaussian
noise. The network (two 1-D convolutions, pooling over time, a linear read-out) outputs the logit that a
pulse is present; it is trained with binary cross-entropy and judged by the area under the ROC curve
(higher is better) and the Brier score of its probabilities (lower is better) on a test set.

The module follows the family contract of docs/families.md: ``PARAMS``, ``PERFORMANCE_METRICS`` and
``EPOCH_KEY`` are literals (the workflow reads them without importing torch), and ``build_model``,
``train`` and ``objective`` do the work. Copy it next to your config and change what you need.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from losstopo.objective import Objective
from losstopo.training.loop import TrainResult, fit_epochs

PARAMS = {
    "channels": {"type": "integer", "minimum": 1, "default": 8, "description": "channels of both convolutions"},
    "kernel_size": {"type": "integer", "minimum": 1, "default": 5, "description": "width of both convolutions"},
    "activation": {
        "type": "string",
        "enum": ["gelu", "tanh", "relu"],
        "default": "gelu",
        "description": "after each convolution",
    },
    "pooling": {"type": "string", "enum": ["mean", "max"], "default": "mean", "description": "pooling over time"},
    "bias": {"type": "boolean", "default": True, "description": "whether the convolutions have a bias"},
    "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.01, "description": "Adam learning rate"},
    "epochs": {"type": "integer", "minimum": 1, "default": 10, "description": "passes over the training set"},
    "batch_size": {"type": "integer", "minimum": 1, "default": 64, "description": "minibatch size"},
    "signal": {"type": "number", "minimum": 0, "default": 1.0, "description": "pulse amplitude (noise: 1)"},
    "seq_len": {"type": "integer", "minimum": 8, "default": 64, "description": "time steps per sequence"},
    "n_train": {"type": "integer", "minimum": 2, "default": 512, "description": "training sequences"},
    "n_test": {"type": "integer", "minimum": 2, "default": 512, "description": "test sequences (the metrics)"},
    "eval_size": {
        "type": "integer",
        "minimum": 1,
        "default": 256,
        "description": "training sequences in the landscape's loss",
    },
    "data_seed": {"type": "integer", "minimum": 0, "default": 0, "description": "seed of the generated data"},
}
# the metrics train() reports, each with the direction that is better; the first is the headline metric
PERFORMANCE_METRICS = {"auc": "higher", "brier": "lower", "test_loss": "lower"}
EPOCH_KEY = "epochs"  # the hyperparameter that counts epochs: checkpoints may name epochs 1 to hp["epochs"]

PULSE_WIDTH = 3.0
ACTIVATIONS = {"gelu": F.gelu, "tanh": torch.tanh, "relu": F.relu}


def make_data(hp: dict, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of one split: x of shape (n, 1, seq_len) float32, y of shape (n,) in {0, 1}; seeded by
    ``data_seed`` and the split's name, so every training seed sees the same data."""
    n = hp["n_train"] if split == "train" else hp["n_test"]
    rng = np.random.default_rng([hp["data_seed"], 0 if split == "train" else 1])
    y = rng.integers(0, 2, n)
    t = np.arange(hp["seq_len"])
    centre = rng.uniform(0, hp["seq_len"], n)
    pulse = np.exp(-0.5 * ((t[None, :] - centre[:, None]) / PULSE_WIDTH) ** 2)
    x = rng.standard_normal((n, hp["seq_len"])) + hp["signal"] * y[:, None] * pulse
    return torch.as_tensor(x[:, None, :], dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)


class PulseCNN(nn.Module):
    """Conv1d - activation - Conv1d - activation - pooling over time - Linear: (n, 1, L) -> (n,) logits."""

    def __init__(self, channels: int, kernel_size: int, activation: str, pooling: str, bias: bool):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.head = nn.Linear(channels, 1)
        self.activation, self.pooling = ACTIVATIONS[activation], pooling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.activation(self.conv2(self.activation(self.conv1(x))))
        pooled = h.mean(dim=-1) if self.pooling == "mean" else h.amax(dim=-1)
        return self.head(pooled).squeeze(-1)


def build_model(hp: dict) -> PulseCNN:
    """A freshly initialised network (the caller seeds torch)."""
    return PulseCNN(hp["channels"], hp["kernel_size"], hp["activation"], hp["pooling"], hp["bias"])


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve: the probability that a positive example scores above a negative one, ties
    counting half (the Mann-Whitney U statistic over n_pos * n_neg); both classes must be present."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    above = (positive[:, None] > negative[None, :]).double().mean()
    tied = (positive[:, None] == negative[None, :]).double().mean()
    return float(above + 0.5 * tied)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Test metrics: ROC AUC and Brier score (mean squared error of the predicted probability) and the mean
    cross-entropy; NaN for all three when the model's outputs are not finite."""
    logits = model(x)
    if not torch.isfinite(logits).all():
        return {"auc": math.nan, "brier": math.nan, "test_loss": math.nan}
    return {
        "auc": roc_auc(logits, y),
        "brier": float(((torch.sigmoid(logits.double()) - y) ** 2).mean()),
        "test_loss": F.binary_cross_entropy_with_logits(logits, y).item(),
    }


def train(model: nn.Module, hp: dict, seed: int, device: torch.device, on_epoch=None) -> TrainResult:
    """Adam on minibatches in a seeded order (losstopo's epoch loop: history, divergence, checkpoints)."""
    model.to(device)
    x, y = (t.to(device) for t in make_data(hp, "train"))
    x_test, y_test = (t.to(device) for t in make_data(hp, "test"))

    def batch_loss(index: torch.Tensor, generator: torch.Generator):
        return F.binary_cross_entropy_with_logits(model(x[index]), y[index]), {}

    return fit_epochs(
        model,
        torch.optim.Adam(model.parameters(), lr=hp["lr"]),
        n_train=len(y),
        batch_size=hp["batch_size"],
        epochs=hp["epochs"],
        schedule="none",
        seed=seed,
        device=device,
        batch_loss=batch_loss,
        evaluate=lambda: evaluate(model, x_test, y_test),
        watch={"training": "train_loss", "test": "test_loss"},
        performance=tuple(PERFORMANCE_METRICS),
        description="train a pulse-detecting CNN",
        on_epoch=on_epoch,
    )


def objective(model: nn.Module, hp: dict, seed: int, device: torch.device, dtype: torch.dtype) -> Objective:
    """Mean binary cross-entropy on the first ``eval_size`` training sequences, as a pure function of the
    parameters (``torch.func.functional_call`` on a copy of the model in ``dtype`` on ``device``)."""
    net = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
    x, y = make_data(hp, "train")
    x, y = x[: hp["eval_size"]].to(device, dtype), y[: hp["eval_size"]].to(device, dtype)

    def loss_fn(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(torch.func.functional_call(net, params, (x,)), y)

    # the memory of one evaluation, which sizes the sampler's batches: both convolutions' activations, a few copies
    memory = 4 * len(y) * hp["channels"] * hp["seq_len"] * x.element_size()
    return Objective(net, loss_fn, {"loss": "binary cross-entropy", "eval_size": len(y), "bytes_per_eval": memory})
