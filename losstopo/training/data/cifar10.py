"""CIFAR-10 from its official *binary* archive (no pickle), downloaded once and checksum-verified.

``cifar-10-binary.tar.gz`` holds ``cifar-10-batches-bin/data_batch_{1..5}.bin`` and ``test_batch.bin``:
fixed-length records of 1 label byte (0..9) followed by 3,072 pixel bytes (1,024 red, 1,024 green,
1,024 blue, each a 32x32 image in row-major order). https://www.cs.toronto.edu/~kriz/cifar.html
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from losstopo.io import InputFileError
from losstopo.training.data.download import extract_tar, fetch

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on the dataset page
SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"  # 170,052,171 bytes
TOP = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
CHANNELS, NUM_CLASSES, IMAGE_SIZE = 3, 10, 32
RECORD = 1 + CHANNELS * IMAGE_SIZE * IMAGE_SIZE  # 3073 bytes


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One ``.bin`` file as ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found (expected inside the CIFAR-10 binary archive)") from None
    if raw.size == 0 or raw.size % RECORD:
        raise InputFileError(f"{path}: {raw.size} bytes is not a whole number of {RECORD}-byte CIFAR-10 records")
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= NUM_CLASSES:
        raise InputFileError(f"{path}: label byte {labels.max()} out of range 0..{NUM_CLASSES - 1}")
    return records[:, 1:].reshape(-1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE), labels


def load_arrays(
    data_dir: str | os.PathLike,
    *,
    url: str = URL,
    sha256: str | None = SHA256,
    md5: str | None = MD5,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` from ``data_dir/cifar-10-binary.tar.gz``.

    The archive is downloaded on first use and verified on every use; it is unpacked once to
    ``data_dir/cifar-10-batches-bin/``. ``url`` and the checksums are parameters only so tests can
    feed a tiny archive in the same format.
    """
    archive = fetch(url, sha256, data_dir, md5=md5, download=download)
    folder = extract_tar(archive, data_dir, TOP)
    parts = [read_batch(folder / name) for name in TRAIN_FILES]
    x_test, y_test = read_batch(folder / TEST_FILE)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), x_test, y_test)
