"""The offline default: scikit-learn's handwritten digits (1,797 real 8x8 images, shipped with sklearn).

The images are used at their native 8x8 size, one channel: the CIFAR ResNet is fully convolutional
with global average pooling, so it runs on 8x8 inputs unchanged (8 -> 4 -> 2 pixels over its three
stages) and a default run trains in seconds on a CPU. Upsampling to 32x32 would cost 16 times the
compute without adding information.
"""

from __future__ import annotations

import numpy as np

CHANNELS, NUM_CLASSES, IMAGE_SIZE = 1, 10, 8
N_TEST = 297  # a fixed held-out split: 1,500 training and 297 test images
SPLIT_SEED = 0  # the split itself never changes; train/test subsets are drawn from it with data_seed


def load_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``; images ``(N, 1, 8, 8)`` float in [0, 1], labels 0..9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]  # pixel values are 0..16
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    test, train = order[:N_TEST], order[N_TEST:]
    return x[train], y[train], x[test], y[test]
