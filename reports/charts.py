"""``charts.pdf`` and a PNG per chart: the charts of ``reports.figures`` drawn with matplotlib."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from reports.figures import Chart, charts  # noqa: E402
from reports.tables import Derived  # noqa: E402

MARKERS = {"circle": "o", "x": "x", "diamond": "D"}


def write_charts(derived: Derived, folder: Path) -> list[Path]:
    """Write ``charts.pdf`` (a page per chart, an empty one saying why) and a ``<chart>.png``
    per chart with something drawn (an earlier export's PNG of a chart now empty goes);
    returns their paths."""
    paths = [folder / "charts.pdf"]
    with PdfPages(paths[0]) as pdf:
        for chart in charts(derived):
            figure, png = draw(chart), folder / f"{chart.key}.png"
            pdf.savefig(figure)
            if chart.traces:
                figure.savefig(png, dpi=110)
                paths.append(png)
            else:
                png.unlink(missing_ok=True)
            plt.close(figure)
    return paths


def draw(chart: Chart) -> plt.Figure:
    figure, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    ax.set(xlabel=chart.xlabel, ylabel=chart.ylabel)
    ax.set_title(textwrap.fill(chart.title, 90), fontsize=11)
    ax.grid(alpha=0.3)
    if not chart.traces:
        ax.text(0.5, 0.5, chart.empty, ha="center", va="center", transform=ax.transAxes)
        return figure
    for trace in chart.traces:
        if trace.mode == "bar":
            ax.barh(trace.y, trace.x, color=trace.colour)
            continue
        style = {
            "color": trace.colour,
            "alpha": trace.opacity or 0.85,
            "label": trace.legend or "_nolegend_",
        }
        if "lines" in trace.mode:
            marker = MARKERS[trace.symbol] if "markers" in trace.mode else None
            ax.plot(trace.x, trace.y, marker=marker, ms=trace.size / 1.5, lw=trace.width, **style)
        elif trace.interval is not None:
            low, high = trace.interval
            below = [y - lo for y, lo in zip(trace.y, low, strict=True)]
            above = [hi - y for y, hi in zip(trace.y, high, strict=True)]
            ax.errorbar(
                trace.x,
                trace.y,
                yerr=[below, above],
                fmt="o",
                ms=trace.size / 1.5,
                capsize=6,
                **style,
            )
        else:
            ax.scatter(trace.x, trace.y, s=trace.size**2, marker=MARKERS[trace.symbol], **style)
    if any(trace.legend for trace in chart.traces):
        ax.legend(fontsize=8, loc="best")
    if chart.colour_scale is not None:
        label, low, high = chart.colour_scale
        scale = ScalarMappable(Normalize(low, high), cmap="viridis")
        figure.colorbar(scale, ax=ax, label=label)
    if chart.whole_numbers:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if chart.log_y:
        ax.set_yscale("log")
    if chart.categories is not None:
        ax.set_xticks(
            range(len(chart.categories)), chart.categories, rotation=35, ha="right", fontsize=8
        )
    return figure
