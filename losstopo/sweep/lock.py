"""One sweep at a time in a results folder, whoever starts it (torch-free: the Snakefile imports it).

Snakemake locks its working folder, but ``results:`` may be an absolute path that two checkouts, two
terminals or two users of a group folder share; two sweeps writing the same run folders then remove each
other's files mid-job. The Snakemake process that runs a sweep (``onstart``, so neither dry runs, reports,
``--unlock`` nor the cluster jobs, which run without hooks) holds an OS-level lock on
``<results>/logs/sweep.lock`` until it ends: ``fcntl.lockf``, a POSIX record lock, which NFS (lockd, NFSv4)
and Lustre carry between nodes and which the kernel (or the NFS server) drops when the process dies, so a
killed sweep leaves no stale lock. The file names the holder for the message a second sweep stops with.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path


class ResultsLocked(RuntimeError):
    """Another sweep holds the results folder; the message names the folder, the holder and how to release it."""


class ResultsLock:
    """The lock of one results folder; :meth:`acquire` once, :meth:`release` when the sweep ends."""

    def __init__(self, results: str | os.PathLike):
        self.folder = Path(results).absolute()
        self.path = self.folder / "logs" / "sweep.lock"
        self._fd: int | None = None

    def _holder(self) -> str:
        """Who holds the lock, as the holder wrote it; "unknown" when the file says nothing readable."""
        try:
            info = json.loads(self.path.read_text())
            return (
                f"process {info['pid']} on {info['host']} (user {info['user']}, since {info['since']}, "
                f"Snakemake run from {info['cwd']})"
            )
        except (OSError, ValueError, KeyError, TypeError):
            return "another process (it has not said which)"

    def acquire(self) -> bool:
        """Take the lock for this process; True when held. ResultsLocked when another process holds it; False
        (with a warning on stderr) where the file system cannot lock at all, so the sweep runs unprotected."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise ResultsLocked(
                    f"the results folder {self.folder} is in use by another sweep: {self.path} is locked by "
                    f"{self._holder()}. Wait for that sweep to end, or stop it. The lock ends with the process that "
                    f"holds it; only if that process no longer runs (its node crashed while a network file system "
                    f"kept the lock) remove {self.path} to release it."
                ) from None
            print(
                f"losstopo: warning: cannot lock {self.path} ({exc.strerror}): this file system takes no locks, so "
                "a second sweep on this results folder would not be stopped",
                file=sys.stderr,
            )
            return False
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": _user(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "cwd": os.getcwd(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock up (emptying the file, so no holder's name outlives it); nothing if not held."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.lockf(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)  # closing any descriptor of the file would drop a POSIX lock: this is the only one
        self._fd = None


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())
