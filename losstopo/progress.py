"""Progress for long loops: a tqdm bar on a terminal, a periodic log line (rate, ETA) in log files."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Count units of work; report rate and ETA.

    On a TTY this draws a tqdm bar. Elsewhere (Snakemake log files, Slurm output) it prints one plain
    line every ``every`` seconds and a final line, so logs stay readable.
    """

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str = "it",
        every: float = 10.0,
        stream: TextIO | None = None,
        enabled: bool = True,
    ):
        self.total, self.desc, self.unit, self.every = int(total), desc, unit, every
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self._start = self._last = time.perf_counter()
        self._bar = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        print(
            f"{self.desc}: {self.done}/{self.total} {self.unit} ({100.0 * self.done / max(self.total, 1):.0f}%), "
            f"{rate:.1f} {self.unit}/s, elapsed {elapsed:.1f} s, ETA {eta:.1f} s",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            self._line(time.perf_counter())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
