"""Checksum-verified download of dataset archives, shared by every real-data loader.

A file is used only after its checksum matches: a file already on disk is verified, a fresh
download lands in a temporary file and is renamed into place only once verified. When the file
is missing and cannot be downloaded, :class:`DataMissingError` says exactly which file to put
where, so a cluster without network access can be fed by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

from losstopo.io import InputFileError, atomic_path
from losstopo.progress import Progress

CHUNK = 1 << 20


class DataMissingError(InputFileError):
    """A dataset file is absent and could not be downloaded; the message says where to put it."""


class ChecksumError(InputFileError):
    """A dataset file does not match its published checksum; it is never used."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks (archives are hundreds of MB)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected(sha256: str | None, md5: str | None) -> dict[str, str]:
    expected = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}
    if not expected:
        raise ValueError("fetch needs at least one checksum (sha256 or md5)")
    return expected


def verify(
    path: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    *,
    shown_as: str | os.PathLike | None = None,
) -> None:
    """Raise :class:`ChecksumError` unless ``path`` matches every checksum given."""
    for algorithm, want in _expected(sha256, md5).items():
        got = file_digest(path, algorithm)
        if got != want:
            raise ChecksumError(
                f"{shown_as or path}: {algorithm} checksum mismatch (expected {want}, got {got}); "
                f"the file is corrupt or not the published one. Delete it and run again to re-download, "
                f"or replace it with the official file."
            )


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Serialise concurrent jobs (parallel Snakemake rules) fetching the same file."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _download(url: str, dest: Path, name: str, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        with Progress(total=total // CHUNK + 1, desc=f"download {name}", unit="MB") as progress:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                progress.update(1)


def fetch(
    url: str,
    sha256: str | None,
    dest_dir: str | os.PathLike,
    *,
    md5: str | None = None,
    filename: str | None = None,
    download: bool = True,
    timeout: float = 60.0,
) -> Path:
    """The verified local copy of ``url`` in ``dest_dir`` (downloaded once), as a Path.

    ``filename`` defaults to the last component of the URL. At least one of ``sha256`` / ``md5`` must
    be given; every one given is checked, on an existing file as on a fresh download. With
    ``download=False`` (or when the download fails) a missing file raises :class:`DataMissingError`
    naming the URL, the exact destination path and the checksums; a mismatch raises
    :class:`ChecksumError`. Safe to call from concurrent jobs.
    """
    expected = _expected(sha256, md5)
    dest_dir = Path(dest_dir).expanduser()
    dest = dest_dir / (filename or url.rstrip("/").rsplit("/", 1)[-1])
    with _locked(dest_dir / f".{dest.name}.lock"):
        if dest.is_file():
            verify(dest, sha256, md5)
            return dest
        how = "downloading is switched off"
        if download:
            try:
                with atomic_path(dest, suffix=".part") as tmp_path:
                    _download(url, tmp_path, dest.name, timeout)
                    verify(tmp_path, sha256, md5, shown_as=f"{dest} (downloaded from {url})")
                return dest
            except (urllib.error.URLError, OSError) as exc:  # no network, DNS, HTTP error, timeout
                how = f"the download failed: {exc}"
        sums = ", ".join(f"{name} {value}" for name, value in expected.items())
        raise DataMissingError(f"dataset file missing: put {dest.name} ({sums}) from {url} at {dest.resolve()} ({how})")


def extract_tar(archive: str | os.PathLike, dest_dir: str | os.PathLike, top: str) -> Path:
    """Unpack ``archive`` so that ``dest_dir/top`` exists, once; return that path.

    Unpacking goes to a temporary folder that is renamed onto ``dest_dir/top`` only when complete,
    so an interrupted job never leaves a half-extracted folder that looks finished. Members are
    filtered with tarfile's ``data`` filter (no absolute paths, links out of the tree or devices).
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    target = dest_dir / top
    with _locked(dest_dir / f".{top}.extract.lock"):
        if target.is_dir():
            return target
        tmp = Path(tempfile.mkdtemp(dir=dest_dir, prefix=f".{top}.", suffix=".part"))
        try:
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(tmp, filter="data")
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise InputFileError(f"{archive}: not a readable tar archive ({exc})") from None
            if not (tmp / top).is_dir():
                raise InputFileError(f"{archive}: expected a top-level folder {top!r} in the archive")
            os.replace(tmp / top, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
