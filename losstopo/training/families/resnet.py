"""ResNet family: CIFAR-style residual networks (He et al. 2016) for image classification.

Depth ``6n + 2``: a 3x3 stem, three stages of ``n`` basic blocks with ``16, 32, 64`` channels (times
``width``), global average pooling and a linear classifier. Shortcuts are option A of the paper
(identity; stride-2 subsampling and zero channel padding where the shape changes), so the network has
no shortcut parameters and ``residual: false`` (the plain network of the topology papers) has exactly
the same parameters as the residual one. Data: CIFAR-10 (binary archive) or the offline default,
scikit-learn's 8x8 digits.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from losstopo.device import resolve_device, resolve_dtype
from losstopo.objective import Objective, functional_loss
from losstopo.sweep.hparams.resnet import PARAMS, PERFORMANCE_METRICS, check
from losstopo.training.data import ImageData, augment_batch, cifar10, digits, make_image_data, seeded_subset
from losstopo.training.loop import TrainResult, fit_epochs

DATASETS = {  # name: (module with CHANNELS, NUM_CLASSES and load_arrays, crop padding, flips keep the label)
    "digits": (digits, 1, False),
    "cifar10": (cifar10, 4, True),
}


def full_hp(hp: dict[str, Any]) -> dict[str, Any]:
    """``hp`` with defaults filled in; unknown keys and a depth that is not 6n+2 raise a ValueError."""
    unknown = sorted(set(hp) - set(PARAMS))
    if unknown:
        raise ValueError(f"unknown resnet hyperparameter(s) {', '.join(unknown)}; known: {', '.join(sorted(PARAMS))}")
    out = {key: spec["default"] for key, spec in PARAMS.items()} | dict(hp)
    problems = check(out)
    if problems:
        raise ValueError("; ".join(problems))
    if out["dataset"] not in DATASETS:
        raise ValueError(f"hyperparameter dataset={out['dataset']!r}: expected one of {', '.join(DATASETS)}")
    return out


# ----------------------------------------------------------------------------------------------- model


class BasicBlock(nn.Module):
    """Two 3x3 convolutions; with ``residual`` the input is added back before the last ReLU (option A)."""

    def __init__(self, c_in: int, c_out: int, stride: int, residual: bool, batch_norm: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.residual, self.stride, self.extra = residual, stride, c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Option A: parameter-free identity, subsampled and zero-padded in channels where shapes change."""
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    """CIFAR ResNet of depth ``6n + 2`` for any input size, channel count and number of classes."""

    def __init__(
        self,
        depth: int = 20,
        width: float = 1.0,
        in_channels: int = 3,
        num_classes: int = 10,
        residual: bool = True,
        batch_norm: bool = True,
    ):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth={depth}: a CIFAR ResNet has depth 6n+2 with n >= 1 (8, 14, 20, ...)")
        n = (depth - 2) // 6
        widths = [max(1, round(c * width)) for c in (16, 32, 64)]
        self.conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(widths[0]) if batch_norm else nn.Identity()
        blocks, c_in = [], widths[0]
        for stage, c_out in enumerate(widths):
            for i in range(n):
                blocks.append(BasicBlock(c_in, c_out, 2 if stage > 0 and i == 0 else 1, residual, batch_norm))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():  # He initialisation, as in the paper
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(x.mean(dim=(2, 3)))


def build_model(hp: dict[str, Any]) -> ResNet:
    """A freshly initialised network shaped for ``hp['dataset']``, in the training precision ``hp['dtype']``."""
    hp = full_hp(hp)
    source = DATASETS[hp["dataset"]][0]
    model = ResNet(hp["depth"], hp["width"], source.CHANNELS, source.NUM_CLASSES, hp["residual"], hp["batch_norm"])
    return model.to(resolve_dtype(hp["dtype"]))


# ------------------------------------------------------------------------------------------------ data


