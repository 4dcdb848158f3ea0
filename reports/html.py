"""``report.html``: one self-contained page (plotly's JavaScript inlined, no network) with the
charts of ``reports.figures``, the refit's verdicts and the trials table.

Hovering a line or point shows its trial, state and config, and highlights that trial in every
chart and in the trials table.
"""

from __future__ import annotations

import html
import json
import math
import textwrap
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from reports.figures import Chart, charts, short
from reports.ranking import n_epochs
from reports.refit import RefitTables, pick_reason, tau_sentence
from reports.tables import Derived

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.chart { max-width: 900px; border: 1px solid #ddd; margin: 8px 0; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border: 1px solid #ddd; padding: 2px 6px; white-space: nowrap; }
tr.hot td { background: #fff3b0; }
tr.seed td { font-weight: bold; }
.answer { font-size: 16px; margin: 4px 0; }
.summary td:first-child { font-weight: bold; }
"""

# Draws each chart, then ties them together: hovering a trial thickens its lines in every chart
# and marks its table row. ``data-drawn`` and ``data-errors`` on <body> let a test (or a reader)
# see that every chart drew and no script failed.
SCRIPT = """
const failed = message => {
  document.body.dataset.errors = (document.body.dataset.errors || '') + message + ';';
};
window.addEventListener('error', e => failed(e.message));
const consoleError = console.error;
console.error = (...args) => { failed(args.join(' ')); consoleError(...args); };
const CHARTS = JSON.parse(document.getElementById('charts').textContent);
const WIDTHS = CHARTS.map(c => c.figure.data.map(t => (t.line || {}).width));
const divs = CHARTS.map(c => {
  const div = document.getElementById(c.key);
  Plotly.newPlot(div, c.figure.data, c.figure.layout, {displaylogo: false, responsive: true});
  return div;
});
function mark(name, on) {
  document.querySelectorAll('tr[data-trial]').forEach(row => {
    if (row.dataset.trial === name) row.classList.toggle('hot', on);
  });
  divs.forEach((div, k) => {
    const same = div.data.flatMap((t, i) => (t.meta === name && t.mode !== 'markers') ? [i] : []);
    const widths = same.map(i => on ? 4 : WIDTHS[k][i]);
    if (same.length) Plotly.restyle(div, {'line.width': widths}, same);
  });
}
divs.forEach(div => {
  div.on('plotly_hover', e => mark(e.points[0].data.meta, true));
  div.on('plotly_unhover', e => mark(e.points[0].data.meta, false));
});
document.body.dataset.drawn = divs.filter(div => div.querySelector('.main-svg')).length;
"""


def write_html(derived: Derived, path: Path) -> Path:
    """Write the interactive report of an experiment to ``path``."""
    experiment = derived.experiment
    drawn = charts(derived)
    refit_keys = {"refit_scores", "refit_ranks"}
    search = [_chart(c) for c in drawn if c.key not in refit_keys]
    lead = "".join(f"<p class='answer'>{html.escape(line)}</p>" for line in derived.headline)
    sections = [lead, _summary(derived)]
    if derived.refit is not None:
        sections.append(_refit(derived.refit, [c for c in drawn if c.key in refit_keys]))
    sections += [*search, _section("Trials, best first", _table(key_columns_first(derived)))]
    data = (
        "["
        + ",".join(
            f'{{"key": {json.dumps(c.key)}, "figure": {figure(c).to_json()}}}' for c in drawn
        )
        + "]"
    )
    data = data.replace("</", "<\\/")  # no "</script>" inside the data, whatever a name holds
    title = f"NAS report: {Path(experiment.location).name}"
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body><h1>{html.escape(title)}</h1>"
        + "".join(sections)
        + f"<script type='application/json' id='charts'>{data}</script>"
        + f"<script>{SCRIPT}</script></body></html>"
    )
    path.write_text(page)
    return path


def figure(chart: Chart) -> go.Figure:
    """``chart`` as a plotly figure."""
    fig = go.Figure()
    for trace in chart.traces:
        hover = trace.hover
        hover = (
            [h.replace("\n", "<br>") for h in hover]
            if isinstance(hover, list)
            else (hover.replace("\n", "<br>"))
        )
        common = {
            "name": trace.legend or trace.name,
            "meta": trace.name,  # the trial: the page highlights it everywhere
            "hovertext": hover,
            "hoverinfo": "text",
            "showlegend": trace.legend is not None,
        }
        if trace.mode == "bar":
            fig.add_bar(x=trace.x, y=trace.y, orientation="h", marker_color=trace.colour, **common)
            continue
        error = None
        if trace.interval is not None:
            low, high = trace.interval
            error = {
                "type": "data",
                "symmetric": False,
                "array": [hi - y for y, hi in zip(trace.y, high, strict=True)],
                "arrayminus": [y - lo for y, lo in zip(trace.y, low, strict=True)],
                "color": trace.colour,
                "thickness": 3,
            }
        fig.add_scatter(
            x=trace.x,
            y=trace.y,
            mode=trace.mode,
            line={"color": trace.colour, "width": trace.width * 4 / 3},
            marker={"color": trace.colour, "size": trace.size, "symbol": trace.symbol},
            **({} if trace.opacity is None else {"opacity": trace.opacity}),
            error_y=error,
            **common,
        )
    if chart.colour_scale is not None:
        label, low, high = chart.colour_scale
        fig.add_scatter(  # no point: the colour bar of the lines' viridis colours
            x=[None],
            y=[None],
            mode="markers",
            showlegend=False,
            hoverinfo="skip",
            marker={
                "colorscale": "Viridis",
                "cmin": low,
                "cmax": high,
                "color": [low],
                "showscale": True,
                "colorbar": {"title": {"text": label}},
            },
        )
    bars = max((len(t.y) for t in chart.traces if t.mode == "bar"), default=0)
    title = textwrap.wrap(chart.title, 70)  # short lines: none runs under plotly's toolbar
    fig.update_layout(
        title={"text": "<br>".join(title), "x": 0.01, "xanchor": "left"},
        xaxis_title=chart.xlabel,
        yaxis_title=chart.ylabel,
        template="plotly_white",
        height=max(420, 100 + 20 * bars),  # a row per bar
        margin={
            "l": 70,
            "r": 20,
            "t": 40 + 22 * len(title),
            "b": 120 if chart.categories is not None else 60,  # room for slanted labels
        },
        hovermode="closest",
        legend={"font": {"size": 11}},
    )
    if chart.whole_numbers:
        fig.update_xaxes(dtick=1)
        fig.update_yaxes(dtick=1)
    if chart.log_y:
        fig.update_yaxes(type="log")
    if chart.categories is not None:
        count = len(chart.categories)
        fig.update_xaxes(
            tickvals=list(range(count)), ticktext=chart.categories, range=[-0.4, count - 0.6]
        )
    if chart.xlabel == "epoch":  # whole epochs, about ten ticks
        xs = [x for t in chart.traces for x in t.x] or [1]
        fig.update_xaxes(tick0=math.floor(min(xs)), dtick=max(1, math.ceil(max(xs) / 10)))
    if not chart.traces:
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        fig.add_annotation(text=chart.empty, showarrow=False, xref="paper", yref="paper")
    return fig


def key_columns_first(derived: Derived) -> pd.DataFrame:
    """The trials table with the columns a reader looks for first: name, state, seed preset,
    the search's metric, test accuracy, epochs and size; then the rest."""
    table = derived.ablations
    key = ["Name", "State", "is_seed_preset", derived.metric, "test_acc", "epochs", "params"]
    key = [c for c in key if c in table]
    return table[key + [c for c in table.columns if c not in key]]


def _chart(chart: Chart) -> str:
    return f"<div class='chart' id='{html.escape(chart.key)}'></div>"


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
    if earlier := experiment.run.get("options", {}).get("warm_start"):
        rows.append(("warm start (knowledge, not trials)", ", ".join(earlier)))
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


def _refit(refit: RefitTables, drawn: list[Chart]) -> str:
    """The refit: its verdicts, its charts (``drawn``: per configuration its score over seeds
    with the 95% interval, the search's rank against the refit's), and every model."""
    ranked = len(refit.configurations.dropna(subset=["search_rank", "refit_rank"]))
    tau = tau_sentence(refit.kendall_tau, ranked)
    lead = (
        f"<p>Each configuration trained {n_epochs(refit.epochs)} with seeds {refit.seeds}, scored "
        f"by {refit.score}. The search's ranking against the refit's: {html.escape(tau)}.</p>"
    )
    verdicts = "".join(
        f"<li>{html.escape(row['configuration'])}: {html.escape(row['verdict'])}</li>"
        for _, row in refit.configurations.iterrows()
        if isinstance(row.get("verdict"), str)
    )
    if refit.pick is not None:  # a front's refit: the network nas.predict uses, and why
        rows = refit.configurations.to_dict("records")
        why = pick_reason(refit.pick, refit.pick_why, rows)
        verdicts += f"<li>nas.predict uses {html.escape(why)}</li>"
    return (
        _section("Refit: the winners trained again, over seeds", lead + f"<ul>{verdicts}</ul>")
        + "".join(_chart(chart) for chart in drawn)
        + _table(refit.configurations)
        + _section("Refit models", _table(refit.models))
    )


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    seeds = frame["is_seed_preset"] if "is_seed_preset" in frame else [False] * len(frame)
    for row, seed in zip(frame.itertuples(index=False), seeds, strict=True):
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(short(v))}</td>" for v in row)
        marked = " class='seed'" if bool(seed) else ""  # the seed preset's row, in bold
        body.append(f"<tr data-trial='{html.escape(str(row[0]))}'{marked}>{cells}</tr>")
    return f"<div style='overflow-x:auto'><table><tr>{head}</tr>{''.join(body)}</table></div>"
