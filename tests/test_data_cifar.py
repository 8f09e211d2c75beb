"""CIFAR-10 loader, checksum-verified download and augmentation, on tiny files in the real on-disk format."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch

from losstopo.io import InputFileError
from losstopo.training.data import augment_batch, cifar10, digits, make_image_data
from losstopo.training.data.download import ChecksumError, DataMissingError, extract_tar, fetch

UNREACHABLE = "http://127.0.0.1:9/cifar-10-binary.tar.gz"  # discard port: connection refused at once


def records(rng: np.random.Generator, n: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """``n`` CIFAR-10 binary records (label byte + 3072 pixel bytes) and the arrays they encode."""
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    raw = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1).tobytes()
    return raw, images, labels


@pytest.fixture
def tiny_cifar(tmp_path):
    """A ``cifar-10-binary.tar.gz`` laid out like the official one: 5 train batches of 3, a test batch of 4."""
    rng = np.random.default_rng(7)
    members, train_x, train_y = {}, [], []
    for i in range(1, 6):
        raw, x, y = records(rng, 3)
        members[f"data_batch_{i}.bin"] = raw
        train_x.append(x), train_y.append(y)
    raw, test_x, test_y = records(rng, 4)
    members["test_batch.bin"] = raw
    members["batches.meta.txt"] = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
    archive = tmp_path / "src" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = archive.read_bytes()
    return {
        "archive": archive,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "md5": hashlib.md5(blob).hexdigest(),
        "train": (np.concatenate(train_x), np.concatenate(train_y)),
        "test": (test_x, test_y),
    }


def test_loads_official_layout_byte_exact(tiny_cifar, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cifar-10-binary.tar.gz").write_bytes(tiny_cifar["archive"].read_bytes())
    x_train, y_train, x_test, y_test = cifar10.load_arrays(
        data_dir, sha256=tiny_cifar["sha256"], md5=tiny_cifar["md5"], download=False
    )
    assert x_train.shape == (15, 3, 32, 32) and x_train.dtype == np.uint8
    np.testing.assert_array_equal(x_train, tiny_cifar["train"][0])
    np.testing.assert_array_equal(y_train, tiny_cifar["train"][1])
    np.testing.assert_array_equal(x_test, tiny_cifar["test"][0])
    np.testing.assert_array_equal(y_test, tiny_cifar["test"][1])
    assert (data_dir / "cifar-10-batches-bin" / "test_batch.bin").is_file()  # unpacked once, then reused
    again = cifar10.load_arrays(data_dir, sha256=tiny_cifar["sha256"], md5=tiny_cifar["md5"], download=False)
    np.testing.assert_array_equal(again[0], x_train)


def test_download_verifies_and_keeps_the_file(tiny_cifar, tmp_path):
    data_dir = tmp_path / "data"
    url = tiny_cifar["archive"].as_uri()  # urllib reads file:// URLs like http ones
    x_train, *_ = cifar10.load_arrays(data_dir, url=url, sha256=tiny_cifar["sha256"], md5=tiny_cifar["md5"])
    assert len(x_train) == 15
    assert (data_dir / "cifar-10-binary.tar.gz").read_bytes() == tiny_cifar["archive"].read_bytes()


def test_checksum_mismatch_on_disk_is_an_error(tiny_cifar, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cifar-10-binary.tar.gz").write_bytes(tiny_cifar["archive"].read_bytes())
    with pytest.raises(ChecksumError, match=f"sha256 checksum mismatch.*expected {cifar10.SHA256}"):
        cifar10.load_arrays(data_dir)  # the official checksums do not match the tiny archive
    with pytest.raises(ChecksumError, match="md5 checksum mismatch"):
        cifar10.load_arrays(data_dir, sha256=tiny_cifar["sha256"], md5="0" * 32, download=False)
    assert not (data_dir / "cifar-10-batches-bin").exists()  # nothing was unpacked from the bad file


def test_corrupt_download_is_not_kept(tiny_cifar, tmp_path):
    data_dir = tmp_path / "data"
    with pytest.raises(ChecksumError, match="downloaded from"):
        fetch(tiny_cifar["archive"].as_uri(), "f" * 64, data_dir)
    assert list(data_dir.glob("*.tar.gz")) == [] and list(data_dir.glob(".*.part")) == []


def test_missing_data_without_network_names_file_and_place(tmp_path):
    data_dir = tmp_path / "nowhere"
    with pytest.raises(DataMissingError) as info:
        cifar10.load_arrays(data_dir, url=UNREACHABLE)
    message = str(info.value)
    assert f"put cifar-10-binary.tar.gz (sha256 {cifar10.SHA256}, md5 {cifar10.MD5})" in message
    assert str((data_dir / "cifar-10-binary.tar.gz").resolve()) in message
    assert "download failed" in message and UNREACHABLE in message
    with pytest.raises(DataMissingError, match="downloading is switched off"):
        cifar10.load_arrays(data_dir, download=False)


def test_fetch_needs_a_checksum(tmp_path):
    with pytest.raises(ValueError, match="at least one checksum"):
        fetch(UNREACHABLE, None, tmp_path)


def test_truncated_batch_file_is_an_error(tmp_path):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(cifar10.RECORD * 2 + 5))
    with pytest.raises(InputFileError, match=r"data_batch_1.bin: 6151 bytes is not a whole number of 3073-byte"):
        cifar10.read_batch(path)
    path.write_bytes(bytes([10]) + bytes(cifar10.RECORD - 1))
    with pytest.raises(InputFileError, match="label byte 10 out of range"):
        cifar10.read_batch(path)


def test_extract_rejects_archive_without_expected_folder(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("something/else.bin")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InputFileError, match="expected a top-level folder 'cifar-10-batches-bin'"):
        extract_tar(archive, tmp_path / "out", "cifar-10-batches-bin")


def test_subsets_are_seeded_and_normalised_by_the_training_subset():
    arrays = digits.load_arrays()
    assert arrays[0].shape == (1500, 1, 8, 8) and arrays[2].shape == (297, 1, 8, 8)
    a = make_image_data(*arrays, num_classes=10, train_size=400, test_size=100, data_seed=3)
    b = make_image_data(*arrays, num_classes=10, train_size=400, test_size=100, data_seed=3)
    c = make_image_data(*arrays, num_classes=10, train_size=400, test_size=100, data_seed=4)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    flat = a.x_train.double()
    assert abs(flat.mean().item()) < 1e-6 and abs(flat.std(unbiased=False).item() - 1) < 1e-6
    with pytest.raises(ValueError, match="train_size=2000: must be between 1 and 1500"):
        make_image_data(*arrays, num_classes=10, train_size=2000, test_size=10, data_seed=0)


def test_augmentation_matches_a_per_image_reference():
    x = torch.randn(16, 3, 6, 5)
    pad = 2
    out = augment_batch(x, pad, True, torch.Generator().manual_seed(11))
    # the same draws, replayed one image at a time on an explicitly padded copy
    gen = torch.Generator().manual_seed(11)
    offsets = torch.randint(0, 2 * pad + 1, (2, 16), generator=gen)
    mirror = torch.rand(16, generator=gen) < 0.5
    padded = torch.zeros(16, 3, 6 + 2 * pad, 5 + 2 * pad)
    padded[:, :, pad:-pad, pad:-pad] = x
    for i in range(16):
        r, c = offsets[0, i].item(), offsets[1, i].item()
        ref = padded[i, :, r : r + 6, c : c + 5]
        torch.testing.assert_close(out[i], ref.flip(-1) if mirror[i] else ref, rtol=0, atol=0)
    assert torch.equal(augment_batch(x, 0, False, torch.Generator()), x)
