"""UNet family: encoder-decoder segmentation networks (Ronneberger et al. 2015) on trimap-style masks.

``depth`` down/up levels; level ``i`` has ``base_width * 2**i`` channels and the bottleneck
``base_width * 2**depth``. Each level is two 3x3 convolutions (+ BatchNorm) + ReLU; down-sampling is
2x2 max pooling, up-sampling a 2x2 stride-2 transposed convolution whose output is concatenated with
the encoder's skip connection; a 1x1 convolution gives the class logits. Data: generated shapes
(offline default) or Oxford-IIIT Pet trimaps, both with classes 0 foreground, 1 background,
2 boundary. See docs/unet.md.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import jsonschema
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from losstopo.device import resolve_device, resolve_dtype
from losstopo.objective import Objective, functional_loss
from losstopo.sweep.hparams.unet import PARAMS, PERFORMANCE_METRICS, check, eval_count, split_problems
from losstopo.training.data.pets import ensure_pets, load_pets, pet_index
from losstopo.training.data.shapes import make_shapes
from losstopo.training.loop import TrainResult, fit_epochs

# ImageNet channel statistics: a fixed normalisation, so the objective needs no training images.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def full_hp(hp: dict[str, Any]) -> dict[str, Any]:
    """``hp`` with defaults filled in, each value checked against its schema; a ValueError names the key."""
    unknown = sorted(set(hp) - set(PARAMS))
    if unknown:
        raise ValueError(f"unknown unet hyperparameter(s) {', '.join(unknown)}; known: {', '.join(sorted(PARAMS))}")
    out = {key: spec["default"] for key, spec in PARAMS.items()} | dict(hp)
    for key, value in out.items():
        try:
            jsonschema.validate(value, PARAMS[key])
        except jsonschema.ValidationError as exc:
            raise ValueError(f"unet hyperparameter {key}={value!r}: {exc.message}") from None
    problems = check(out)
    if problems:
        raise ValueError("; ".join(problems))
    return out


# ----------------------------------------------------------------------------------------------- model


def _double_conv(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in (c_in, c_out):
        layers.append(nn.Conv2d(c, c_out, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """UNet with ``depth`` levels; input (N, in_channels, S, S) with S a multiple of 2**depth."""

    def __init__(
        self, in_channels: int = 3, n_classes: int = 3, depth: int = 2, base_width: int = 8, batch_norm: bool = True
    ):
        super().__init__()
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(
            _double_conv(c_in, c_out, batch_norm) for c_in, c_out in zip([in_channels] + widths[:-2], widths[:-1])
        )
        self.bottleneck = _double_conv(widths[-2], widths[-1], batch_norm)
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in reversed(widths[1:]))
        self.up = nn.ModuleList(_double_conv(c, c // 2, batch_norm) for c in reversed(widths[1:]))
        self.head = nn.Conv2d(widths[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for upsample, block, skip in zip(self.upsample, self.up, reversed(skips)):
            x = block(torch.cat([skip, upsample(x)], dim=1))
        return self.head(x)


def build_model(hp: dict[str, Any]) -> UNet:
    """A freshly initialised UNet for RGB input (the caller seeds torch first)."""
    hp = full_hp(hp)
    return UNet(3, hp["n_classes"], hp["depth"], hp["base_width"], hp["batch_norm"])


# ------------------------------------------------------------------------------------------------ data


def _source(hp: dict[str, Any]) -> tuple[list[str], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]:
    """Names of every available image, and a reader of the images at given positions (uint8 arrays)."""
    if hp["dataset"] == "shapes":
        images, masks = make_shapes(hp["n_images"], hp["image_size"], hp["data_seed"], hp["n_classes"])
        return [f"shapes_{i}" for i in range(len(images))], lambda idx: (images[idx], masks[idx])
    root = ensure_pets(hp["data_dir"], hp["download"])
    names = pet_index(root)
    return names, lambda idx: load_pets(root, [names[i] for i in idx], hp["image_size"], hp["n_classes"])


def _split(n_total: int, hp: dict[str, Any]) -> dict[str, np.ndarray]:
    """Seeded positions of the train split, the evaluation split and the objective's subset of it."""
    problems = split_problems(n_total, hp)
    if problems:
        raise ValueError("; ".join(problems))
    n = hp["n_images"] or n_total
    order = np.random.default_rng(hp["data_seed"]).permutation(n_total)[:n]
    n_eval = eval_count(n, hp["eval_fraction"])
    return {"train": order[n_eval:], "eval": order[:n_eval], "objective": order[: hp["eval_size"]]}


