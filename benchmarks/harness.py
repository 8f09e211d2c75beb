"""The timing protocol every benchmark uses: same threads for every side, interleaved rounds, median and spread,
and no ratio when the machine is busier than its cores.

A benchmark file does::

    from harness import add_arguments, compare, limit_threads

    parser = argparse.ArgumentParser()
    add_arguments(parser)                 # --threads N (default 1) and --rounds R (default 5)
    args = parser.parse_args()
    limit_threads(args.threads)           # before the first timed call
    ...                                   # build inputs, warm up (numba compile, caches), check outputs agree
    compare("topology_41x4", {"ours": lambda: ours(f), "gudhi": lambda: peer(f)}, rounds=args.rounds)

``compare`` times each side once per round, in a rotated order (round r starts with side r mod n), so drift in
the machine's load hits every side alike; it prints one ``BENCH`` line and returns a :class:`Comparison`. The
first side is ours; every other side is a peer and gets ``ratio = median(peer) / median(ours)`` (above 1: ours is
faster) with the range of the per-round ratios. The line also carries each side's median process CPU time, which
under load moves much less than the wall time. When the 1-minute load average, read before and after the
comparison, exceeds the number of cores this process may use, the ratio is replaced by ``ratio=refused`` and the
reason: a side may then have waited for a core, and the ratio says nothing.

Two extensions, both said in the line: ``scale={side: factor}`` projects a side that did part of the work (a slow
side timed on part of a grid) linearly to the whole: its wall and CPU times are multiplied by ``factor`` and the line
carries ``projected=side*factor``. ``Comparison.pair(peer, name)`` is ours against one peer of a multi-side
comparison (same rounds, same load), optionally with another key than ``ratio`` (``fraction`` for a roofline).
With ours alone (a peer not installed), the line has the timings and no ratio.

``run_all.py`` passes the thread count to every benchmark process through ``LOSSTOPO_BENCH_THREADS`` and the usual
OpenMP / BLAS / numba variables, so libraries that read them at import time agree with ``--threads``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def default_threads() -> int:
    return int(os.environ.get("LOSSTOPO_BENCH_THREADS", "1"))


def add_arguments(parser: argparse.ArgumentParser, rounds: int = 5) -> None:
    """Add ``--threads`` (every side, default 1 or ``$LOSSTOPO_BENCH_THREADS``) and ``--rounds``."""
    parser.add_argument(
        "--threads",
        type=int,
        default=default_threads(),
        help="threads for every side of every comparison (default %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved timed rounds (default %(default)s)")


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that fix ``threads`` in a child process before its libraries load."""
    return {"LOSSTOPO_BENCH_THREADS": str(threads), **{name: str(threads) for name in THREAD_VARIABLES}}


