"""The refit's table on the console: one row per configuration (the seed preset first), the
verdicts, Kendall's tau and the final model."""

from __future__ import annotations

from reports.ranking import n_epochs
from reports.refit import PRESET, pick_reason, tau_sentence


def print_refit(summary: dict, next_step: bool = True) -> None:
    """One row per configuration (the seed preset first), the verdicts, Kendall's tau; then,
    with ``next_step``, the predictions to make."""
    score, front = summary["score"], "pick" in summary
    header = ("configuration", "search rank", "params", "MACs", score, "95% interval", "gain")
    rows = [header] + [table_row(c, score) for c in summary["configurations"]]
    if front:  # a Pareto search's front: each network's size against the seed preset's
        shares = ["size"] + [f"{c['params_share']:.0%}" for c in summary["configurations"]]
        rows = [(*row[:3], share, *row[3:]) for row, share in zip(rows, shares, strict=True)]
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    print(
        f"\nRefit: {summary['finished']} of {summary['models']} models trained "
        f"{n_epochs(summary['epochs'])} (seeds {summary['seeds']}), scored by {score}; mean ± std "
        "over seeds, gain over the seed preset in points, paired by seed"
    )
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    for c in summary["configurations"]:
        if c.get("verdict"):
            print(f"{c['configuration']}: {c['verdict']}")
    configurations = summary["configurations"]
    ranked = sum(
        c["search_rank"] is not None and c["refit_rank"] is not None for c in configurations
    )
    print(f"Search ranking against refit ranking: {tau_sentence(summary['kendall_tau'], ranked)}")
    if (final := summary["final_model"]) and front:
        why = pick_reason(summary["pick"], summary.get("pick_why"), summary["configurations"])
        print(f"Final model: {final['model']}, {why}; nas.predict uses it")
    elif final:
        print(
            f"Final model: {final['model']}, the search's pick ({final['configuration']}) with "
            f"the first of the seeds, chosen before any score ({score} {final[score]:.4f} only "
            "reports); nas.predict uses it"
        )
    elif summary["finished"]:
        print("No model of the search's pick finished: nas.predict uses the search's best trial")
    print(f"Wall time: {summary['wall_seconds']:.0f} s\nReports:")
    print("\n".join(f"  {path}" for path in summary["reports"]))
    if summary["interrupted"]:
        print(f"Interrupted before the end; continue with:\n  {summary['resume_command']}")
    elif next_step and final and (predict := summary.get("predict_command")):
        print(f"Next:\n  {predict}  # the final model's predictions on the test split")


def table_row(c: dict, score: str) -> tuple[str, ...]:
    mean, std, low = c[f"mean_{score}"], c[f"std_{score}"], c["ci95_low"]
    if c["configuration"] == PRESET:
        gain = "reference"
    else:
        gain = "-" if c.get("gain") is None else f"{c['gain']:+.2f}"
    return (
        c["configuration"],
        "-" if c["search_rank"] is None else str(c["search_rank"]),
        f"{c['params']:,}",
        f"{c['macs']:,}",
        "-" if mean is None else f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}"),
        "-" if low is None else f"{low:.4f} to {c['ci95_high']:.4f}",
        gain,
    )