def load_data(hp: dict[str, Any], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> ImageData:
    """The seeded, normalised train / test subsets named by ``hp`` (CIFAR-10 is downloaded if needed)."""
    hp = full_hp(hp)
    source = DATASETS[hp["dataset"]][0]
    arrays = source.load_arrays(hp["data_dir"]) if source is cifar10 else source.load_arrays()
    return make_image_data(
        *arrays,
        num_classes=source.NUM_CLASSES,
        train_size=hp["train_size"],
        test_size=hp["test_size"],
        data_seed=hp["data_seed"],
        device=device,
        dtype=dtype,
        meta={"dataset": hp["dataset"]},
    )


# -------------------------------------------------------------------------------------------- training


def _optimizer(model: nn.Module, hp: dict[str, Any]) -> torch.optim.Optimizer:
    if hp["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    return torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"])


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy (accumulated in float64) and accuracy of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        logits = model(xb)
        loss += F.cross_entropy(logits.double(), yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
    model.train(was_training)
    return loss.item() / len(y), correct.item() / len(y)


def train(
    model: nn.Module,
    hp: dict[str, Any],
    seed: int,
    device: torch.device | str = "auto",
    on_epoch: Callable[[int, nn.Module, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Fit ``model`` in place; the data order and augmentation are seeded by ``seed``.

    A non-finite training or test loss ends training with ``status="diverged"`` (checked once per
    epoch, so the GPU is not synchronised every step).
    """
    hp = full_hp(hp)
    device, dtype = resolve_device(device), resolve_dtype(hp["dtype"])
    data = load_data(hp, device, dtype)
    model.to(device=device, dtype=dtype)
    _, padding, flip = DATASETS[hp["dataset"]]

    def batch_loss(index: torch.Tensor, generator: torch.Generator):
        xb, yb = data.x_train[index], data.y_train[index]
        if hp["augment"]:
            xb = augment_batch(xb, padding, flip, generator)
        logits = model(xb)
        return F.cross_entropy(logits, yb), {"train_accuracy": (logits.detach().argmax(1) == yb).sum()}

    def test_metrics() -> dict[str, float]:
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test, hp["eval_batch_size"])
        return {"test_loss": test_loss, "test_accuracy": test_acc}

    return fit_epochs(
        model,
        _optimizer(model, hp),
        n_train=len(data.y_train),
        batch_size=hp["batch_size"],
        epochs=hp["epochs"],
        schedule=hp["lr_schedule"],
        seed=seed,
        device=device,
        batch_loss=batch_loss,
        evaluate=test_metrics,
        watch={"training": "train_loss", "test": "test_loss"},
        performance=PERFORMANCE_METRICS,
        description=f"train resnet-{hp['depth']} on {hp['dataset']}",
        on_epoch=on_epoch,
    )


# ------------------------------------------------------------------------------------------- objective


def classification_objective(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, metadata: dict[str, Any] | None = None
) -> Objective:
    """Mean cross-entropy of a copy of ``model`` (eval mode) on the fixed inputs ``x`` and labels ``y``.

    ``x`` is a batch of images (N, C, H, W) or of inputs of any other shape (tabular (N, F), sequences);
    only 4-D inputs on the CPU are laid out channels-last.

    BatchNorm uses the model's running statistics, held as constant buffers, which makes the loss a
    pure function of the parameters: safe under ``torch.func.vmap``, ``grad`` and ``jvp``. The sum over
    images is accumulated in float64 in chunks of ``batch_size`` (which bounds memory, not the value).
    The copy takes the device and dtype of ``x``; the caller's model is left untouched.
    """
    net = copy.deepcopy(model).to(device=x.device, dtype=x.dtype).eval()
    if x.device.type == "cpu" and x.ndim == 4:  # oneDNN's channels-last convolutions: 1.5-2x faster for ResNet-20
        x = x.contiguous(memory_format=torch.channels_last)
    count = len(y)

    def batch_loss(logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.double(), yb, reduction="sum")

    loss_fn = functional_loss(net, list(zip(x.split(batch_size), y.split(batch_size))), batch_loss, count)
    channels, pixels = (x.shape[1] if x.ndim > 1 else 1), math.prod(x.shape[2:])
    stem = next((m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)), channels)
    widest = max(channels, stem)  # full-resolution channels: the stem and stage 1 share the stem's width
    info = {
        "loss": "cross-entropy, mean over the evaluation set, float64 sum",
        "batch_norm": "eval mode (running statistics)",
        "eval_size": count,
        "dtype": str(x.dtype).removeprefix("torch."),
        # working memory of one evaluation: about six live full-resolution activations per image of
        # the largest chunk (no autograd); sizes the sampling stage's chunks
        "bytes_per_eval": int(min(count, batch_size) * 6 * widest * pixels * x.element_size()),
    }
    return Objective(net, loss_fn, info | dict(metadata or {}))


def objective(
    model: nn.Module,
    hp: dict[str, Any],
    seed: int,
    device: torch.device | str = "auto",
    dtype: torch.dtype | str = torch.float64,
) -> Objective:
    """Mean cross-entropy over a fixed, seeded evaluation set, BatchNorm in eval mode.

    The set is ``eval_size`` images of ``eval_split`` (the training subset by default: the
    training-loss landscape), drawn with ``data_seed``, so it is the same for every training seed;
    ``seed`` is not used. See :func:`classification_objective` for the loss itself.
    """
    del seed
    hp = full_hp(hp)
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    data = load_data(hp, device, dtype)
    x_all, y_all = (data.x_train, data.y_train) if hp["eval_split"] == "train" else (data.x_test, data.y_test)
    rng = np.random.default_rng([hp["data_seed"], 1])  # a stream apart from the split subsets
    index = seeded_subset(len(y_all), hp["eval_size"], rng, "eval_size")
    index_t = torch.as_tensor(index, device=device)
    metadata = {
        "family": "resnet",
        "eval_split": hp["eval_split"],
        "eval_indices_into_split_subset": index.tolist(),
        **data.meta,
    }
    return classification_objective(model, x_all[index_t], y_all[index_t], hp["eval_batch_size"], metadata)
