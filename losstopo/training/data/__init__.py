"""Datasets: checksum-verified real data (CIFAR-10, Oxford-IIIT Pet) and offline defaults.

Image classification data reaches a model family as :class:`ImageData`: float tensors normalised
per channel with the statistics of the training subset, seeded subsets of configurable size, and a
batch augmentation (random crop + optional horizontal flip) that runs on the data's device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class ImageData:
    """Normalised train / test tensors ``(N, C, H, W)`` with int64 labels, plus what produced them."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    meta: dict[str, Any] = field(default_factory=dict)


def seeded_subset(n_available: int, size: int, rng: np.random.Generator, key: str) -> np.ndarray:
    """``size`` distinct indices out of ``n_available``, drawn with ``rng``; a ValueError names ``key``."""
    if not 1 <= size <= n_available:
        raise ValueError(
            f"hyperparameter {key}={size}: must be between 1 and {n_available} (the number of images available)"
        )
    return np.sort(rng.permutation(n_available)[:size])


def make_image_data(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    num_classes: int,
    train_size: int,
    test_size: int,
    data_seed: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    meta: dict[str, Any] | None = None,
) -> ImageData:
    """Seeded subsets of a train and a test split, normalised per channel by the training subset.

    ``x_*`` are ``(N, C, H, W)`` arrays of any real or integer type. The same ``data_seed`` gives the
    same subsets on every machine (numpy's PCG64), independent of the training seed, so a seed sweep
    varies initialisation and data order only.
    """
    rng = np.random.default_rng(data_seed)
    train_idx = seeded_subset(len(x_train), train_size, rng, "train_size")
    test_idx = seeded_subset(len(x_test), test_size, rng, "test_size")
    np_dtype = torch.empty((), dtype=dtype).numpy().dtype  # convert once, in the target precision
    xtr = np.asarray(x_train[train_idx], dtype=np_dtype)
    mean = xtr.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = xtr.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)  # a constant channel stays constant instead of dividing by zero

    def tensor(x: np.ndarray) -> torch.Tensor:
        x = np.array(x, dtype=np_dtype)  # a copy, normalised in place: no float64 copy of CIFAR-10 in memory
        x -= mean.astype(np_dtype)
        x /= std.astype(np_dtype)
        return torch.from_numpy(x).to(device)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)

    info = dict(meta or {})
    info.update(
        data_seed=int(data_seed),
        train_size=int(train_size),
        test_size=int(test_size),
        channel_mean=mean.ravel().tolist(),
        channel_std=std.ravel().tolist(),
    )
    return ImageData(
        tensor(xtr), labels(y_train[train_idx]), tensor(x_test[test_idx]), labels(y_test[test_idx]), num_classes, info
    )


def augment_batch(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop of every image after zero-padding by ``padding`` pixels, and a random horizontal flip.

    Padding happens after normalisation, so the border is the mean colour. Offsets and flips are drawn
    from ``generator`` (a CPU generator: the same seed gives the same batches on any device).
    """
    b, _, h, w = x.shape
    if padding > 0:
        offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(x.device)
        padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        rows = (offsets[0][:, None] + torch.arange(h, device=x.device))[:, :, None]
        cols = (offsets[1][:, None] + torch.arange(w, device=x.device))[:, None, :]
        x = padded.permute(0, 2, 3, 1)[torch.arange(b, device=x.device)[:, None, None], rows, cols]
        x = x.permute(0, 3, 1, 2)
    if flip:
        mirror = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    return x.contiguous()
