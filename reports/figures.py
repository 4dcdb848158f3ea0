"""Every chart of the reports, defined once from ``Derived``; drawn by ``reports.charts``
(matplotlib: ``charts.pdf`` and PNGs) and ``reports.html`` (plotly: ``report.html``).

A chart is data and labels only: traces of points, each belonging to a trial (or a refit
configuration) by ``name`` and carrying its hover text, so both drawings show the same thing and
the page can highlight one trial everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex

from experiment.trials import STOPPED
from reports.ranking import configs
from reports.refit import RefitTables
from reports.tables import Derived

PALETTE = [to_hex(c) for c in colormaps["tab10"].colors]
FRONT = PALETTE[3]  # red: the Pareto front and its trials
SEED = "#000000"  # black: the seed preset's trial, in every chart of the search


@dataclass(frozen=True)
class Trace:
    name: str  # the trial (or configuration) it belongs to
    x: list
    y: list
    hover: str | list[str] = ""  # one text for every point, or one per point
    mode: str = "lines+markers"  # lines, markers, lines+markers, or bar (horizontal: y are labels)
    colour: str | None = None
    size: float = 5.0
    symbol: str = "circle"  # "x" marks where ASHA stopped a trial; "diamond" the seed preset
    interval: tuple[list, list] | None = None  # low and high of each y, drawn as error bars
    legend: str | None = None  # its entry in the chart's legend; None: none
    width: float = 1.2  # of its line
    opacity: float | None = None  # set: faded behind the others (a Pareto search's dominated)


@dataclass(frozen=True)
class Chart:
    key: str  # its PNG's name and its place in the page
    title: str
    xlabel: str
    ylabel: str
    traces: list[Trace] = field(default_factory=list)
    log_y: bool = False
    categories: list[str] | None = None  # labels of x = 0, 1, 2...
    empty: str = "nothing to draw yet"  # said in place of the traces where there are none
    colour_scale: tuple[str, float, float] | None = None  # viridis: label, low, high
    whole_numbers: bool = False  # ticks at integers only (ranks)


def charts(derived: Derived) -> list[Chart]:
    """The report's charts in page order: the search's, then its refit's where it has one."""
    hover = hovers(derived.experiment.trials)
    metric, roles = derived.metric, legends(derived)
    found = [
        curves(derived, metric, hover, roles),
        curves(derived, "train_loss", hover, roles),
        lr_schedule(derived, hover, roles),
        pareto(derived, hover),
        parallel(derived, hover),
        importance(derived),
    ]
    if derived.refit is not None:
        found += [refit_scores(derived.refit), refit_ranks(derived.refit)]
    return found


def hovers(trials: pd.DataFrame) -> dict[str, str]:
    """Trial name -> 'name (state)' and its config, one knob per line."""
    found = {}
    for (_, row), config in zip(trials.iterrows(), configs(trials), strict=True):
        knobs = "\n".join(f"{k} = {short(v)}" for k, v in config.items())
        found[row["Name"]] = f"{row['Name']} ({row['State']})\n{knobs}"
    return found


def legends(derived: Derived) -> dict[str, str]:
    """Trial name -> its legend entry, for the two trials a reader looks for: the seed preset
    and the best trial."""
    found = {}
    if derived.best is not None:
        found[derived.best["Name"]] = f"best trial ({derived.best['Name']})"
    if derived.seed is not None:
        name = derived.seed["Name"]
        found[name] = "seed preset" + (" = best trial" if name in found else f" ({name})")
    return found


def seed_name(derived: Derived) -> str | None:
    return None if derived.seed is None else derived.seed["Name"]


def styled(name: str, colour: str, roles: dict[str, str], seed: str | None) -> dict:
    """A trial line's colour, legend entry and width: the seed preset black, the trials named in
    ``roles`` thick and in the legend."""
    role = roles.get(name)
    return {
        "colour": SEED if name == seed else colour,
        "legend": role,
        "width": 1.2 if role is None else 2.4,
    }


def short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


NAMED = 12  # trials a learning-curve chart names each in its legend


