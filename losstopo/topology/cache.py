"""``losstopo warm-cache``: compile the topology engine's numba kernels into numba's on-disk cache.

The merge-tree and k-NN kernels are ``numba.njit(cache=True)``: the first process that runs them
compiles them (tens of seconds) and writes the machine code to the cache, and every later process on a
CPU of the same kind loads it in about a second. ``make setup`` runs this once, so the first topology job
of a fresh install, and every cluster job sharing the checkout, starts from a warm cache.

The cache lives in ``$NUMBA_CACHE_DIR`` when that is set, else next to the sources
(``losstopo/topology/__pycache__/*.nbi, *.nbc``), else (a read-only checkout) in the user's cache folder,
else in a private folder of the temporary directory (``losstopo.topology.jit``); the command says which.
docs/cluster.md explains why many jobs can share it on a network file system.
"""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np

from losstopo.topology.files import write_topology
from losstopo.topology.grid import compute_topology
from losstopo.topology.jit import CACHE_DIRS
from losstopo.topology.knn import scattered_topology
from losstopo.topology.stencils import GRAPHS
from losstopo.topology.summary import summarize


def warm_cache() -> int:
    """Run every compiled code path once on tiny inputs (each grid stencil in 1 to 3 dimensions, a
    non-finite sample, a scattered k-NN landscape); returns how many topologies were computed."""
    rng = np.random.default_rng(0)
    fields = [rng.standard_normal(shape) for shape in ((9,), (7, 7), (5, 5, 5))]
    fields[1][3, 3] = np.nan  # the non-finite branch
    count = 0
    with tempfile.TemporaryDirectory(prefix="losstopo-warm-") as out:
        for field in fields:
            for graph in GRAPHS:
                write_topology(compute_topology(field, graph), out, 0.01)
                count += 1
        points = rng.uniform(-1, 1, (64, 2))
        topo, _ = scattered_topology((points**2).sum(axis=1) + 0.1 * rng.standard_normal(64), points, 8)
        summarize(topo)
        count += 1
    return count


def main(args) -> int:
    """CLI handler: compile and cache, and say where the cache is and how long it took."""
    start = time.perf_counter()
    count = warm_cache()
    where = ", ".join(sorted(CACHE_DIRS)) or "nowhere (no writable folder: every process compiles the kernels)"
    print(
        f"losstopo warm-cache: {count} topologies computed in {time.perf_counter() - start:.1f} s; "
        f"numba cache in {where}",
        file=sys.stderr,
    )
    return 0
