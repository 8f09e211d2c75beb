"""How the PINN verdicts of findings.md change with the landscape's span and resolution (issue 21, item 3).

One set of trained models and Hessian directions (a finished sweep's results folder) is resampled at every
span x resolution, with the workflow's own code: ``run_sampling`` (the first span as the landscape's span,
the others as ``landscape.extra_spans``, in one call per run and resolution), ``losstopo topology`` (the
summary of every span), ``aggregate.span_rows`` (the rows of ``tables/spans.csv``) and the invariance
measurement (axis order, reflections, stencil, half resolution). Then the package's findings code judges
each (span, resolution) as findings.md's "Verdicts across spans" does (``losstopo.summary.findings.spans``);
nothing is retrained, nothing re-derived by hand.

    .venv/bin/snakemake --cores all            # the sweep: models, Hessian directions, runs.csv (any sweep
                                               # with a family whose landscape uses Hessian directions)
    .venv/bin/python benchmarks/span_study.py --results results --out results/span_study
    .venv/bin/python benchmarks/span_study.py --out results/span_study --judge-only   # re-judge the cache
    .venv/bin/python benchmarks/span_study.py --out results/span_study --judge-only --betas 1 5 10 15 20 25 30 40

Writes under ``--out``:

- ``r~<R>/<run_id>/``: the resampled run folder (landscape.npz with every span, topology/, invariance.csv,
  and copies of run.json, train.json, hessian/hessian.json); an existing landscape.npz sampled with the same
  settings is reused, so an interrupted study resumes and a re-run only judges;
- ``spans.csv``: one row per run, span and resolution, in the format of the workflow's tables/spans.csv;
- ``invariance.csv``: the invariance spreads of every landscape (with ``span`` and ``resolution``);
- ``verdicts.csv``: per family, claim, span and resolution, the verdict under the papers' convention and ours;
- ``table.md``: the tables of docs/findings.md (landscape shape per span and resolution; every verdict).

Cost, measured on the 2-core development machine (shared with other work, so CPU seconds, user + system): the
30 PINN runs of the default sweep at spans 0.2, 0.5, 1, 2 took 317 CPU-s at r = 13, 637 at r = 17 and 1,224 at
r = 21 (sampling, about 1.1 ms of CPU per grid point at one thread, plus topology and the invariance variants of
every landscape); ``--judge-only`` over all 12 (span, resolution) pairs 52 CPU-s (the findings statistics with
2,000 bootstrap resamples and 10,000 permutations per test). Run it in the checkout whose package it should use
(``PYTHONPATH=.`` in a git worktree beside the installed one).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from losstopo import cli
from losstopo.io import load_json, load_npz, read_csv_table, save_csv
from losstopo.landscape.sampling import run_sampling
from losstopo.summary.aggregate import run_row, span_rows
from losstopo.summary.findings.spans import read_spans, verdicts
from losstopo.summary.invariance import measure, spreads, summarize_spreads
from losstopo.summary.tables import read_runs

COPIED = ("run.json", "train.json", "hessian/hessian.json")


def resample(run_dir: Path, out: Path, spans: list[float], resolution: int, graph: str, threshold: float) -> Path:
    """``run_dir``'s model on its own directions at every span and one resolution, in ``out``: landscape.npz
    (reused when it holds these settings), topology/ (``losstopo topology``), invariance.csv."""
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (run_dir / name).exists():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / name, out / name)
    landscape = dict(load_npz(run_dir / "landscape.npz")["metadata"]["landscape"])
    landscape |= {"span": spans[0], "resolution": resolution, "extra_spans": spans[1:], "shard_points": None}
    path = out / "landscape.npz"
    stored = load_npz(path)["metadata"]["landscape"] if path.exists() else {}
    if any(stored.get(key) != landscape[key] for key in ("span", "resolution", "extra_spans", "dim", "directions")):
        run_sampling(run_dir, run_dir / "directions.npz", landscape, path, "cpu", progress=False)
        (out / "invariance.csv").unlink(missing_ok=True)
    options = ["--graph", graph, "--threshold", repr(threshold), "--out-dir", str(out / "topology")]
    if cli.main(["topology", str(path), *options]) != 0:
        raise RuntimeError(f"losstopo topology failed on {path}")
    if not (out / "invariance.csv").exists():
        data = load_npz(path)
        blocks = [
            spreads(measure(field, graph, threshold)).assign(span=span)
            for span, field in zip(spans, [data["loss"], *data.get("extra_loss", [])])
        ]
        save_csv(out / "invariance.csv", pd.concat(blocks, ignore_index=True))
    return out


def study(args) -> None:
    """Resample every run of ``args.family`` in ``args.results`` and write spans.csv and invariance.csv."""
    runs = read_runs(Path(args.results) / "tables" / "runs.csv")
    runs = runs[runs["family"] == args.family]
    if not len(runs):
        raise SystemExit(f"{args.results}/tables/runs.csv has no {args.family} run")
    graph, threshold = str(runs["topology_graph"].iloc[0]), float(runs["topology_threshold"].iloc[0])
    rows, spread_rows = [], []
    for resolution in args.resolutions:
        for i, run_id in enumerate(runs["run_id"]):
            source, target = Path(args.results) / "runs" / run_id, args.out / f"r~{resolution}" / run_id
            folder = resample(source, target, args.spans, resolution, graph, threshold)
            rows += span_rows(folder, run_row(folder))
            info = load_json(folder / "run.json")
            spread_rows.append(
                read_csv_table(folder / "invariance.csv").assign(
                    family=info["family"], run_id=run_id, resolution=resolution
                )
            )
            print(f"r = {resolution}: {i + 1}/{len(runs)} {run_id}", flush=True)
    save_csv(args.out / "spans.csv", pd.DataFrame(rows))
    save_csv(args.out / "invariance.csv", pd.concat(spread_rows, ignore_index=True))


def shape_table(spans: pd.DataFrame, invariance: pd.DataFrame, tolerance: float) -> list[str]:
    """Markdown: per span and resolution, the distribution of minima and saddles, the single-minimum shares, and
    whether the simplified minimum count holds still (median spreads within ``tolerance``; share that moves)."""

    def spread(values: pd.Series) -> str:
        return f"{values.median():g} [{values.min():g}-{values.max():g}]"

    lines = [
        "| span | r | minima: median [range] | after simplification | one minimum | one minimum after simplification "
        "| saddles: median [range] | loss range: median | simplified minima hold still (share moving) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (span, r), group in spans.groupby(["span", "resolution"], sort=True):
        where = (invariance["span"] == span) & (invariance["resolution"] == r)
        gate = summarize_spreads(invariance[where], tolerance).set_index("metric").loc["n_minima_simplified"]
        lines.append(
            f"| {span:g} | {r} | {spread(group['n_minima'])} | {spread(group['n_minima_simplified'])} "
            f"| {(group['n_minima'] == 1).mean():.0%} | {(group['n_minima_simplified'] == 1).mean():.0%} "
            f"| {spread(group['n_saddles'])} | {(group['loss_max'] - group['loss_min']).median():.3g} "
            f"| {'yes' if gate['holds_still'] else 'no'} ({gate['share_moving']:.0%}) |"
        )
    return lines


SHORT = {"supported": "S", "contradicted": "C", "inconclusive": "i", "too few to conclude": "f", "—": "·"}


def verdict_table(table: pd.DataFrame) -> list[str]:
    """Markdown: one row per claim, one column per span; each cell the verdicts at every resolution (ascending,
    separated by spaces), each as papers' convention/ours simplified in one letter each (``SHORT``); the last
    column says whether the claim gets the same verdicts at every span and resolution."""
    spans, resolutions = sorted(set(table["span"])), sorted(set(table["resolution"]))
    letter = {v: SHORT.get(v, "-") for v in set(table["papers"]) | set(table["ours_simplified"])}
    head = [f"span {s:g} (r {'/'.join(f'{r:g}' for r in resolutions)})" for s in spans]
    lines = ["| claim (paper) | " + " | ".join(head) + " | stable |", "| --- |" + " --- |" * (len(head) + 1)]
    for claim, rows in table.groupby("claim", sort=False):
        at = {(r.span, r.resolution): letter[r.papers] + letter[r.ours_simplified] for r in rows.itertuples()}
        cells = [" ".join(at.get((s, r), "?") for r in resolutions) for s in spans]
        lines.append(f"| {claim} | " + " | ".join(cells) + f" | {'yes' if len(set(at.values())) == 1 else 'no'} |")
    legend = ", ".join(f"{code} {verdict}" for verdict, code in SHORT.items() if verdict != "—")
    return lines + ["", f"Each pair: papers' convention, ours simplified; {legend}, · no such metric, - not judged."]


def judge_all(args) -> None:
    """table.md from the cached spans.csv and invariance.csv: the landscape shape per span and resolution, then
    the verdicts per span as ``losstopo findings-report --spans`` judges them (the package's own code)."""
    spans = read_spans(args.out / "spans.csv")
    spans = spans[spans["family"] == args.family]
    invariance = read_csv_table(args.out / "invariance.csv")
    if args.betas:
        spans = spans[np.isin(spans["beta"].astype(float), args.betas)]
        invariance = invariance[invariance["run_id"].isin(set(spans["run_id"]))]
    table = verdicts(spans, args.alpha, args.seed, args.bootstrap, args.permutations)
    suffix = "" if not args.betas else "_beta_" + "_".join(f"{b:g}" for b in args.betas)
    save_csv(args.out / f"verdicts{suffix}.csv", table)
    betas = ", ".join(f"{b:g}" for b in sorted(spans["beta"].astype(float).unique()))
    text = [
        f"{args.family}: {spans['run_id'].nunique()} runs, beta in {{{betas}}}",
        "",
        *shape_table(spans, invariance, args.tolerance),
        "",
        *verdict_table(table),
    ]
    (args.out / f"table{suffix}.md").write_text("\n".join(text) + "\n")
    print(f"wrote {args.out}/verdicts{suffix}.csv and table{suffix}.md", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="a finished sweep's results folder (models, directions)")
    parser.add_argument("--out", type=Path, default=Path("results/span_study"), help="cache and output folder")
    parser.add_argument("--family", default="pinn")
    parser.add_argument(
        "--spans", type=float, nargs="+", default=[0.2, 0.5, 1.0, 2.0], help="the first is the landscape's own"
    )
    parser.add_argument("--resolutions", type=int, nargs="+", default=[13, 17, 21])
    parser.add_argument("--judge-only", action="store_true", help="only judge the cached spans.csv")
    parser.add_argument("--sample-only", action="store_true", help="resample and write spans.csv, do not judge")
    parser.add_argument("--betas", type=float, nargs="*", default=None, help="judge only the runs at these betas")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (findings.alpha)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--permutations", type=int, default=10000)
    parser.add_argument(
        "--tolerance", type=float, default=0.1, help="invariance tolerance (findings.invariance_tolerance)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.judge_only:
        study(args)
    if not args.sample_only:
        judge_all(args)


if __name__ == "__main__":
    sys.exit(main())