def curves(derived: Derived, metric: str, hover: dict[str, str], roles: dict[str, str]) -> Chart:
    """One line per trial (the seed preset black and thick with the best trial); every trial in
    the legend where there are at most ``NAMED`` of them, else those two; an x where ASHA
    stopped a trial early."""
    chart = Chart(metric, f"{metric} per epoch (x: stopped early by ASHA)", "epoch", metric)
    table, trials = derived.curves, derived.experiment.trials
    if metric not in table:
        return chart
    states = dict(zip(trials["Name"], trials["State"], strict=True))
    seed, stopped = seed_name(derived), "stopped early by ASHA"
    few = table["Name"].nunique() <= NAMED
    for i, (name, curve) in enumerate(table.groupby("Name")):
        curve = curve.dropna(subset=[metric])
        style, tip = styled(name, PALETTE[i % len(PALETTE)], roles, seed), hover.get(name, name)
        style["legend"] = style["legend"] or (name if few else None)
        xs, ys = curve["epoch"].tolist(), curve[metric].tolist()
        chart.traces.append(Trace(name, xs, ys, tip, size=4, **style))
        if xs and states.get(name) == STOPPED:
            colour, legend = style["colour"], stopped  # the first x only, in the legend
            stopped = None
            chart.traces.append(
                Trace(name, xs[-1:], ys[-1:], tip, "markers", colour, 10, "x", legend=legend)
            )
    return chart


def lr_schedule(derived: Derived, hover: dict[str, str], roles: dict[str, str]) -> Chart:
    chart = Chart(
        "lr_schedule",
        "Learning rate (CosineAnnealingWarmRestarts, per iteration, log scale)",
        "epoch",
        "lr",
        log_y=True,
        empty="no schedule (the space is unknown or no trial trained)",
    )
    seed = seed_name(derived)
    for i, (name, schedule) in enumerate(derived.schedules.items()):
        positive = schedule[schedule["lr"] > 0]
        xs, ys = positive["epoch"].tolist(), positive["lr"].tolist()
        style = styled(name, PALETTE[i % 10], roles, seed)
        chart.traces.append(Trace(name, xs, ys, hover.get(name, name), "lines", **style))
    return chart


def pareto(derived: Derived, hover: dict[str, str]) -> Chart:
    front = derived.pareto
    metric = front.columns[2]
    chart = Chart(
        "pareto", f"{metric} against parameters; red: the Pareto front", "parameters", metric
    )
    if front.empty:
        return chart
    chart.traces.append(
        Trace(
            "Pareto front",
            *map(list, derived.front),
            "Pareto front",
            "lines",
            FRONT,
            legend="Pareto front",
        )
    )
    seed, said = seed_name(derived), set()
    for _, row in front.iterrows():
        tip = f"{hover.get(row['Name'], row['Name'])}\n{metric} = {row[metric]:.4f}"
        if row["Name"] == seed:
            colour, symbol, role, size = SEED, "diamond", "seed preset", 12
        elif row["on_front"]:
            colour, symbol, role, size = FRONT, "circle", "on the front", 9
        else:
            colour, symbol, role, size = PALETTE[0], "circle", "other trials", 9
        # A Pareto search's answer is its front: the trials it dominates stay, faded.
        faded = role == "other trials" and derived.front_answer
        legend = None if role in said else role + " (dominated)" * bool(faded)
        said.add(role)
        xy = [int(row["params"])], [float(row[metric])]
        chart.traces.append(
            Trace(
                row["Name"],
                *xy,
                tip,
                "markers",
                colour,
                size,
                symbol,
                legend=legend,
                opacity=0.3 if faded else None,
            )
        )
    return chart


