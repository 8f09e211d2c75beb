"""The topology engine's numba kernels, cached on disk wherever a cache can be written.

``numba.njit(cache=True)`` stops the import with ``RuntimeError: cannot cache function ...: no locator
available`` when it finds no writable cache folder (numba tries ``$NUMBA_CACHE_DIR``, ``__pycache__`` beside
the sources, then the user's cache folder): a checkout on a read-only file system (an Apptainer image, a
shared software tree) with an unwritable home. :func:`cached_njit` then caches the kernels in a private
folder of the system's temporary directory, and failing that compiles them in every process (tens of
seconds per job); either way one line (a logging warning) says so and how to choose the place
(``NUMBA_CACHE_DIR``). ``losstopo warm-cache`` reports the folders :data:`CACHE_DIRS` holds.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

import numba as nb
from numba.core import config as numba_config

log = logging.getLogger(__name__)

CACHE_DIRS: set[str] = set()  # the folders this process's kernels are cached in
_said: list[str] = []  # the fallback already announced in this process (one line per process)


def private_folder() -> Path | None:
    """``<temp dir>/losstopo-numba-<uid>``, made with mode 0700; None if it cannot be made, or if it
    exists but is not this user's alone (numba's cache files are pickles: another user's would run code)."""
    folder = Path(tempfile.gettempdir()) / f"losstopo-numba-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
    return folder if private and os.access(folder, os.W_OK) else None


def _cache_in(dispatcher, folder: Path | None) -> bool:
    """Enable ``dispatcher``'s cache in ``folder`` (numba's NUMBA_CACHE_DIR locator, set only for this call:
    the locator keeps its path); False when that fails too."""
    if folder is None:
        return False
    saved = numba_config.CACHE_DIR
    numba_config.CACHE_DIR = str(folder)
    try:
        dispatcher.enable_caching()
    except RuntimeError:
        return False
    finally:
        numba_config.CACHE_DIR = saved
    return True


def _say_once(text: str) -> None:
    if not _said:
        _said.append(text)
        log.warning("%s", text)


def cached_njit(fn):
    """``numba.njit(fn)`` with numba's on-disk cache where it can be written (see the module docstring);
    the kernel itself is the same whether or not it is cached."""
    dispatcher = nb.njit(fn)
    try:
        dispatcher.enable_caching()
    except RuntimeError:  # "cannot cache function ...: no locator available for file ..."
        folder = private_folder()
        where = Path(fn.__code__.co_filename).parent
        if _cache_in(dispatcher, folder):
            _say_once(
                f"losstopo: numba cannot write its cache beside {where}, in NUMBA_CACHE_DIR or in the user's cache "
                f"folder; caching the compiled topology kernels in {folder} instead (set NUMBA_CACHE_DIR to choose)"
            )
        else:
            _say_once(
                f"losstopo: numba cannot write its cache beside {where}, in NUMBA_CACHE_DIR, in the user's cache "
                "folder or the temporary folder; the topology kernels are compiled in every process (tens of "
                "seconds each): set NUMBA_CACHE_DIR to a writable folder"
            )
            return dispatcher
    CACHE_DIRS.add(str(dispatcher._cache.cache_path))  # numba's FunctionCache: the folder its locator chose
    return dispatcher