def limit_threads(threads: int) -> None:
    """Hold every thread pool of this process at ``threads``: environment (for libraries loaded later),
    OpenMP / BLAS pools already loaded (threadpoolctl), torch and numba when imported."""
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    os.environ.update(thread_environment(threads))
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if "numba" in sys.modules:
        numba = sys.modules["numba"]
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Comparison:
    """Timings of one comparison: per side, the wall and CPU seconds of every round (in round order)."""

    name: str
    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    load: tuple[float, float]  # 1-minute load average before and after
    cores: int
    threads: int
    notes: dict[str, str] = field(default_factory=dict)
    ratio_key: str = "ratio"

    @property
    def sides(self) -> list[str]:
        return list(self.wall)

    @property
    def rounds(self) -> int:
        return len(self.wall[self.sides[0]])

    def median(self, side: str) -> float:
        return statistics.median(self.wall[side])

    def spread(self, side: str) -> float:
        """(max - min) / median of the wall times, as a fraction."""
        times = self.wall[side]
        return (max(times) - min(times)) / statistics.median(times)

    def round_ratios(self, peer: str) -> list[float]:
        ours = self.sides[0]
        return [p / o for p, o in zip(self.wall[peer], self.wall[ours])]

    @property
    def busy(self) -> str | None:
        """Why a ratio would mean nothing here, or None."""
        worst = max(self.load)
        if worst > self.cores:
            return f"load average {worst:.1f} > {self.cores} cores"
        return None

    def ratio(self, peer: str) -> float | None:
        return None if self.busy else self.median(peer) / self.median(self.sides[0])

    def pair(self, peer: str, name: str, ratio_key: str = "ratio") -> Comparison:
        """Ours against ``peer`` alone, named ``name``; the ratio printed as ``ratio_key``."""
        keep = [self.sides[0], peer]
        notes = dict(self.notes)
        projected = [p for p in notes.pop("projected", "").split(",") if p.split("*")[0] in keep]
        if projected:
            notes["projected"] = ",".join(projected)
        return Comparison(
            name,
            {s: self.wall[s] for s in keep},
            {s: self.cpu[s] for s in keep},
            self.load,
            self.cores,
            self.threads,
            notes,
            ratio_key,
        )

    def line(self) -> str:
        parts = [f"BENCH {self.name}"]
        for side in self.sides:
            parts.append(f"{side}={self.median(side):.3f}")
        for peer in self.sides[1:]:
            key = self.ratio_key if len(self.sides) == 2 else f"{self.ratio_key}_{peer}"
            if self.busy:
                parts.append(f"{key}=refused")
            else:
                r = self.round_ratios(peer)
                parts.append(f"{key}={self.ratio(peer):.2f} ({min(r):.2f}-{max(r):.2f})")
        parts.append("spread=" + ",".join(f"{100 * self.spread(s):.0f}%" for s in self.sides))
        parts.append("cpu=" + ",".join(f"{statistics.median(self.cpu[s]):.3f}" for s in self.sides))
        parts.append(
            f"rounds={self.rounds} threads={self.threads} load={self.load[0]:.1f}/{self.load[1]:.1f} cores={self.cores}"
        )
        parts += [f"{k}={v}" for k, v in self.notes.items()]
        if self.busy and len(self.sides) > 1:
            parts.append(f"(no ratio: {self.busy})")
        return " ".join(parts)


def compare(
    name: str,
    sides: dict[str, Callable[[], object]],
    rounds: int = 5,
    notes: dict[str, str] | None = None,
    out=sys.stdout,
    scale: dict[str, float] | None = None,
) -> Comparison:
    """Time the callables in ``sides`` (ours first, then the peers) over ``rounds`` interleaved rounds.

    Every callable takes no argument and does the whole work being compared; warm-ups and output checks belong
    before the call. The thread count recorded is the one ``limit_threads`` set. ``notes`` are extra ``key=value``
    fields for the line. ``scale``: per side, the factor that projects its times to the whole work (it was timed on
    a part of it, e.g. grid points / points timed); said in the line as ``projected=side*factor``. Prints the
    ``BENCH`` line to ``out`` (nothing when ``out`` is None) and returns the timings. Raises ValueError with no
    side, fewer than one round, or a scale for an unknown side or not > 0.
    """
    scale = dict(scale or {})
    if not sides or rounds < 1:
        raise ValueError(f"compare {name!r}: needs at least ours, and rounds >= 1")
    if any(s not in sides or not f > 0 for s, f in scale.items()):
        raise ValueError(f"compare {name!r}: scale {scale} must name sides of {list(sides)} with factors > 0")
    names = list(sides)
    wall = {s: [0.0] * rounds for s in names}
    cpu = {s: [0.0] * rounds for s in names}
    before = os.getloadavg()[0]
    for r in range(rounds):
        for i in range(len(names)):
            side = names[(r + i) % len(names)]
            c0, w0 = time.process_time(), time.perf_counter()
            sides[side]()
            factor = scale.get(side, 1.0)
            wall[side][r] = (time.perf_counter() - w0) * factor
            cpu[side][r] = (time.process_time() - c0) * factor
    after = os.getloadavg()[0]
    notes = dict(notes or {})
    projected = [f"{s}*{f:g}" for s, f in scale.items() if f != 1]
    if projected:
        notes["projected"] = ",".join(projected)
    result = Comparison(name, wall, cpu, (before, after), usable_cores(), default_threads(), notes)
    if out is not None:
        print(result.line(), file=out, flush=True)
    return result
