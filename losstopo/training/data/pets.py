"""Oxford-IIIT Pet images and trimaps, read with Pillow (no torchvision).

On-disk layout under ``data_dir`` (what the two official archives unpack to)::

    data_dir/images/<Breed>_<n>.jpg              (images.tar.gz)
    data_dir/annotations/trimaps/<Breed>_<n>.png (annotations.tar.gz; values 1 pet, 2 background, 3 boundary)

The archives are fetched once, checksum-verified, into ``data_dir`` and unpacked there; folders a
user unpacked by hand are used as they are. Trimap values 1/2/3 become classes 0/1/2 (foreground,
background, boundary); with two classes the boundary joins the foreground. Hidden files (the
archive ships macOS ``._*`` twins of every trimap) and non-JPEG files in ``images/`` (a few
``.mat``) are ignored; every other image must pair with exactly one trimap of the same size.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from losstopo.io import InputFileError
from losstopo.progress import Progress
from losstopo.training.data.download import DataMissingError, extract_tar, fetch

URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"
# sha256 as pinned by tensorflow-datasets and torchvision's prototype datasets (whose md5 pins,
# 5c4f3ee8e5d25df40f4fd59a7f44e54c and 95a8c909bbe2e81eed6a22bccdf3f68f, name the same files).
ARCHIVES = {  # folder it unpacks to -> (archive name, sha256, size in bytes)
    "images": ("images.tar.gz", "67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d", 791918971),
    "annotations": ("annotations.tar.gz", "52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91", 19173078),
}
TRIMAP_VALUES = (1, 2, 3)  # foreground, background, boundary


def _folders(root: Path) -> dict[str, Path]:
    return {"images": root / "images", "annotations": root / "annotations" / "trimaps"}


def ensure_pets(data_dir: str | os.PathLike, download: bool = True) -> Path:
    """``data_dir`` holding the unpacked dataset, fetching and unpacking what is missing.

    When an archive can be neither found nor downloaded, one :class:`DataMissingError` lists every
    missing file, its checksum and where to put it.
    """
    root = Path(data_dir).expanduser()
    missing = []
    for top, folder in _folders(root).items():
        if folder.is_dir():
            continue
        name, sha256, size = ARCHIVES[top]
        try:
            archive = fetch(URL + name, sha256, root, download=download)
        except DataMissingError as exc:
            missing.append((name, sha256, size, str(exc)))
            continue
        extract_tar(archive, root, top)
    if missing:
        wanted = "; ".join(
            f"{name} ({size} bytes, sha256 {sha256}) from {URL}{name}" for name, sha256, size, _ in missing
        )
        reasons = " | ".join(reason for *_, reason in missing)
        raise DataMissingError(
            f"Oxford-IIIT Pet dataset not found in {root.resolve()}: put {wanted} into that folder "
            f"(unpacked there on first use), or unpack them yourself so that {root.resolve()}/images/*.jpg "
            f"and {root.resolve()}/annotations/trimaps/*.png exist. Details: {reasons}"
        )
    return root


def _listing(folder: Path, suffix: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise InputFileError(f"{folder}: folder not found (expected the unpacked Oxford-IIIT Pet layout)")
    return {p.stem: p for p in folder.iterdir() if p.suffix.lower() == suffix and not p.name.startswith(".")}


def pet_index(data_dir: str | os.PathLike) -> list[str]:
    """Sorted names (``Abyssinian_1``, ...) of the image/trimap pairs; an unpaired file is an error."""
    folders = _folders(Path(data_dir).expanduser())
    images, trimaps = _listing(folders["images"], ".jpg"), _listing(folders["annotations"], ".png")
    for have, lack, other, kind in (
        (images, trimaps, folders["annotations"], "trimap"),
        (trimaps, images, folders["images"], "image"),
    ):
        unpaired = sorted(set(have) - set(lack))
        if unpaired:
            first = have[unpaired[0]]
            raise InputFileError(
                f"{first}: no matching {kind} in {other} ({len(unpaired)} unpaired file(s) in {first.parent})"
            )
    if not images:
        raise InputFileError(f"{folders['images']}: no .jpg images found")
    return sorted(images)


def read_pet(
    data_dir: str | os.PathLike, name: str, image_size: int, n_classes: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """One pair resized to ``image_size`` square: RGB uint8 (S, S, 3) and class mask uint8 (S, S)."""
    folders = _folders(Path(data_dir).expanduser())
    image_path, trimap_path = folders["images"] / f"{name}.jpg", folders["annotations"] / f"{name}.png"
    try:
        with Image.open(image_path) as im:
            image = im.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:  # missing, unidentified or truncated
        raise InputFileError(f"{image_path}: not a readable image ({exc})") from None
    try:
        with Image.open(trimap_path) as im:
            trimap = np.array(im)
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputFileError(f"{trimap_path}: not a readable trimap ({exc})") from None
    if trimap.ndim != 2:
        raise InputFileError(f"{trimap_path}: expected a single-channel trimap, got shape {trimap.shape}")
    if trimap.shape != (image.height, image.width):
        raise InputFileError(
            f"{trimap_path}: size {trimap.shape[1]}x{trimap.shape[0]} differs from its image "
            f"{image_path} ({image.width}x{image.height})"
        )
    bad = sorted(set(np.unique(trimap).tolist()) - set(TRIMAP_VALUES))
    if bad:
        raise InputFileError(f"{trimap_path}: trimap values must be 1, 2 or 3; found {bad}")
    lut = np.array([0, 0, 1, 2 if n_classes == 3 else 0], dtype=np.uint8)
    mask = Image.fromarray(lut[trimap]).resize((image_size, image_size), Image.Resampling.NEAREST)
    image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8), np.asarray(mask, dtype=np.uint8)


def load_pets(
    data_dir: str | os.PathLike, names: list[str], image_size: int, n_classes: int = 3, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``names`` as uint8 arrays (N, S, S, 3) and (N, S, S), decoded on a thread pool."""
    if n_classes not in (2, 3):
        raise ValueError(f"Oxford-IIIT Pet trimaps give 2 or 3 classes, not {n_classes}")
    images = np.empty((len(names), image_size, image_size, 3), dtype=np.uint8)
    masks = np.empty((len(names), image_size, image_size), dtype=np.uint8)
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool, Progress(len(names), "read Oxford-IIIT Pet", "img") as progress:
        for i, (image, mask) in enumerate(pool.map(lambda n: read_pet(data_dir, n, image_size, n_classes), names)):
            images[i], masks[i] = image, mask
            progress.update(1)
    return images, masks
