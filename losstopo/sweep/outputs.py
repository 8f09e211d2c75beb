"""Names of the workflow's summary outputs: the findings tables, the figure files, and the ``snakemake
--report`` captions of the figures.

Only the standard library: the Snakefile imports this while it parses, once per Snakemake process
(also inside every cluster job), so it must not pull in numpy, pandas, scipy or matplotlib. The modules
that write these files (``losstopo.summary.findings.statistics``, ``losstopo.summary.invariance``,
``losstopo.summary.figures``, ``losstopo.summary.findings.figures``) import their names from here.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Iterable

FINDINGS_TABLES = (
    "correlations",
    "trends",
    "variability",
    "transition",
)  # tables/<name>.csv (losstopo.summary.findings.statistics)
INVARIANCE_TABLES = ("invariance", "invariance_summary")  # tables/<name>.csv (losstopo.summary.invariance)
FORMATS = ("png", "pdf")  # every figure is written in each

CAPTION_DIR = "../report"  # caption paths are relative to the rule file (workflow/rules/*.smk)

# (file stem pattern, caption file, report subcategory). A new figure set adds its line here.
REPORT_CAPTIONS = (
    (r"topology_vs_performance", "topology_vs_performance.rst", "Topology against performance"),
    (r"topology_vs_epoch", "topology_vs_epoch.rst", "Along training"),
    (r"hessian_density", "hessian_density.rst", "Hessian spectra"),
    (r"topology_vs_.+", "topology_vs_hyperparameter.rst", "Metrics against a hyperparameter"),
    (r"loss_heatmaps", "loss_heatmaps.rst", "Loss landscapes"),
    (r"heatmap_.+_x_.+", "grid_heatmaps.rst", "Grid heatmaps"),
    (r"scatter_by_.+", "scatter_by_hyperparameter.rst", "Topology against performance"),
    (r"variability_vs_.+", "variability.rst", "Variability across seeds"),
    (r"profiles", "profile_grid.rst", "Landscape profiles"),
)


def figure_files(
    swept: dict[str, Iterable[str]], with_checkpoints: Iterable[str] = (), with_hessian: Iterable[str] = ()
) -> list[str]:
    """Names (relative to the figures folder) of every figure drawn for these families and swept keys;
    families in ``with_checkpoints`` also get topology against training epoch, families in
    ``with_hessian`` an overlay of their Hessian eigenvalue spectral densities."""
    names = []
    for family, keys in sorted(swept.items()):
        stems = [f"topology_vs_{key}" for key in keys] + ["topology_vs_performance", "loss_heatmaps"]
        if family in with_checkpoints:
            stems.append("topology_vs_epoch")
        if family in with_hessian:
            stems.append("hessian_density")
        names += [f"{family}/{stem}.{fmt}" for stem in stems for fmt in FORMATS]
    return names


def findings_figure_files(swept: dict[str, Iterable[str]]) -> list[str]:
    """Names (relative to the figures folder) of every findings figure for these families and swept keys."""
    names = []
    for family, keys in sorted(swept.items()):
        keys = sorted(keys)
        stems = [f"heatmap_{a}_x_{b}" for a, b in itertools.combinations(keys, 2)]
        stems += [f"scatter_by_{key}" for key in keys or ["seed"]]
        stems += [f"variability_vs_{key}" for key in keys]
        names += [f"{family}/{stem}.{fmt}" for stem in stems for fmt in FORMATS]
    return names


def report_spec(path: str) -> dict | None:
    """``report()`` keyword arguments of a figure file (None for non-PNG files: the PDF twins stay out)."""
    path = Path(path)
    if path.suffix != ".png":
        return None
    family, stem = path.parent.name, path.stem
    for pattern, caption, subcategory in REPORT_CAPTIONS:
        if re.fullmatch(pattern, stem):
            return {
                "caption": f"{CAPTION_DIR}/{caption}",
                "category": family,
                "subcategory": subcategory,
                "labels": {"figure": stem.replace("_", " ")},
            }
    return {"category": family, "subcategory": "Other figures", "labels": {"figure": stem.replace("_", " ")}}


def reported(paths: Iterable[str]) -> list:
    """The paths with every PNG flagged for ``snakemake --report`` (call from a rule's ``output:``)."""
    from snakemake.io import report

    return [report(p, **spec) if (spec := report_spec(p)) else p for p in paths]
