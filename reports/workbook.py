"""``nas.xlsx``: Answer (the reports' headline), Trials (best first), Architectures, Pareto,
Curves, Best, Run, Importance and (after a refit) Refit sheets (openpyxl)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.importance import Importance
from reports.ranking import n_epochs
from reports.refit import RefitTables
from reports.tables import Derived

BOLD = Font(bold=True)


def write_workbook(derived: Derived, path: Path) -> Path:
    """Write the NAS spreadsheet of an experiment to ``path``."""
    book = Workbook()
    answer = book.active
    answer.title = "Answer"
    for line in derived.headline:
        answer.append([line])
    answer.column_dimensions["A"].width = 120
    trials = book.create_sheet("Trials")
    _frame(trials, derived.ablations)
    _accuracy_colours(trials)
    _frame(book.create_sheet("Architectures"), derived.architectures)
    _pareto(book.create_sheet("Pareto"), derived.pareto)
    _frame(book.create_sheet("Curves"), derived.curves)
    _best(book.create_sheet("Best"), *derived.best_details)
    _pairs(book.create_sheet("Run"), ("Key", "Value"), derived.run_rows)
    _importance(book.create_sheet("Importance"), derived.importance)
    if derived.refit is not None:
        _refit(book.create_sheet("Refit"), derived.refit)
    book.save(path)
    return path


def _frame(sheet: Worksheet, frame: pd.DataFrame) -> None:
    """The frame with a bold frozen header, an autofilter and number formats by column name."""
    sheet.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        sheet.append([_cell(v) for v in row])
    for cell in sheet[1]:
        cell.font = BOLD
    sheet.freeze_panes = "B2"
    if len(frame.columns):
        sheet.auto_filter.ref = sheet.dimensions
    for i, column in enumerate(frame.columns, start=1):
        number_format = _number_format(str(column))
        letter = get_column_letter(i)
        sheet.column_dimensions[letter].width = max(10, min(40, len(str(column)) + 2))
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = number_format


def _number_format(column: str) -> str | None:
    if column in ("params", "macs"):
        return "#,##0"
    if column.endswith(("_acc", "_loss")) or column in (
        "dropout",
        "label_smoothing",
        "importance",
    ):
        return "0.0000"
    if column.endswith("lr") or column == "weight_decay":
        return "0.00E+00"
    if column in ("Runtime", "epoch_seconds"):
        return "0.0"
    return None


def _accuracy_colours(sheet: Worksheet) -> None:
    """Red-to-green colour scale on every accuracy column."""
    for cell in sheet[1]:
        if str(cell.value).endswith("_acc") and sheet.max_row > 1:
            span = f"{cell.column_letter}2:{cell.column_letter}{sheet.max_row}"
            rule = ColorScaleRule(
                start_type="min",
                start_color="F8696B",
                mid_type="percentile",
                mid_value=50,
                mid_color="FFEB84",
                end_type="max",
                end_color="63BE7B",
            )
            sheet.conditional_formatting.add(span, rule)


def _pareto(sheet: Worksheet, front: pd.DataFrame) -> None:
    """All trials by parameters and accuracy, the front marked, and a scatter chart of both."""
    ordered = pd.concat([front[front["on_front"]], front[~front["on_front"]]])
    _frame(sheet, ordered)
    n_front, n_all = int(front["on_front"].sum()), len(front)
    if not n_all:
        return
    chart = ScatterChart()
    chart.title = "Accuracy against parameters"
    chart.x_axis.title, chart.y_axis.title = "parameters", str(front.columns[2])
    chart.style = 13
    for label, first, last in (("front", 2, n_front + 1), ("trials", 2, n_all + 1)):
        if last < first:
            continue
        xs = Reference(sheet, min_col=2, min_row=first, max_row=last)
        ys = Reference(sheet, min_col=3, min_row=first, max_row=last)
        series = Series(ys, xs, title=label)
        series.marker.symbol = "circle"
        series.graphicalProperties.line.noFill = label == "trials"
        chart.series.append(series)
    sheet.add_chart(chart, "H2")


def _refit(sheet: Worksheet, refit: RefitTables) -> None:
    """One row per configuration (the seed preset first), Kendall's tau, then every model."""
    _frame(sheet, refit.configurations)
    tau = "n/a" if refit.kendall_tau is None else round(refit.kendall_tau, 3)
    sheet.append([])
    sheet.append(["Kendall's tau, search rank vs refit rank", tau])
    sheet.append([f"score: {refit.score} after {n_epochs(refit.epochs)}, seeds {refit.seeds}"])
    sheet.append([])
    top = sheet.max_row + 1
    sheet.append([str(c) for c in refit.models.columns])
    for cell in sheet[top]:
        cell.font = BOLD
    for row in refit.models.itertuples(index=False):
        sheet.append([_cell(v) for v in row])


def _importance(sheet: Worksheet, importance: Importance) -> None:
    """The knobs, most important first, then what the figures rest on (or why there are none)."""
    _frame(sheet, importance.table)
    sheet.append([])
    sheet.append([importance.note])
    sheet.column_dimensions["A"].width = 24


def _best(sheet: Worksheet, summary: list[tuple], layers: list[tuple]) -> None:
    _pairs(sheet, ("Key", "Value"), summary)
    if not layers:
        return
    sheet.append([])
    sheet.append(["Layer", "Type", "Output shape", "Params"])
    for cell in sheet[sheet.max_row]:
        cell.font = BOLD
    for row in layers:
        sheet.append(list(row))
        sheet.cell(sheet.max_row, 4).number_format = "#,##0"
    sheet.append(["Total params", None, None, sum(r[3] for r in layers)])
    sheet.cell(sheet.max_row, 4).number_format = "#,##0"
    sheet.column_dimensions["A"].width = 32
    sheet.column_dimensions["C"].width = 16


def _pairs(sheet: Worksheet, header: tuple[str, str], rows: list[tuple]) -> None:
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = BOLD
    for key, value in rows:
        sheet.append([key, _cell(value)])
    sheet.column_dimensions["A"].width = 32
    sheet.column_dimensions["B"].width = 60


def _cell(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
