"""Figures of the findings stage, and the captions every figure gets in ``snakemake --report``.

Per family: heatmaps of performance and topology over each pair of swept hyperparameters; topology
against performance coloured by each hyperparameter; across-seed variability against each hyperparameter
with the performance transition shaded. PNG and PDF, the same seaborn style as ``losstopo.summary.figures``.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.io import read_csv_table
from losstopo.summary.figures import axis_scale, is_categorical, save_figure, set_scale
from losstopo.summary.tables import (
    TOPOLOGY_METRICS,
    curvature_metrics,
    format_value,
    grid_label,
    headline_metric,
    ok_runs,
    read_runs,
    swept_keys,
)

UNITS = {
    "n_minima": "count",
    "n_saddles": "count",
    "total_persistence": "loss",
    "avg_persistence": "loss",
    "max_persistence": "loss",
    "rel_l2_error": "dimensionless",
    "final_loss": "loss",
    "test_accuracy": "fraction",
    "train_accuracy": "fraction",
    "pixel_accuracy": "fraction",
    "mean_iou": "fraction",
    "dice": "fraction",
    "test_loss": "loss",
    "train_loss": "loss",
    "eval_loss": "loss",
    "hessian_top_eigenvalue": "loss / parameter²",
    "hessian_trace": "loss / parameter²",
    "hessian_negative_mass": "fraction",
}


def label(column: str) -> str:
    """Axis label with units: ``avg persistence (loss)``; hyperparameters and unknown columns by name."""
    base = next((m for m in sorted(UNITS, key=len, reverse=True) if column == m or column.startswith(m + "_")), None)
    text = column.replace("_", " ")
    if base and "persistence" in base and column.endswith(("_log", "_rel")):  # the scale-free variants
        return f"{text} ({'decades of loss' if column.endswith('_log') else 'fraction of the loss range'})"
    return f"{text} ({UNITS[base]})" if base else text


# beside the raw metrics: the average persistence in the papers' (TTK's) convention (docs/topology.md), and the
# simplified metrics, which move least under axis order and stencil (docs/invariance.md)
EXTRA_METRICS = ("avg_persistence_ttk", "n_minima_simplified", "n_saddles_simplified", "avg_persistence_simplified_log")


def _figure_metrics(frame: pd.DataFrame) -> list[str]:
    """The unsimplified topology metrics, EXTRA_METRICS and the curvature metrics measured for this family."""
    wanted = [m for m in TOPOLOGY_METRICS + EXTRA_METRICS if m in frame.columns] + curvature_metrics(frame.columns)
    return [m for m in wanted if pd.to_numeric(frame[m], errors="coerce").notna().any()]


def _grid(n: int, width: float = 3.4, height: float = 3.0, cols: int = 4):
    """A figure with n panels in rows of ``cols``; with n = 0 one panel saying that nothing was measured."""
    import matplotlib.pyplot as plt

    if n == 0:
        fig, ax = plt.subplots(figsize=(width, height))
        ax.text(0.5, 0.5, "no topology or curvature metric measured", ha="center", va="center")
        ax.set_axis_off()
        return fig, []
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def plot_grid_heatmaps(frame: pd.DataFrame, x_key: str, y_key: str, performance: str, metrics: list[str]):
    """Mean over seeds (and any other swept keys) of performance and each metric on the x_key by y_key grid."""
    import seaborn as sns
    from matplotlib.colors import LogNorm

    data = ok_runs(frame)
    panels = [performance, *metrics]
    fig, axes = _grid(len(panels), width=4.0, height=3.4)
    for ax, metric in zip(axes, panels):
        table = data.groupby([y_key, x_key])[metric].mean().unstack(x_key).sort_index(ascending=False)
        log = axis_scale(metric, table.to_numpy().ravel())[0] == "log"
        sns.heatmap(
            table,
            ax=ax,
            cmap="viridis",
            annot=table.size <= 64,
            fmt=".2g",
            annot_kws={"size": 7},
            norm=LogNorm() if log else None,
            cbar_kws={"label": label(metric) + (", log scale" if log else "")},
        )
        ax.set_xticklabels([format_value(v) for v in table.columns])
        ax.set_yticklabels([format_value(v) for v in table.index])
        ax.set_title(label(metric), fontsize=9)
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key)
    others = [k for k in swept_keys(frame) if k not in (x_key, y_key)]
    over = "seeds" + (" and " + ", ".join(others) if others else "")
    fig.suptitle(f"{frame['family'].iloc[0]}: mean over {over} on the {x_key} × {y_key} grid (runs with status ok)")
    fig.tight_layout()
    return fig


def plot_scatter_by(
    frame: pd.DataFrame, key: str, performance: str, metrics: list[str], correlations: pd.DataFrame | None
):
    """Each metric against performance, one point per run, coloured by ``key``; Spearman rho over grid points from
    correlations.csv."""
    import seaborn as sns
    from matplotlib.colors import LogNorm

    data = ok_runs(frame)
    numeric = not is_categorical(frame[key])
    if not numeric:
        data[key] = data[key].astype(str)
    log_hue = numeric and axis_scale(key, data[key])[0] == "log"
    hue_norm = LogNorm(data[key].min(), data[key].max()) if log_hue else None
    fig, axes = _grid(len(metrics))
    for ax, metric in zip(axes, metrics):
        sns.scatterplot(
            data=data,
            x=performance,
            y=metric,
            hue=key,
            hue_norm=hue_norm,
            palette="viridis" if numeric else "deep",
            ax=ax,
            legend=ax is axes[-1],
        )
        set_scale(ax, "x", performance, data[performance])
        set_scale(ax, "y", metric, data[metric])
        ax.set_xlabel(label(performance))
        ax.set_ylabel(label(metric))
        ax.set_title(_correlation_title(correlations, frame["family"].iloc[0], metric, performance), fontsize=8)
    if axes and axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1), title=key)
    fig.suptitle(f"{frame['family'].iloc[0]}: topology against {performance}, one point per run, colour = {key}")
    fig.tight_layout()
    return fig


def _correlation_title(table: pd.DataFrame | None, family: str, metric: str, performance: str) -> str:
    if table is None or not len(table):
        return ""
    row = table[(table["family"] == family) & (table["metric"] == metric) & (table["performance"] == performance)]
    if not len(row):
        return ""
    row = row.iloc[0]
    if not np.isfinite(row["spearman_rho"]):
        return f"n = {row['n']} grid points: {row['note']}"
    return (
        f"Spearman ρ = {row['spearman_rho']:.2f} [{row['spearman_ci_low']:.2f}, {row['spearman_ci_high']:.2f}]"
        f", n = {row['n']} grid points"
    )


def plot_variability(
    frame: pd.DataFrame,
    key: str,
    performance: str,
    metrics: list[str],
    variability: pd.DataFrame,
    transition: pd.DataFrame,
):
    """Performance (mean over seeds, band = range of the seeds) and the across-seed s.d. of each metric against
    ``key``, one line per setting of the other swept keys, the transition interval shaded. A panel whose s.d.
    cannot be computed says why (transition.csv's note) instead of staying empty."""
    import seaborn as sns

    family = frame["family"].iloc[0]
    others = [k for k in swept_keys(frame) if k != key]
    var = (
        variability[variability["family"] == family].copy()
        if len(variability)
        else pd.DataFrame(columns=["metric", "mean", "std", key, *others])
    )
    var["setting"] = [grid_label(others, row) for row in var[others].itertuples(index=False)]
    runs = ok_runs(frame).copy()
    runs["setting"] = [grid_label(others, row) for row in runs[others].itertuples(index=False)]
    hue = "setting" if others else None
    trans = transition[(transition["family"] == family) & (transition["key"] == key)] if len(transition) else None
    numeric = not is_categorical(frame[key])
    if not numeric:
        var[key], runs[key] = var[key].astype(str), runs[key].astype(str)
    shaded = numeric and trans is not None and len(trans) and np.isfinite(trans["low"].iloc[0])
    fig, axes = _grid(len(metrics) + 1)
    for i, (ax, metric) in enumerate(zip(axes, [performance, *metrics])):
        if i == 0:
            runs[metric] = pd.to_numeric(runs[metric], errors="coerce")
            _line_or_points(numeric, data=runs, x=key, y=metric, hue=hue, errorbar=("pi", 100), ax=ax, legend=False)
            set_scale(ax, "y", metric, runs[metric])
            ax.set_ylabel(label(metric))
            ax.set_title(
                f"mean over seeds, band = seeds' range{'; transition zone shaded' if shaded else ''}", fontsize=7
            )
        else:
            points = var[(var["metric"] == metric) & np.isfinite(pd.to_numeric(var["std"], errors="coerce"))]
            if len(points):
                _line_or_points(
                    numeric,
                    data=points.sort_values(key),
                    x=key,
                    y="std",
                    hue=hue,
                    errorbar=None,
                    ax=ax,
                    legend=ax is axes[-1] and hue is not None,
                )
                set_scale(ax, "y", metric, points["std"])
            else:
                ax.text(
                    0.5,
                    0.5,
                    "\n".join(textwrap.wrap(_why_no_spread(var, trans, metric), 38)),
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=7,
                )
            ax.set_ylabel("s.d. across seeds")
            test = _transition_title(trans, metric) if len(points) else ""
            ax.set_title("\n".join([label(metric), *textwrap.wrap(test, 48)]), fontsize=7)
        if numeric:
            set_scale(ax, "x", key, frame[key])
        if shaded:
            ax.axvspan(trans["low"].iloc[0], trans["high"].iloc[0], color="tab:red", alpha=0.12, lw=0)
        ax.set_xlabel(label(key))
    if hue and axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1), title=", ".join(others))
    fig.suptitle(f"{family}: variability across seeds against {key} (red band: transition zone of {performance})")
    fig.tight_layout()
    return fig


