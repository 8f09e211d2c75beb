"""The figure set of a sweep: topology against each swept hyperparameter, topology against
performance, and loss heatmaps of a few landscapes. Every figure is written as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from losstopo.curvature.spectral_density import curves, draw, signed_log_density
from losstopo.io import atomic_path, load_npz, read_csv_table
from losstopo.landscape.drawing import draw_landscape
from losstopo.landscape.files import load_landscape
from losstopo.summary.findings.statistics import rank_permutation_test
from losstopo.summary.tables import TOPOLOGY_METRICS, headline_metric, read_runs, swept_keys
from losstopo.sweep.outputs import FORMATS

DECADE_QUANTITIES = ("error", "loss", "persistence")  # drawn on log axes when positive


def is_categorical(values) -> bool:
    """Booleans and text are categories (drawn as such, never on a 0-1 line); numbers are not."""
    values = pd.Series(values)
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def axis_scale(column: str, values) -> tuple[str, dict]:
    """Matplotlib scale (and keywords) for a column: quantities that span decades (error, loss,
    persistence) on a log axis when every finite value is > 0, symlog (linear below the smallest positive
    value) when some are 0; any other positive column spanning two decades on a log axis; else linear."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").replace([np.inf, -np.inf], np.nan).dropna()
    if not len(v) or (v < 0).any() or is_categorical(values):
        return "linear", {}
    positive = v[v > 0]
    decades = any(word in column for word in DECADE_QUANTITIES) and not column.endswith("_log")
    if decades and len(positive) == len(v):
        return "log", {}
    if decades and len(positive) and positive.max() / positive.min() >= 10:
        return "symlog", {"linthresh": float(positive.min())}
    if len(positive) == len(v) and v.max() / v.min() >= 100:
        return "log", {}
    return "linear", {}


def set_scale(ax, axis: str, column: str, values) -> None:
    """Apply ``axis_scale`` to the x or y axis of ``ax``."""
    scale, kwargs = axis_scale(column, values)
    if scale != "linear":
        getattr(ax, f"set_{axis}scale")(scale, **kwargs)


def save_figure(fig, out_dir: Path, stem: str) -> None:
    for fmt in FORMATS:
        with atomic_path(out_dir / f"{stem}.{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce")


def plot_metric_vs_hyperparameter(frame: pd.DataFrame, key: str, performance: str, other_keys: list[str]):
    """One panel per metric against ``key``: mean over seeds with the range of the seeds as band (so a band
    never leaves the data's range, and never goes below 0 for a non-negative metric), hue = other swept keys;
    a boolean or text ``key`` as categories; error, loss and persistence on log axes (``axis_scale``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    metrics = [performance, *TOPOLOGY_METRICS]
    data = frame[frame["status"] == "ok"].copy()
    hue = None
    if other_keys:
        hue = "setting"
        data[hue] = data[other_keys].astype(str).agg(", ".join, axis=1)
    categorical = is_categorical(frame[key])
    if categorical:
        data[key] = data[key].astype(str)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        data[metric] = _numeric(data, metric)
        if categorical:
            sns.pointplot(
                data=data,
                x=key,
                y=metric,
                hue=hue,
                errorbar=("pi", 100),
                dodge=0.3 if hue else False,
                linestyle="none",
                ax=ax,
                legend=ax is axes[0][-1],
            )
        else:
            sns.lineplot(
                data=data, x=key, y=metric, hue=hue, errorbar=("pi", 100), marker="o", ax=ax, legend=ax is axes[0][-1]
            )
            set_scale(ax, "x", key, data[key])
        set_scale(ax, "y", metric, data[metric])
        ax.set_title(metric.replace("_", " "))
    if hue is not None and axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title=", ".join(other_keys))
    fig.suptitle(
        f"{frame['family'].iloc[0]}: metrics against {key} (runs with status ok; mean over seeds, "
        "band = range of the seeds)"
    )
    fig.tight_layout()
    return fig


def plot_topology_vs_performance(frame: pd.DataFrame, performance: str):
    """Scatter of each topology metric against performance, with Spearman's rank correlation and its
    permutation p-value (exact for small n, ``losstopo.summary.findings.statistics.rank_permutation_test``) in
    the title.

    Only runs that trained without diverging count, as in the findings tables."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from scipy.stats import spearmanr

    fig, axes = plt.subplots(1, len(TOPOLOGY_METRICS), figsize=(3.4 * len(TOPOLOGY_METRICS), 3.2), squeeze=False)
    family = frame["family"].iloc[0]
    frame = frame[frame["status"] == "ok"]
    x = _numeric(frame, performance)
    for ax, metric in zip(axes[0], TOPOLOGY_METRICS):
        y = _numeric(frame, metric)
        sns.scatterplot(x=x, y=y, ax=ax)
        ok = x.notna() & y.notna()
        if ok.sum() >= 3 and x[ok].nunique() > 1 and y[ok].nunique() > 1:
            rho = spearmanr(x[ok], y[ok]).statistic
            p = rank_permutation_test(x[ok].to_numpy(), y[ok].to_numpy(), 2000, np.random.default_rng(0))
            ax.set_title(
                f"Spearman rho = {rho:.2f} (permutation p = {p['spearman_p']:.2g}, n = {ok.sum()} runs)", fontsize=9
            )
        else:
            ax.set_title(f"too few distinct values for a rank correlation (n = {ok.sum()})", fontsize=9)
        set_scale(ax, "x", performance, x)
        set_scale(ax, "y", metric, y)
        ax.set_xlabel(performance.replace("_", " "))
        ax.set_ylabel(metric.replace("_", " "))
    fig.suptitle(
        f"{family}: topology against performance, one point per run with status ok (findings.md tests the means "
        "of grid points)"
    )
    fig.tight_layout()
    return fig


