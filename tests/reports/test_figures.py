"""What the charts show a reader: the seed preset and the best trial marked and named in a
legend, a colour bar where colour carries a value, whole-number ticks for ranks, titles clear
of plotly's toolbar. Checked on the chart data and on both drawings (matplotlib and plotly)."""

from __future__ import annotations

from experiment.results import load_experiment
from reports.charts import draw
from reports.figures import SEED, Chart, Trace, charts
from reports.html import figure
from reports.tables import derive
from tests.reports.test_export import SEED as SEED_CONFIG
from tests.reports.test_export import (
    handmade,  # noqa: F401 (the fixture)
    write_state,
    write_trial,
)

SEARCH_CHARTS = ("val_acc", "train_loss", "lr_schedule", "pareto", "parallel")


def test_the_seed_preset_is_black_and_in_the_legend_of_every_search_chart(handmade):  # noqa: F811
    better = {**SEED_CONFIG, "lr": 0.1, "seed": 5}
    write_trial(handmade / "trial_eee", "eee", better, [0.3, 0.5, 0.6])
    states = {"aaa": "TERMINATED", "bbb": "TERMINATED", "ccc": "ERROR", "ddd": "RUNNING"}
    states = {k: (v, "error.txt" if v == "ERROR" else None) for k, v in states.items()}
    write_state(handmade, {**states, "eee": ("TERMINATED", None)})
    derived = derive(load_experiment(str(handmade)))
    seed, best = derived.seed["Name"], derived.best["Name"]
    assert (seed, best) == ("trial_aaa", "trial_eee")
    drawn = {chart.key: chart for chart in charts(derived)}
    for key in SEARCH_CHARTS:
        traces = drawn[key].traces
        assert {t.colour for t in traces if t.name == seed} == {SEED}, key
        assert any(t.legend and t.legend.startswith("seed preset") for t in traces), key
        assert all(t.colour != SEED for t in traces if t.name != seed), key
    legends = [t.legend for t in drawn["val_acc"].traces if t.legend]
    assert legends.count(f"best trial ({best})") == 1
    assert f"seed preset ({seed})" in legends
    assert "stopped early by ASHA" in legends  # trial_bbb's x
    assert {"trial_bbb", "trial_ccc", "trial_ddd"} <= set(legends)  # few trials: each named

    pdf_page = draw(drawn["val_acc"])
    shown = [text.get_text() for text in pdf_page.axes[0].get_legend().get_texts()]
    assert shown == legends
    page = figure(drawn["val_acc"]).to_dict()
    assert [t["name"] for t in page["data"] if t["showlegend"]] == legends
    assert {t["meta"] for t in page["data"]} == set(derived.curves["Name"])  # the trial, always


def test_the_parallel_chart_has_a_colour_bar_of_its_metric(handmade):  # noqa: F811
    derived = derive(load_experiment(str(handmade)))
    parallel = next(chart for chart in charts(derived) if chart.key == "parallel")
    metric, low, high = parallel.colour_scale
    assert metric == "best_val_acc" and low < high
    assert len(draw(parallel).axes) == 2  # the chart and its colour bar
    bars = [t for t in figure(parallel).to_dict()["data"] if t["marker"].get("showscale")]
    assert len(bars) == 1 and bars[0]["marker"]["colorbar"]["title"]["text"] == "best_val_acc"


def test_ranks_get_whole_number_ticks_and_long_titles_wrap_clear_of_the_toolbar():
    title = "Which knobs mattered: fANOVA importance of val_acc at epoch 9, over the 14 trials"
    chart = Chart(
        "ranks",
        title,
        "search rank",
        "refit rank",
        [Trace("a", [1, 3], [2, 1])],
        whole_numbers=True,
    )
    ticks = draw(chart).axes[0].get_xticks()
    assert all(float(t).is_integer() for t in ticks)
    layout = figure(chart).to_dict()["layout"]
    assert layout["xaxis"]["dtick"] == 1 and layout["yaxis"]["dtick"] == 1
    lines = layout["title"]["text"].split("<br>")
    assert len(lines) == 2 and max(map(len, lines)) <= 70
    assert layout["margin"]["t"] >= 40 + 22 * 2
