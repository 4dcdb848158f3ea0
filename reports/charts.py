"""``charts.pdf`` and a PNG per chart (matplotlib): curves, schedule, Pareto front, knobs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from reports.results import STOPPED  # noqa: E402
from reports.tables import Derived  # noqa: E402

CHARTS = ("val_acc", "train_loss", "lr_schedule", "pareto", "parallel")


def write_charts(derived: Derived, folder: Path) -> list[Path]:
    """Write ``charts.pdf`` (a page per chart) and ``<chart>.png`` files; returns their paths."""
    figures = {
        "val_acc": _curves(derived, derived.metric),
        "train_loss": _curves(derived, "train_loss"),
        "lr_schedule": _lr_schedule(derived),
        "pareto": _pareto(derived),
        "parallel": _parallel(derived),
    }
    paths = [folder / "charts.pdf"]
    with PdfPages(paths[0]) as pdf:
        for name, figure in figures.items():
            pdf.savefig(figure)
            figure.savefig(folder / f"{name}.png", dpi=110)
            paths.append(folder / f"{name}.png")
            plt.close(figure)
    return paths


def _figure(title: str, xlabel: str, ylabel: str):
    figure, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return figure, ax


def _curves(derived: Derived, metric: str):
    """One line per trial; an x where ASHA stopped a trial early."""
    figure, ax = _figure(f"{metric} per epoch (x: stopped early by ASHA)", "epoch", metric)
    curves, trials = derived.curves, derived.experiment.trials
    states = dict(zip(trials["Name"], trials["State"], strict=True))
    if metric not in curves:
        return figure
    for name, curve in curves.groupby("Name"):
        (line,) = ax.plot(curve["epoch"], curve[metric], marker=".", lw=1.2, alpha=0.8)
        if states.get(name) == STOPPED:
            ax.plot(
                curve["epoch"].iloc[-1], curve[metric].iloc[-1], "x", ms=9, color=line.get_color()
            )
    ax.xaxis.get_major_locator().set_params(integer=True)
    return figure


def _lr_schedule(derived: Derived):
    figure, ax = _figure(
        "Learning rate (CosineAnnealingWarmRestarts, per iteration)", "epoch", "lr"
    )
    for name, schedule in derived.schedules.items():
        ax.plot(schedule["epoch"], schedule["lr"], lw=1.2, alpha=0.8, label=name)
    ax.set_yscale("log")
    return figure


def _pareto(derived: Derived):
    front = derived.pareto
    metric = front.columns[2]
    figure, ax = _figure(
        f"{metric} against parameters, with the Pareto front", "parameters", metric
    )
    if front.empty:
        return figure
    ax.scatter(front["params"], front[metric], s=30, alpha=0.6, label="trials")
    best = front[front["on_front"]]
    ax.plot(*derived.front, color="C3", lw=2, label="Pareto front")
    ax.scatter(best["params"], best[metric], s=60, color="C3")
    for _, row in best.iterrows():
        ax.annotate(
            row["Name"],
            (row["params"], row[metric]),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.legend()
    return figure


def _parallel(derived: Derived):
    axes, rows = derived.parallel
    figure, ax = _figure(
        "Hyperparameters against the metric (scaled; lr and decay in log10)", "", "scaled value"
    )
    if rows.empty:
        return figure
    metric = axes[-1]
    values = rows[metric]
    norm = plt.Normalize(values.min(), values.max())
    cmap = plt.get_cmap("viridis")
    xs = range(len(axes))
    for _, row in rows.sort_values(metric).iterrows():
        ys = [row[a] if a != metric else norm(row[a]) for a in axes]
        ax.plot(xs, ys, color=cmap(norm(row[metric])), lw=1.5, alpha=0.85)
    ax.set_xticks(list(xs), axes, rotation=45, ha="right", fontsize=8)
    figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=metric)
    return figure
