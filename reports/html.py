"""``report.html``: one self-contained page (inline SVG, no network) with interactive charts.

Hovering a line or point shows its trial, state and config, and highlights that trial in every
chart and in the trials table.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from reports.refit import RefitTables
from reports.results import STOPPED
from reports.tables import Derived, configs

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 760, 380, 70, 20, 30, 60
COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
svg { background: #fff; border: 1px solid #ddd; }
svg .trial { fill: none; stroke-width: 1.6; opacity: .75; }
svg .dot { opacity: .8; }
svg .hot { stroke-width: 4; opacity: 1; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .axis { stroke: #999; } svg .grid { stroke: #eee; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border: 1px solid #ddd; padding: 2px 6px; white-space: nowrap; }
tr.hot td { background: #fff3b0; }
.summary td:first-child { font-weight: bold; }
"""

SCRIPT = """
document.querySelectorAll('[data-trial]').forEach(el => {
  const same = () => document.querySelectorAll(`[data-trial="${el.dataset.trial}"]`);
  el.addEventListener('mouseenter', () => same().forEach(x => x.classList.add('hot')));
  el.addEventListener('mouseleave', () => same().forEach(x => x.classList.remove('hot')));
});
"""


def write_html(derived: Derived, path: Path) -> Path:
    """Write the interactive report of an experiment to ``path``."""
    experiment = derived.experiment
    trials = experiment.trials
    tooltips = _tooltips(trials)
    metric, curves = derived.metric, derived.curves
    sections = [
        _summary(derived),
        _section(
            f"{metric} per epoch (x: stopped early by ASHA)",
            _curve_chart(curves, metric, trials, tooltips),
        ),
        _section("Training loss per epoch", _curve_chart(curves, "train_loss", trials, tooltips)),
        _section("Learning rate (per iteration, log scale)", _schedule_chart(derived, tooltips)),
        _section(
            f"best_{metric} against parameters; red: Pareto front",
            _pareto_chart(derived, tooltips),
        ),
        _section(
            "Hyperparameters against the metric (scaled to [0, 1]; lr and decay in log10)",
            _parallel_chart(derived, tooltips),
        ),
        _section("Trials", _table(derived.ablations)),
    ]
    if derived.refit is not None:
        sections.insert(1, _refit(derived.refit))
    title = f"NAS report: {Path(experiment.location).name}"
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        + "".join(sections)
        + f"<script>{SCRIPT}</script></body></html>"
    )
    path.write_text(page)
    return path


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>{body}"


def _summary(derived: Derived) -> str:
    experiment = derived.experiment
    counts = experiment.trials["State"].value_counts() if len(experiment.trials) else {}
    rows = [
        ("space", experiment.run.get("space", "?")),
        ("command", experiment.run.get("command", "?")),
    ]
    rows += [(state, int(n)) for state, n in dict(counts).items()]
    best, metric = derived.best, derived.metric
    if best is not None:
        rows.append(
            (
                "best trial",
                f"{best['Name']}: {metric} {float(best[metric]):.4f}, "
                f"{int(best['params']):,} params",
            )
        )
    cells = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table class='summary'>{cells}</table>"


def _refit(refit: RefitTables) -> str:
    """The refit: per configuration its score over seeds with the 95% interval, the search's
    rank against the refit's, and every model."""
    tau = "n/a (too few)" if refit.kendall_tau is None else f"{refit.kendall_tau:+.2f}"
    lead = (
        f"<p>Each configuration trained {refit.epochs} epochs with seeds {refit.seeds}, scored "
        f"by {refit.score}. Kendall's tau between the search's ranking and the refit's: "
        f"{html.escape(tau)} (1: the order held, 0: unrelated).</p>"
    )
    verdicts = "".join(
        f"<li>{html.escape(row['configuration'])}: {html.escape(row['verdict'])}</li>"
        for _, row in refit.configurations.iterrows()
        if isinstance(row.get("verdict"), str)
    )
    return (
        _section("Refit: the winners trained again, over seeds", lead + f"<ul>{verdicts}</ul>")
        + _section(
            f"{refit.score} per configuration: every seed, the mean and its 95% interval",
            _score_chart(refit),
        )
        + _section("Search rank against refit rank (on the diagonal: held)", _rank_chart(refit))
        + _table(refit.configurations)
        + _section("Refit models", _table(refit.models))
    )


