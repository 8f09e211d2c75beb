"""Generated segmentation data: shapes on textured, noisy backgrounds, with trimap-like masks.

The offline default of the UNet family. Each image holds one or two filled shapes (circle, rotated
square, triangle) with their own colour and texture, on a background of random colour gratings plus
pixel noise. The mask mirrors an Oxford-IIIT Pet trimap after its 1/2/3 -> 0/1/2 mapping: class 0 =
shape (foreground), 1 = background, 2 = a boundary ring around every shape edge. The task is
learnable by a small UNet in seconds, but not from colour alone: shape and background colours are
drawn from the same distribution, so the network has to use texture and edges.
"""

from __future__ import annotations

import numpy as np

FOREGROUND, BACKGROUND, BOUNDARY = 0, 1, 2
SHAPES = ("circle", "square", "triangle")


def _grating(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, n: int, freq: tuple[float, float]) -> np.ndarray:
    """Sum of ``n`` random oriented sinusoids, one random colour each: an (H, W, 3) texture in about [-1, 1]."""
    out = np.zeros(yy.shape + (3,))
    for _ in range(n):
        angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        f = rng.uniform(*freq)
        wave = np.sin(2 * np.pi * f * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
        out += wave[..., None] * rng.uniform(-1, 1, 3) / n
    return out


def _signed_distance(kind: str, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside, in units of the image side) to a random shape of ``kind``."""
    cy, cx = rng.uniform(0.3, 0.7, 2)
    r = rng.uniform(0.16, 0.3)
    y, x = yy - cy, xx - cx
    if kind == "circle":
        return np.hypot(y, x) - r
    theta = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    if kind == "square":
        half = r * 0.85
        qu, qv = np.abs(u) - half, np.abs(v) - half
        return np.hypot(np.maximum(qu, 0), np.maximum(qv, 0)) + np.minimum(np.maximum(qu, qv), 0)
    # equilateral triangle with circumradius r: the largest distance to its three edge lines
    normals = [(np.cos(a), np.sin(a)) for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3)]
    return np.max([nu * u + nv * v - r / 2 for nu, nv in normals], axis=0)


def make_shapes(n_images: int, image_size: int, seed: int, n_classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n_images`` seeded images and masks: uint8 arrays of shape (N, H, W, 3) and (N, H, W).

    ``n_classes=3`` gives foreground / background / boundary (like Pet trimaps); ``n_classes=2``
    folds the boundary ring into the foreground.
    """
    if n_images < 1 or image_size < 8:
        raise ValueError(f"make_shapes needs n_images >= 1 and image_size >= 8, got {n_images} and {image_size}")
    if n_classes not in (2, 3):
        raise ValueError(f"make_shapes supports n_classes 2 or 3, got {n_classes}")
    rng = np.random.default_rng(seed)
    coords = (np.arange(image_size) + 0.5) / image_size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    ring = max(0.75, image_size / 40) / image_size  # half-width of the boundary band, >= 3/4 pixel
    images = np.empty((n_images, image_size, image_size, 3), dtype=np.uint8)
    masks = np.empty((n_images, image_size, image_size), dtype=np.uint8)
    for i in range(n_images):
        image = rng.uniform(0.2, 0.8, 3) + 0.25 * _grating(rng, yy, xx, 3, (1.0, 4.0))
        distance = np.full(yy.shape, np.inf)
        for _ in range(rng.integers(1, 3)):
            d = _signed_distance(SHAPES[rng.integers(len(SHAPES))], rng, yy, xx)
            inside = (d < 0)[..., None]
            fill = rng.uniform(0.1, 0.9, 3) + 0.12 * _grating(rng, yy, xx, 1, (5.0, 9.0))
            image = np.where(inside, fill, image)
            distance = np.minimum(distance, d)
        image += rng.normal(0.0, 0.06, image.shape)
        images[i] = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
        mask = np.where(distance < 0, FOREGROUND, BACKGROUND)
        mask[np.abs(distance) < ring] = BOUNDARY if n_classes == 3 else FOREGROUND
        masks[i] = mask
    return images, masks