def _line_or_points(numeric: bool, **kwargs) -> None:
    """A line over a numeric x; separate points over categories (booleans, text), never joined."""
    import seaborn as sns

    if numeric:
        sns.lineplot(marker="o", **kwargs)
    else:
        sns.pointplot(linestyle="none", dodge=0.3 if kwargs.get("hue") else False, **kwargs)


def _why_no_spread(var: pd.DataFrame, trans: pd.DataFrame | None, metric: str) -> str:
    """Why a metric has no finite across-seed s.d.: transition.csv's note, else the seeds per grid point."""
    if trans is not None:
        row = trans[(trans["metric"] == metric) & (trans["statistic"] == "std")]
        if len(row) and str(row["note"].iloc[0]) not in ("", "nan"):
            return str(row["note"].iloc[0])
    seeds = var.loc[var["metric"] == metric, "n_seeds"]
    most = int(seeds.max()) if len(seeds) else 0
    return f"no across-seed s.d.: at most {most} seed(s) with status ok per grid point; it needs at least 2"


def _transition_title(trans: pd.DataFrame | None, metric: str) -> str:
    if trans is None:
        return ""
    row = trans[(trans["metric"] == metric) & (trans["statistic"] == "std")]
    if not len(row):
        return ""
    row = row.iloc[0]
    if not np.isfinite(row["p_value"]):
        return f"no test: {row['note']}"
    return f"s.d. near / elsewhere = {row['ratio']:.2f}, p = {row['p_value']:.2g}"


