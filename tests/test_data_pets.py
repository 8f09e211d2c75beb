"""Oxford-IIIT Pet loader on a tiny dataset written in the real on-disk layout, and its error cases."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from losstopo.io import InputFileError
from losstopo.training.data import pets
from losstopo.training.data.download import ChecksumError, DataMissingError, file_digest
from losstopo.training.families import unet

NAMES = ["Abyssinian_1", "Abyssinian_2", "Bengal_10", "beagle_3", "pug_7", "yorkshire_terrier_12"]
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (40, 220, 220), (120, 120, 120)]


def _trimap(width: int, height: int) -> np.ndarray:
    """Left third pet (1), middle third boundary (3), right third background (2), as in a real trimap."""
    trimap = np.full((height, width), 2, dtype=np.uint8)
    trimap[:, : width // 3] = 1
    trimap[:, width // 3 : 2 * width // 3] = 3
    return trimap


def _write_pair(root: Path, name: str, colour, width: int = 48, height: int = 36) -> None:
    Image.new("RGB", (width, height), colour).save(root / "images" / f"{name}.jpg", quality=95)
    Image.fromarray(_trimap(width, height), mode="L").save(root / "annotations" / "trimaps" / f"{name}.png")


@pytest.fixture
def pet_dir(tmp_path: Path) -> Path:
    root = tmp_path / "oxford-iiit-pet"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for i, (name, colour) in enumerate(zip(NAMES, COLOURS)):
        _write_pair(root, name, colour, width=48 + 6 * i, height=36 + 3 * i)
    # what else the real archives hold: stray .mat files, macOS ._ twins of the trimaps, list files
    (root / "images" / "Abyssinian_100.mat").write_bytes(b"MATLAB 5.0")
    (root / "annotations" / "trimaps" / "._Abyssinian_1.png").write_bytes(b"\x00\x05\x16\x07 junk")
    (root / "annotations" / "list.txt").write_text("#Image CLASS-ID SPECIES BREED ID\n")
    return root


def test_index_pairs_images_with_trimaps(pet_dir):
    assert pets.pet_index(pet_dir) == sorted(NAMES)


def test_read_resizes_and_maps_trimap_values(pet_dir):
    image, mask = pets.read_pet(pet_dir, "Bengal_10", image_size=24)
    assert image.shape == (24, 24, 3) and image.dtype == np.uint8
    assert mask.shape == (24, 24) and mask.dtype == np.uint8
    assert np.abs(image.astype(int) - np.array(COLOURS[2])).max() <= 8  # JPEG of one flat colour
    np.testing.assert_array_equal(mask[:, :7], 0)  # trimap 1 (pet) -> class 0
    np.testing.assert_array_equal(mask[:, 9:15], 2)  # trimap 3 (boundary) -> class 2
    np.testing.assert_array_equal(mask[:, 17:], 1)  # trimap 2 (background) -> class 1
    _, binary = pets.read_pet(pet_dir, "Bengal_10", image_size=24, n_classes=2)
    np.testing.assert_array_equal(binary, np.where(mask == 1, 1, 0))


def test_load_pets_keeps_the_requested_order(pet_dir):
    order = ["pug_7", "Abyssinian_1"]
    images, masks = pets.load_pets(pet_dir, order, image_size=16, workers=2)
    assert images.shape == (2, 16, 16, 3) and masks.shape == (2, 16, 16)
    assert np.abs(images[0].astype(int) - np.array(COLOURS[4])).max() <= 8
    assert np.abs(images[1].astype(int) - np.array(COLOURS[0])).max() <= 8


# ---------------------------------------------------------------------------------------------- errors


def test_image_without_trimap_is_named(pet_dir):
    (pet_dir / "annotations" / "trimaps" / "pug_7.png").unlink()
    with pytest.raises(InputFileError, match=r"images/pug_7\.jpg: no matching trimap"):
        pets.pet_index(pet_dir)


def test_trimap_without_image_is_named(pet_dir):
    (pet_dir / "images" / "beagle_3.jpg").unlink()
    with pytest.raises(InputFileError, match=r"trimaps/beagle_3\.png: no matching image"):
        pets.pet_index(pet_dir)


def test_wrong_trimap_values_are_named(pet_dir):
    bad = _trimap(48, 36)
    bad[0, 0], bad[1, 1] = 0, 4
    Image.fromarray(bad, mode="L").save(pet_dir / "annotations" / "trimaps" / "Abyssinian_1.png")
    with pytest.raises(InputFileError, match=r"Abyssinian_1\.png: trimap values must be 1, 2 or 3; found \[0, 4\]"):
        pets.read_pet(pet_dir, "Abyssinian_1", 16)


def test_unreadable_image_is_named(pet_dir):
    (pet_dir / "images" / "Abyssinian_2.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(InputFileError, match=r"Abyssinian_2\.jpg: not a readable image"):
        pets.load_pets(pet_dir, ["Abyssinian_1", "Abyssinian_2"], 16)


def test_trimap_of_another_size_or_colour_is_named(pet_dir):
    Image.fromarray(_trimap(20, 20), mode="L").save(pet_dir / "annotations" / "trimaps" / "pug_7.png")
    with pytest.raises(InputFileError, match=r"pug_7\.png: size 20x20 differs from its image"):
        pets.read_pet(pet_dir, "pug_7", 16)
    Image.new("RGB", (48, 36), (1, 1, 1)).save(pet_dir / "annotations" / "trimaps" / "pug_7.png")
    with pytest.raises(InputFileError, match=r"pug_7\.png: expected a single-channel trimap"):
        pets.read_pet(pet_dir, "pug_7", 16)


def test_missing_dataset_says_where_to_put_which_files(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(DataMissingError) as info:
        pets.ensure_pets(root, download=False)
    message = str(info.value)
    for name, sha256, size in pets.ARCHIVES.values():
        assert name in message and sha256 in message and str(size) in message
    assert str(root.resolve()) in message and "annotations/trimaps/*.png" in message
    assert message.count("Oxford-IIIT Pet dataset not found") == 1


# ---------------------------------------------------------------------------------------------- archives


def _tar(pet_dir: Path, top: str, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(pet_dir / top, arcname=top)
    return dest


def test_archives_are_verified_then_unpacked(pet_dir, tmp_path, monkeypatch):
    data_dir = tmp_path / "fresh"
    data_dir.mkdir()
    archives = {top: _tar(pet_dir, top, data_dir / f"{top}.tar.gz") for top in ("images", "annotations")}
    # the official checksums do not match these tiny archives: refused, never unpacked
    with pytest.raises(ChecksumError, match="images.tar.gz: sha256 checksum mismatch"):
        pets.ensure_pets(data_dir, download=False)
    assert not (data_dir / "images").exists()
    monkeypatch.setattr(
        pets, "ARCHIVES", {top: (path.name, file_digest(path), path.stat().st_size) for top, path in archives.items()}
    )
    assert pets.ensure_pets(data_dir, download=False) == data_dir
    assert pets.pet_index(data_dir) == sorted(NAMES)


# -------------------------------------------------------------------------------------- through the family


def test_unet_trains_and_builds_an_objective_on_pets(pet_dir):
    hp = dict(
        dataset="pets",
        data_dir=str(pet_dir),
        download=False,
        n_images=0,
        image_size=16,
        eval_fraction=0.34,
        eval_size=2,
        depth=1,
        base_width=4,
        epochs=1,
        batch_size=2,
    )
    torch.manual_seed(0)
    model = unet.build_model(hp)
    result = unet.train(model, hp, seed=0, device="cpu")
    assert result.status == "ok" and len(result.history) == 1
    obj = unet.objective(model, hp, seed=0, device="cpu", dtype=torch.float64)
    assert set(obj.metadata["eval_images"]) <= set(NAMES) and len(obj.metadata["eval_images"]) == 2
    assert np.isfinite(obj.loss_of_model().item())