def _score_chart(refit: RefitTables) -> str:
    table, models, score = refit.configurations, refit.models, refit.score
    names = list(table["configuration"])
    if score not in models or models[score].isna().all():
        return "<p>No refit model has finished yet.</p>"
    values = np.array([*models[score], *table["ci95_low"], *table["ci95_high"]], dtype=float)
    if score.endswith("_acc"):  # an interval of few seeds can reach past what accuracy can be
        values = np.clip(values, 0.0, 1.0)
    axes = _Axes([-0.5, len(names) - 0.5], values, "configuration", score)
    parts = [axes.frame()]
    for i, (_, row) in enumerate(table.iterrows()):
        name, colour, x = row["configuration"], COLOURS[i % len(COLOURS)], axes.x(i)
        parts.append(
            f"<text x='{x:.1f}' y='{H - PAD_B + 30}' text-anchor='middle'>"
            f"{html.escape(name)}</text>"
        )
        low, high, mean = row["ci95_low"], row["ci95_high"], row[f"mean_{score}"]
        if _finite(low) and _finite(high):
            top, bottom = axes.y(min(high, axes.y1)), axes.y(max(low, axes.y0))
            parts.append(
                f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top:.1f}' y2='{bottom:.1f}' "
                f"stroke='{colour}' stroke-width='3'/>"
            )
        if _finite(mean):
            tip = f"{name}: mean {mean:.4f}, 95% interval {low:.4f} to {high:.4f}"
            parts.append(_dot(x, axes.y(mean), 7, colour, name, tip))
        for _, model in models[models["configuration"] == name].iterrows():
            if _finite(model[score]):
                tip = f"{model['Name']}: {score} {model[score]:.4f}"
                parts.append(_dot(x + 14, axes.y(model[score]), 3, colour, name, tip))
    return _svg("".join(parts))


def _rank_chart(refit: RefitTables) -> str:
    both = refit.configurations.dropna(subset=["search_rank", "refit_rank"])
    if both.empty:
        return "<p>No configuration has both ranks yet.</p>"
    ranks = [*both["search_rank"].astype(float), *both["refit_rank"].astype(float)]
    axes = _Axes(ranks, ranks, "rank in the search (its trials)", "rank in the refit")
    low, high = min(ranks), max(ranks)
    diagonal = [(axes.x(low), axes.y(low)), (axes.x(high), axes.y(high))]
    parts = [axes.frame(), _polyline(diagonal, "#999", "diagonal", "same rank")]
    for i, (_, row) in enumerate(both.iterrows()):
        name = row["configuration"]
        x, y = axes.x(float(row["search_rank"])), axes.y(float(row["refit_rank"]))
        parts.append(_dot(x, y, 6, COLOURS[i % len(COLOURS)], name, name))
        parts.append(f"<text x='{x + 8:.1f}' y='{y - 8:.1f}'>{html.escape(name)}</text>")
    return _svg("".join(parts))