def draw_all(runs: pd.DataFrame, tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Every figure of ``losstopo.sweep.outputs.findings_figure_files`` for these runs; returns the stems written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    written = []
    for family, frame in runs.groupby("family", sort=True):
        keys = sorted(swept_keys(frame))
        performance = headline_metric(frame)
        metrics = _figure_metrics(frame)
        figures = {
            f"heatmap_{a}_x_{b}": lambda a=a, b=b: plot_grid_heatmaps(frame, a, b, performance, metrics)
            for a, b in itertools.combinations(keys, 2)
        }
        figures |= {
            f"scatter_by_{key}": lambda key=key: plot_scatter_by(
                frame, key, performance, metrics, tables["correlations"]
            )
            for key in keys or ["seed"]
        }
        figures |= {
            f"variability_vs_{key}": lambda key=key: plot_variability(
                frame, key, performance, metrics, tables["variability"], tables["transition"]
            )
            for key in keys
        }
        for stem, draw in figures.items():
            fig = draw()
            save_figure(fig, Path(out_dir) / family, stem)
            plt.close(fig)
            written.append(Path(out_dir) / family / stem)
    return written


def main(args) -> int:
    runs = read_runs(args.runs)
    tables = {
        name: read_csv_table(Path(args.tables_dir) / f"{name}.csv")
        for name in ("correlations", "variability", "transition")
    }
    written = draw_all(runs, tables, args.out_dir)
    print(f"wrote {len(written)} findings figures (PNG and PDF) under {args.out_dir}", flush=True)
    return 0
