"""The explorer page of a synthetic results folder: its size, the time to write it, and the time until it
is ready in headless Chromium (Debian's chromium driven by Playwright; skipped when absent).

    python benchmarks/bench_explorer.py                 # 1,000 runs (plus the given results folders)
    python benchmarks/bench_explorer.py --runs 100 --results results
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from losstopo.explorer.build import write  # noqa: E402
from losstopo.explorer.synthetic import make_results  # noqa: E402


def load_seconds(page: Path, repeat: int = 3) -> float | None:
    """Best of ``repeat``: navigation start to the page's data-ready mark, in a fresh tab each time."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    best = float("inf")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(repeat):
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            tab.goto(page.as_uri())
            tab.wait_for_selector("body[data-ready='1']", timeout=60_000)
            best = min(best, time.perf_counter() - start)
            tab.close()
        browser.close()
    return best


def measure(label: str, results: Path) -> None:
    start = time.perf_counter()
    page = write(results, results / "explorer.html")
    written = time.perf_counter() - start
    seconds = load_seconds(page)
    ready = f"{seconds:.2f} s" if seconds is not None else "not measured (no chromium/playwright)"
    print(f"BENCH explorer_{label}: {page.stat().st_size / 1e6:.2f} MB, written in {written:.1f} s, "
          f"ready in Chromium in {ready}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs of the synthetic results folder")
    parser.add_argument("--results", nargs="*", default=[], help="real results folders to measure too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        make_results(tmp, n_runs=args.runs, seeds=2, resolution=31, checkpoints=(5,))
        print(f"# synthetic folder: {args.runs} runs + {args.runs} checkpoints, 31 x 31 landscapes, "
              f"made in {time.perf_counter() - start:.0f} s", flush=True)
        measure(f"synthetic_{args.runs}", Path(tmp))
    for folder in args.results:
        measure(Path(folder).resolve().name, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