def _tooltips(trials: pd.DataFrame) -> dict[str, str]:
    """Trial name -> 'name (state)' and its config, one key per line."""
    found = {}
    for (_, row), config in zip(trials.iterrows(), configs(trials), strict=True):
        knobs = "\n".join(f"{k} = {_short(v)}" for k, v in config.items())
        found[row["Name"]] = f"{row['Name']} ({row['State']})\n{knobs}"
    return found


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _Axes:
    """Maps data to SVG coordinates and draws the frame, ticks and labels."""

    def __init__(self, xs, ys, xlabel: str, ylabel: str, log_y: bool = False):
        xs = np.asarray([x for x in xs if _finite(x)], dtype=float)
        ys = np.asarray([y for y in ys if _finite(y) and (y > 0 or not log_y)], dtype=float)
        self.log_y = log_y
        ys = np.log10(ys) if log_y else ys
        self.x0, self.x1 = _span(xs)
        self.y0, self.y1 = _span(ys)
        self.xlabel, self.ylabel = xlabel, ylabel

    def x(self, v: float) -> float:
        return PAD_L + (v - self.x0) / (self.x1 - self.x0) * (W - PAD_L - PAD_R)

    def y(self, v: float) -> float:
        v = math.log10(v) if self.log_y else v
        return H - PAD_B - (v - self.y0) / (self.y1 - self.y0) * (H - PAD_T - PAD_B)

    def frame(self) -> str:
        parts = []
        for t in _ticks(self.x0, self.x1):
            px = PAD_L + (t - self.x0) / (self.x1 - self.x0) * (W - PAD_L - PAD_R)
            parts.append(
                f"<line class='grid' x1='{px:.1f}' x2='{px:.1f}' y1='{PAD_T}' y2='{H - PAD_B}'/>"
            )
            parts.append(
                f"<text x='{px:.1f}' y='{H - PAD_B + 16}' text-anchor='middle'>{t:,.6g}</text>"
            )
        for t in _ticks(self.y0, self.y1, whole=self.log_y):
            py = H - PAD_B - (t - self.y0) / (self.y1 - self.y0) * (H - PAD_T - PAD_B)
            label = f"{10**t:.0e}" if self.log_y else f"{t:.6g}"
            parts.append(
                f"<line class='grid' x1='{PAD_L}' x2='{W - PAD_R}' y1='{py:.1f}' y2='{py:.1f}'/>"
            )
            parts.append(
                f"<text x='{PAD_L - 6}' y='{py + 4:.1f}' text-anchor='end'>{label}</text>"
            )
        parts.append(
            f"<rect class='axis' x='{PAD_L}' y='{PAD_T}' width='{W - PAD_L - PAD_R}' "
            f"height='{H - PAD_T - PAD_B}' fill='none'/>"
        )
        xlabel = html.escape(self.xlabel)
        parts.append(
            f"<text x='{(W + PAD_L) / 2}' y='{H - 18}' text-anchor='middle'>{xlabel}</text>"
        )
        parts.append(
            f"<text x='16' y='{H / 2}' transform='rotate(-90 16 {H / 2})' "
            f"text-anchor='middle'>{html.escape(self.ylabel)}</text>"
        )
        return "".join(parts)


def _svg(body: str, width: int = W) -> str:
    size = f"width='{width}' height='{H}' viewBox='0 0 {width} {H}'"
    return f"<svg {size}>{body}</svg>"  # inline SVG needs no namespace in HTML


def _dot(x: float, y: float, radius: float, colour: str, name: str, tooltip: str) -> str:
    return (
        f"<circle class='dot' data-trial='{html.escape(name)}' cx='{x:.1f}' cy='{y:.1f}' "
        f"r='{radius}' fill='{colour}'><title>{html.escape(tooltip)}</title></circle>"
    )


def _polyline(points: list[tuple[float, float]], colour: str, name: str, tooltip: str) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return (
        f"<polyline class='trial' data-trial='{html.escape(name)}' points='{coords}' "
        f"stroke='{colour}'><title>{html.escape(tooltip)}</title></polyline>"
    )


def _curve_chart(curves: pd.DataFrame, metric: str, trials: pd.DataFrame, tooltips: dict) -> str:
    if metric not in curves or curves[metric].isna().all():
        return "<p>No epochs reported yet.</p>"
    axes = _Axes(curves["epoch"], curves[metric], "epoch", metric)
    states = dict(zip(trials["Name"], trials["State"], strict=True))
    parts = [axes.frame()]
    for i, (name, curve) in enumerate(curves.groupby("Name")):
        colour = COLOURS[i % len(COLOURS)]
        points = [
            (axes.x(e), axes.y(v))
            for e, v in zip(curve["epoch"], curve[metric], strict=True)
            if _finite(v)
        ]
        parts.append(_polyline(points, colour, name, tooltips.get(name, name)))
        if points and states.get(name) == STOPPED:
            x, y = points[-1]
            parts.append(
                f"<path d='M{x - 5},{y - 5}L{x + 5},{y + 5}M{x - 5},{y + 5}L{x + 5},{y - 5}' "
                f"class='trial' data-trial='{html.escape(name)}' stroke='{colour}'/>"
            )
        for x, y in points:
            parts.append(_dot(x, y, 2.5, colour, name, tooltips.get(name, name)))
    return _svg("".join(parts))