def parallel(derived: Derived, hover: dict[str, str]) -> Chart:
    names, rows = derived.parallel
    chart = Chart(
        "parallel",
        "Hyperparameters against the metric (scaled to [0, 1]; lr and decay in log10)",
        "",
        "scaled value",
        categories=names,
        empty="fewer than two trained trials, or no knob varies",
    )
    if rows.empty:
        return chart
    metric = names[-1]
    values = rows[metric].to_numpy(dtype=float)
    low, high = float(values.min()), float(values.max())
    chart = replace(chart, colour_scale=(metric, low, high))
    viridis, seed = colormaps["viridis"], seed_name(derived)
    for _, row in rows.sort_values(metric).iterrows():
        share = (row[metric] - low) / (high - low) if high > low else 1.0
        points = [(i, share if n == metric else row[n]) for i, n in enumerate(names)]
        xs, ys = zip(*[(x, float(y)) for x, y in points if np.isfinite(y)], strict=True)
        tip = f"{hover.get(row['Name'], row['Name'])}\n{metric} = {row[metric]:.4f}"
        style = styled(row["Name"], to_hex(viridis(share)), {seed: "seed preset"}, seed)
        chart.traces.append(Trace(row["Name"], list(xs), list(ys), tip, "lines", **style))
    return chart


def importance(derived: Derived) -> Chart:
    found = derived.importance
    chart = Chart("importance", found.note, "share of the variance", "", empty=found.note)
    if found.table.empty:
        return chart
    table = found.table.iloc[::-1]  # the most important on top
    tips = [f"{k}: {v:.3f}" for k, v in zip(table["knob"], table["importance"], strict=True)]
    chart.traces.append(
        Trace(
            "importance",
            table["importance"].tolist(),
            table["knob"].tolist(),
            tips,
            "bar",
            PALETTE[0],
        )
    )
    return chart


def refit_scores(refit: RefitTables) -> Chart:
    """Per configuration: every seed's model, the mean and its 95% interval."""
    score, table, models = refit.score, refit.configurations, refit.models
    names = table["configuration"].tolist()
    chart = Chart(
        "refit_scores",
        f"{score} per configuration: every seed, the mean and its 95% interval",
        "configuration",
        score,
        categories=names,
        empty="no refit model has finished yet",
    )
    if score not in models or models[score].isna().all():
        return chart
    for i, (_, row) in enumerate(table.iterrows()):
        colour = PALETTE[i % len(PALETTE)]
        name, mean = row["configuration"], row[f"mean_{score}"]
        low, high = row["ci95_low"], row["ci95_high"]  # within [0, 1] for an accuracy
        if np.isfinite(mean):
            tip = f"{name}: mean {mean:.4f}, 95% interval {low:.4f} to {high:.4f}"
            interval = ([low], [high]) if np.isfinite(low) and np.isfinite(high) else None
            chart.traces.append(
                Trace(name, [i], [mean], tip, "markers", colour, 12, interval=interval)
            )
        seeds = models[(models["configuration"] == name) & models[score].notna()]
        tips = [f"{m}: {score} {v:.4f}" for m, v in zip(seeds["Name"], seeds[score], strict=True)]
        if tips:
            xs = [i + 0.15] * len(tips)
            chart.traces.append(Trace(name, xs, seeds[score].tolist(), tips, "markers", colour, 6))
    return chart


def refit_ranks(refit: RefitTables) -> Chart:
    chart = Chart(
        "refit_ranks",
        "Search rank against refit rank (on the diagonal: the ranking held)",
        "rank in the search (its trials)",
        "rank in the refit",
        empty="no configuration has both ranks yet",
        whole_numbers=True,
    )
    both = refit.configurations.dropna(subset=["search_rank", "refit_rank"])
    if both.empty:
        return chart
    ranks = [*both["search_rank"].astype(float), *both["refit_rank"].astype(float)]
    span = [min(ranks), max(ranks)]
    chart.traces.append(
        Trace("same rank", span, span, "same rank", "lines", "#999999", legend="same rank")
    )
    for i, (_, row) in enumerate(both.iterrows()):
        name = row["configuration"]
        xs, ys = [float(row["search_rank"])], [float(row["refit_rank"])]
        colour = PALETTE[i % len(PALETTE)]
        chart.traces.append(Trace(name, xs, ys, name, "markers", colour, 12, legend=name))
    return chart
