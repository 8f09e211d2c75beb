"""The explorer page of a synthetic results folder: its size, the time to write it, and the time until it
is ready in headless Chromium (Debian's chromium driven by Playwright; skipped when absent).

    python benchmarks/bench_explorer.py                 # 1,000 runs (plus the given results folders)
    python benchmarks/bench_explorer.py --runs 100 --results results [--rounds 3] [--threads 1]

Prints ``BENCH explorer_<folder> ready=<s> ... mb=<page size> written_s=<s>``: the page is written once (seconds),
then loaded ``--rounds`` times, each in a fresh tab, timed by ``harness.compare`` (ours alone: there is no peer, so
no ratio; median, spread and load average as in every benchmark).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness import add_arguments, compare, limit_threads

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from losstopo.explorer.build import write  # noqa: E402
from losstopo.explorer.synthetic import make_results  # noqa: E402


def page_loader(page: Path, browser):
    """A callable that opens ``page`` in a fresh tab of ``browser`` and returns when it marks itself ready."""

    def load():
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(page.as_uri())
        tab.wait_for_selector("body[data-ready='1']", timeout=60_000)
        tab.close()

    return load


def measure(label: str, results: Path, rounds: int) -> None:
    start = time.perf_counter()
    page = write(results, results / "explorer.html")
    notes = {"mb": f"{page.stat().st_size / 1e6:.2f}", "written_s": f"{time.perf_counter() - start:.1f}"}
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print(
            f"BENCH explorer_{label} ready=not_measured (no chromium/playwright) "
            + " ".join(f"{k}={v}" for k, v in notes.items()),
            flush=True,
        )
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        load = page_loader(page, browser)
        load()  # warm-up: the browser's first page
        compare(f"explorer_{label}", {"ready": load}, rounds=rounds, notes=notes)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs of the synthetic results folder")
    parser.add_argument("--results", nargs="*", default=[], help="real results folders to measure too")
    add_arguments(parser, rounds=3)
    args = parser.parse_args()
    limit_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        make_results(tmp, n_runs=args.runs, seeds=2, resolution=31, checkpoints=(5,))
        print(
            f"# synthetic folder: {args.runs} runs + {args.runs} checkpoints, 31 x 31 landscapes, "
            f"made in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        measure(f"synthetic_{args.runs}", Path(tmp), args.rounds)
    for folder in args.results:
        measure(Path(folder).resolve().name, Path(folder), args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