def plot_metric_vs_epoch(checkpoints: pd.DataFrame, performance: str, keys: list[str]):
    """Each metric along training: one line per run (colour = swept setting), one panel per metric."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    metrics = [performance, *TOPOLOGY_METRICS]
    data = checkpoints.copy()
    data["setting"] = data[keys].astype(str).agg(", ".join, axis=1) if keys else "all"
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        data[metric] = _numeric(data, metric)
        sns.lineplot(
            data=data,
            x="epoch",
            y=metric,
            hue="setting",
            units="seed",
            estimator=None,
            marker="o",
            ax=ax,
            legend=ax is axes[0][-1],
        )
        set_scale(ax, "y", metric, data[metric])
        ax.set_title(metric.replace("_", " "))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title=", ".join(keys) or None)
    fig.suptitle(f"{checkpoints['family'].iloc[0]}: topology along training (one line per run)")
    fig.tight_layout()
    return fig


def plot_density_overlay(frame: pd.DataFrame, keys: list[str]):
    """Every run's Hessian eigenvalue spectral density (SLQ quadrature nodes and weights) over log10 |lambda|,
    positive and negative eigenvalues in two panels (``losstopo.curvature.spectral_density``), coloured by the swept
    setting, one line style per seed."""
    import matplotlib.pyplot as plt

    rows, masses = [], []
    for _, row in frame.iterrows():
        path = Path(row["run_dir"]) / "hessian" / "density.npz"
        density = load_npz(path) if path.exists() else {}
        if len(density.get("nodes", ())) == 0:
            continue
        signed = signed_log_density(density["nodes"], density["weights"])
        masses.append(signed)
        setting = ", ".join(f"{k}={row[k]}" for k in keys) or "all"
        rows += curves(signed, setting=setting, seed=str(row["seed"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    if masses:
        draw(axes, rows, masses, hue="setting", style="seed")
        if axes[0].get_legend() is not None:  # one legend for both panels, right of them
            handles, labels = axes[0].get_legend_handles_labels()
            axes[0].get_legend().remove()
            fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    else:
        for ax in axes:
            ax.text(0.5, 0.5, "no spectral density was computed", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(f"{frame['family'].iloc[0]}: Hessian eigenvalue spectral densities (SLQ), by sign, over |λ|")
    fig.tight_layout()
    return fig


def plot_loss_heatmaps(frame: pd.DataFrame, performance: str, keys: list[str], count: int):
    """log10 loss of up to ``count`` landscapes chosen to span the range of performance
    (:func:`losstopo.landscape.drawing.draw_landscape`: a grid's central 2-D slice, a curve for k = 1,
    scattered samples on the first two directions, the training path of trajectory directions)."""
    import matplotlib.pyplot as plt

    data = frame.assign(_perf=_numeric(frame, performance)).sort_values(["_perf", "run_id"], na_position="last")
    picks = data.iloc[np.unique(np.linspace(0, len(data) - 1, max(min(count, len(data)), 1)).round().astype(int))]
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 3.0), squeeze=False)
    for ax, (_, row) in zip(axes[0], picks.iterrows()):
        landscape = load_landscape(Path(row["run_dir"]) / "landscape.npz")
        label = ", ".join(f"{k}={row[k]}" for k in keys) + f", seed={row['seed']}"
        draw_landscape(
            ax, landscape["loss"], landscape.get("axes"), landscape.get("points"), landscape.get("metadata", {})
        )
        ax.set_title(f"{label}\n{performance} = {row['_perf']:.3g}", fontsize=8)
    fig.suptitle(f"{frame['family'].iloc[0]}: loss landscapes (central 2-D slice)")
    fig.tight_layout()
    return fig


def draw_all(
    runs: pd.DataFrame, out_dir: str | Path, heatmaps: int = 4, checkpoints: pd.DataFrame | None = None
) -> list[Path]:
    """Every figure of ``losstopo.sweep.outputs.figure_files`` for the runs in ``runs``; returns the stems written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    out_dir = Path(out_dir)
    written = []
    for family, frame in runs.groupby("family", sort=True):
        swept = swept_keys(frame)
        performance = headline_metric(frame)
        fam_dir = out_dir / family
        figures = {
            f"topology_vs_{key}": plot_metric_vs_hyperparameter(frame, key, performance, [k for k in swept if k != key])
            for key in swept
        }
        figures["topology_vs_performance"] = plot_topology_vs_performance(frame, performance)
        figures["loss_heatmaps"] = plot_loss_heatmaps(frame, performance, swept, heatmaps)
        if "hessian_status" in frame and frame["hessian_status"].notna().any():
            figures["hessian_density"] = plot_density_overlay(frame, swept)
        if checkpoints is not None and len(checkpoints) and (checkpoints["family"] == family).any():
            figures["topology_vs_epoch"] = plot_metric_vs_epoch(
                checkpoints[checkpoints["family"] == family], performance, swept
            )
        for stem, fig in figures.items():
            save_figure(fig, fam_dir, stem)
            plt.close(fig)
            written.append(fam_dir / stem)
    return written


def main(args) -> int:
    runs = read_runs(args.runs)
    written = draw_all(
        runs, args.out_dir, args.heatmaps, read_csv_table(args.checkpoints) if args.checkpoints else None
    )
    print(f"wrote {len(written)} figures (PNG and PDF) under {args.out_dir}", flush=True)
    return 0