def _schedule_chart(derived: Derived, tooltips: dict) -> str:
    schedules = derived.schedules
    if not schedules:
        return "<p>No schedule (the space is unknown or no trial trained).</p>"
    every = pd.concat(schedules.values())
    axes = _Axes(every["epoch"], every["lr"], "epoch", "lr", log_y=True)
    parts = [axes.frame()]
    for i, (name, s) in enumerate(schedules.items()):
        points = [
            (axes.x(e), axes.y(v)) for e, v in zip(s["epoch"], s["lr"], strict=True) if v > 0
        ]
        parts.append(_polyline(points, COLOURS[i % len(COLOURS)], name, tooltips.get(name, name)))
    return _svg("".join(parts))


def _pareto_chart(derived: Derived, tooltips: dict) -> str:
    front = derived.pareto
    if front.empty:
        return "<p>No trial reported a metric yet.</p>"
    metric = front.columns[2]
    axes = _Axes(front["params"], front[metric], "parameters", metric)
    parts = [axes.frame()]
    steps = [(axes.x(x), axes.y(y)) for x, y in zip(*derived.front, strict=True)]
    parts.append(_polyline(steps, "#d62728", "front", "Pareto front"))
    for _, row in front.iterrows():
        colour = "#d62728" if row["on_front"] else "#1f77b4"
        tip = f"{tooltips.get(row['Name'], row['Name'])}\n{metric} = {row[metric]:.4f}"
        x, y = axes.x(row["params"]), axes.y(row[metric])
        parts.append(_dot(x, y, 5, colour, row["Name"], tip))
    return _svg("".join(parts))


def _parallel_chart(derived: Derived, tooltips: dict) -> str:
    names, rows = derived.parallel
    if rows.empty:
        return "<p>Fewer than two trained trials, or no knob varies.</p>"
    metric = names[-1]
    low, high = _span(rows[metric].to_numpy(dtype=float))
    width = max(W, 70 * len(names) + PAD_L)
    step = (width - PAD_L - PAD_R) / max(len(names) - 1, 1)

    def y(v: float) -> float:
        return H - PAD_B - v * (H - PAD_T - PAD_B)

    parts = []
    for i, name in enumerate(names):
        x = PAD_L + i * step
        parts.append(
            f"<line class='axis' x1='{x:.1f}' x2='{x:.1f}' y1='{PAD_T}' y2='{H - PAD_B}'/>"
        )
        parts.append(
            f"<text x='{x:.1f}' y='{H - PAD_B + 14}' text-anchor='end' "
            f"transform='rotate(-35 {x:.1f} {H - PAD_B + 14})'>{html.escape(name)}</text>"
        )
    for _, row in rows.iterrows():
        share = (row[metric] - low) / (high - low)
        colour = _viridis(share)
        points = [
            (PAD_L + i * step, y(share if n == metric else row[n]))
            for i, n in enumerate(names)
            if _finite(row[n])
        ]
        tip = f"{tooltips.get(row['Name'], row['Name'])}\n{metric} = {row[metric]:.4f}"
        parts.append(_polyline(points, colour, row["Name"], tip))
    return _svg("".join(parts), width)


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(_short(v))}</td>" for v in row)
        body.append(f"<tr data-trial='{html.escape(str(row[0]))}'>{cells}</tr>")
    return f"<div style='overflow-x:auto'><table><tr>{head}</tr>{''.join(body)}</table></div>"


def _ticks(low: float, high: float, count: int = 5, whole: bool = False) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) between ``low`` and ``high``."""
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, round(step))
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _span(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return 0.0, 1.0
    low, high = float(np.min(values)), float(np.max(values))
    if high == low:
        return low - 0.5, high + 0.5
    margin = (high - low) * 0.05
    return low - margin, high + margin


def _finite(value) -> bool:
    return value is not None and not pd.isna(value) and math.isfinite(float(value))


def _viridis(share: float) -> str:
    """A colour from dark purple (0) through teal to yellow (1)."""
    stops = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
    share = min(max(float(share), 0.0), 1.0) * (len(stops) - 1)
    i = min(int(share), len(stops) - 2)
    t = share - i
    r, g, b = (round(a + (b - a) * t) for a, b in zip(stops[i], stops[i + 1], strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
