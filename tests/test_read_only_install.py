"""Field report 22.3: the engine runs from a read-only installation with no writable cache folder. numba's
`cache=True` used to stop the import (`cannot cache function '_connected': no locator available`); now the
kernels are cached where a cache can be written, or compiled in each process, with one line saying so."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from numba.core import config as numba_config
from numba.core.caching import CacheImpl

from losstopo.topology import jit

REPO = Path(__file__).resolve().parents[1]
MESSAGE = "losstopo: numba cannot write its cache beside"


def _run_read_only(cmd: list[str], env: dict, read_only: list[Path]) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``read_only[0]`` (the install: ``python -m`` finds the package there, not in this
    checkout) with the folders ``read_only`` unwritable: by their mode for an ordinary user, and as
    read-only bind mounts in a private mount namespace for root (whom modes do not stop)."""
    if os.geteuid() != 0:
        for folder in read_only:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return subprocess.run(cmd, env=env, cwd=read_only[0], capture_output=True, text=True)
    mounts = "".join(f'mount --bind "{p}" "{p}" && mount -o remount,ro,bind "{p}" && ' for p in read_only)
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", f"{mounts}true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"running as root, and no read-only bind mount is possible here: {probe.stderr.strip()}")
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", f'{mounts}exec "$@"', "sh", *cmd],
        env=env,
        cwd=read_only[0],
        capture_output=True,
        text=True,
    )


@pytest.fixture
def install(tmp_path):
    """A read-only copy of the package, an unwritable home (so no user cache folder) and NUMBA_CACHE_DIR."""
    shutil.copytree(REPO / "losstopo", tmp_path / "ro" / "losstopo", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("home/.cache", "nocache", "tmp", "out"):
        (tmp_path / name).mkdir(parents=True)
    np.save(tmp_path / "out" / "grid.npy", np.random.default_rng(0).standard_normal((9, 9)))
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path / "ro"),
        "HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "home" / ".cache"),
        "NUMBA_CACHE_DIR": str(tmp_path / "nocache"),
        "TMPDIR": str(tmp_path / "tmp"),
    }
    yield tmp_path, env
    for path in tmp_path.rglob("*"):  # give pytest back a folder it can remove
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.mark.slow  # compiles the kernels of a 2-D grid's topology from scratch: about 10 CPU-seconds
def test_a_read_only_install_caches_its_kernels_in_a_private_temporary_folder(install):
    base, env = install
    read_only = [base / "ro", base / "home", base / "nocache"]
    fallback = base / "tmp" / f"losstopo-numba-{os.getuid()}"
    cmd = [sys.executable, "-m", "losstopo", "topology", str(base / "out" / "grid.npy"), "--out-dir", str(base / "out")]
    topo = _run_read_only(cmd, env, read_only)
    assert topo.returncode == 0, topo.stderr
    assert (base / "out" / "topology.json").is_file()
    assert topo.stderr.count(MESSAGE) == 1, topo.stderr  # one line per process, not one per kernel
    assert f"caching the compiled topology kernels in {fallback} instead" in topo.stderr
    assert list(fallback.rglob("*.nbi")) and not list((base / "ro").rglob("*.nbi"))
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o700


def _only_numba_cache_dir(monkeypatch):
    """numba sees no cache folder but NUMBA_CACHE_DIR, which is unset: as on a read-only install."""
    monkeypatch.setattr(CacheImpl, "_locator_classes", CacheImpl._locator_classes[:1])  # the NUMBA_CACHE_DIR one
    monkeypatch.setattr(numba_config, "CACHE_DIR", "")
    monkeypatch.setattr(jit, "_said", [])
    monkeypatch.setattr(jit, "CACHE_DIRS", set())


def _double(x):
    return 2 * x


def _triple(x):
    return 3 * x


def test_a_kernel_whose_cache_folder_is_unwritable_is_cached_in_a_private_folder(monkeypatch, tmp_path, caplog):
    _only_numba_cache_dir(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kernels = [jit.cached_njit(_double), jit.cached_njit(_triple)]
    assert [k(4) for k in kernels] == [8, 12]
    folder = tmp_path / f"losstopo-numba-{os.getuid()}"
    said = [r.getMessage() for r in caplog.records if MESSAGE in r.getMessage()]
    assert len(said) == 1 and f"caching the compiled topology kernels in {folder} instead" in said[0]
    assert len(jit.CACHE_DIRS) == 1 and next(iter(jit.CACHE_DIRS)).startswith(str(folder))
    assert list(folder.rglob("*.nbi"))  # numba wrote its index there
    assert numba_config.CACHE_DIR == ""  # the fallback was for these kernels only


def test_a_kernel_with_no_writable_cache_folder_at_all_is_compiled_uncached(monkeypatch, caplog):
    _only_numba_cache_dir(monkeypatch)
    monkeypatch.setattr(jit, "private_folder", lambda: None)
    kernels = [jit.cached_njit(_double), jit.cached_njit(_triple)]
    assert [k(4) for k in kernels] == [8, 12]
    said = [r.getMessage() for r in caplog.records if MESSAGE in r.getMessage()]
    assert len(said) == 1 and "compiled in every process" in said[0] and "set NUMBA_CACHE_DIR" in said[0]
    assert jit.CACHE_DIRS == set()


def test_a_temporary_folder_another_user_could_write_is_not_used(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"losstopo-numba-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    assert jit.private_folder() is None
    shared.chmod(0o700)
    assert jit.private_folder() == shared