def load_data(hp: dict[str, Any], parts: tuple[str, ...] = ("train", "eval")) -> dict[str, Any]:
    """The requested parts ("train", "eval", "objective") as uint8 tensors (N, 3, S, S) and (N, S, S).

    Also returns ``names[part]``: the image names of every part, for the record. Pet images outside
    the requested parts are never decoded.
    """
    hp = full_hp(hp)
    names, read = _source(hp)
    split = _split(len(names), hp)
    out: dict[str, Any] = {"names": {part: [names[i] for i in split[part]] for part in parts}}
    for part in parts:
        images, masks = read(split[part])
        out[part] = (torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(masks))
    return out


def to_input(images: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """uint8 (N, 3, S, S) to normalised network input on ``device``."""
    x = images.to(device=device, dtype=dtype) / 255.0
    mean = torch.tensor(IMAGE_MEAN, device=device, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, device=device, dtype=dtype).view(1, 3, 1, 1)
    return (x - mean) / std


# --------------------------------------------------------------------------------------------- metrics


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Pixel counts, rows = true class, columns = predicted class."""
    flat = target.reshape(-1).long() * n_classes + pred.reshape(-1).long()
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def segmentation_metrics(cm: torch.Tensor) -> dict[str, float]:
    """Pixel accuracy, and IoU and Dice averaged over the classes present in truth or prediction.

    Dataset-level: true/false positives are summed over every pixel of every image first.
    """
    cm = cm.double()
    tp = cm.diag()
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    present = (tp + fp + fn) > 0
    iou = tp[present] / (tp + fp + fn)[present]
    dice = 2 * tp[present] / (2 * tp + fp + fn)[present]
    return {"pixel_accuracy": (tp.sum() / cm.sum()).item(), "mean_iou": iou.mean().item(), "dice": dice.mean().item()}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    n_classes: int,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, float]:
    """Cross-entropy per pixel (float64 sum) and segmentation metrics, BatchNorm in eval mode."""
    was_training = model.training
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=device)
    cm = torch.zeros(n_classes, n_classes, dtype=torch.int64, device=device)
    for xb, yb in zip(images.split(batch_size), masks.split(batch_size)):
        logits = model(to_input(xb, device, dtype))
        yb = yb.to(device).long()
        loss += F.cross_entropy(logits, yb, reduction="none").double().sum()
        cm += confusion_matrix(logits.argmax(1), yb, n_classes)
    model.train(was_training)
    return {"eval_loss": loss.item() / masks.numel(), **segmentation_metrics(cm)}


# -------------------------------------------------------------------------------------------- training


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean over classes of the soft Dice coefficient of the batch (smoothed by 1)."""
    probs = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    dims = (0, 2, 3)
    dice = (2 * (probs * onehot).sum(dims) + 1) / (probs.sum(dims) + onehot.sum(dims) + 1)
    return 1 - dice.mean()


def train(
    model: nn.Module,
    hp: dict[str, Any],
    seed: int,
    device: torch.device | str = "auto",
    on_epoch: Callable[[int, nn.Module, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Fit ``model`` in place with AdamW; the data order is seeded by ``seed``.

    Metrics are computed on the evaluation split after every epoch. A non-finite training or
    evaluation loss ends training with ``status="diverged"`` (checked once per epoch, so the GPU is
    not synchronised every step).
    """
    hp = full_hp(hp)
    device, dtype = resolve_device(device), resolve_dtype(hp["dtype"])
    data = load_data(hp)  # uint8 on the device: a quarter of float32's memory, no per-batch copy
    (x_train, y_train), (x_eval, y_eval) = ((t.to(device) for t in data[part]) for part in ("train", "eval"))
    model.to(device=device, dtype=dtype)

    def batch_loss(index: torch.Tensor, generator: torch.Generator):
        xb = to_input(x_train[index], device, dtype)
        yb = y_train[index].to(device).long()
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        if hp["loss"] == "ce+dice":
            loss = loss + soft_dice_loss(logits, yb)
        return loss, {}

    optimizer = torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    return fit_epochs(
        model,
        optimizer,
        n_train=len(y_train),
        batch_size=hp["batch_size"],
        epochs=hp["epochs"],
        schedule=hp["lr_schedule"],
        seed=seed,
        device=device,
        batch_loss=batch_loss,
        evaluate=lambda: evaluate(model, x_eval, y_eval, hp["n_classes"], hp["eval_batch_size"], device, dtype),
        watch={"training": "train_loss", "evaluation": "eval_loss"},
        performance=PERFORMANCE_METRICS,
        description=f"train unet-{hp['depth']}x{hp['base_width']} on {hp['dataset']}",
        on_epoch=on_epoch,
    )


# ------------------------------------------------------------------------------------------- objective


def objective(
    model: nn.Module,
    hp: dict[str, Any],
    seed: int,
    device: torch.device | str = "auto",
    dtype: torch.dtype | str = torch.float64,
) -> Objective:
    """Mean pixel cross-entropy of a copy of ``model`` over the first ``eval_size`` evaluation images.

    The split is drawn with ``data_seed``, so the set is the same for every training seed (``seed``
    is not used). The copy (eval mode, on ``device`` in ``dtype``; the caller's model is untouched)
    runs BatchNorm on its running statistics, held as constant buffers, so the loss is a pure
    function of the parameters: safe under ``torch.func.vmap``, ``grad`` and ``jvp``. Per-pixel losses
    are summed in float64, in chunks of ``eval_batch_size`` (which bounds memory, not the value).
    """
    del seed
    hp = full_hp(hp)
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    data = load_data(hp, ("objective",))
    images, masks = data["objective"]
    x, y = to_input(images, device, dtype), masks.to(device).long()
    chunks = list(zip(x.split(hp["eval_batch_size"]), y.split(hp["eval_batch_size"])))
    net = copy.deepcopy(model).to(device=device, dtype=dtype).eval()

    def batch_loss(logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, yb, reduction="none").double().sum()

    loss_fn = functional_loss(net, chunks, batch_loss, y.numel())

    per_pixel = 8 * hp["base_width"] * x.element_size() + 8 * hp["n_classes"]
    metadata = {
        "family": "unet",
        "loss": "pixel cross-entropy, mean over the evaluation subset, float64 sum",
        "batch_norm": "eval mode (running statistics)",
        "dataset": hp["dataset"],
        "image_size": hp["image_size"],
        "data_seed": hp["data_seed"],
        "eval_size": len(y),
        "eval_images": data["names"]["objective"],
        "dtype": str(dtype).removeprefix("torch."),
        "twice_differentiable": False,
        "nonsmooth_reason": "ReLU activations and max pooling",
        # working memory of one evaluation: about eight live full-resolution activations of
        # base_width channels per image of the largest chunk (the lower levels add about one
        # more); sizes the sampling stage's chunks
        "bytes_per_eval": int(len(chunks[0][1]) * per_pixel * hp["image_size"] ** 2),
    }
    return Objective(net, loss_fn, metadata)
