"""What a search ended with: the summary written to the experiment folder (counts, the best
and the seed trials with their test accuracy, the gain over the seed preset, the reports) and
the lines ``nas.run`` prints from it."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from driver.config import RunConfig
from experiment import storage
from experiment.layout import STUDY
from experiment.summary import read_summary, write_summary
from nas.cli import command
from reports.ranking import n_epochs, trained
from searchers.study import agree_with_the_logs


def summarize(experiment: str, grid, space, config: RunConfig, wall: float) -> dict:
    """The summary of a search that ran (counts, best and seed trials), written with the
    reports into the experiment folder."""
    from experiment.journal import load_study
    from experiment.results import load_experiment
    from experiment.trials import FAILED, FINISHED, REJECTED, RUNNING, STOPPED
    from reports.export import export_to
    from reports.ranking import best_trial, seed_trial
    from reports.tables import derive

    results = load_experiment(experiment)  # read once: the counts, the best trial, the reports
    journal = storage.join(experiment, STUDY)
    if mended := agree_with_the_logs(results, journal, space.metric, config.sizes):
        print(
            f"{journal}: {mended} trial(s) set to the epochs their logs hold (a stop had left "
            "the last ones untold to the searcher).",
            flush=True,
        )
        results.study = load_study(experiment)
    states = results.trials["State"].value_counts()
    summary = {
        "space": space.name,
        "experiment_dir": experiment,
        "trials": int(states.drop(REJECTED, errors="ignore").sum()),
        "finished": int(states.get(FINISHED, 0)),
        "stopped_early": int(states.get(STOPPED, 0)),
        "failed": int(states.get(FAILED, 0)),
        "unfinished": int(states.get(RUNNING, 0)),
        "rejected": int(states.get(REJECTED, 0)),
        "epochs_trained": epochs_by_the_schedule(results.trials),
        "max_epochs": config.max_epochs,
        "wall_seconds": round(wall, 1),
    }
    checkpoints = {r.metrics["trial_id"]: r.checkpoint for r in grid if r.metrics}
    summary["best"], summary["seed"] = (
        None if row is None else trial_summary(row, space, config, checkpoints)
        for row in (best_trial(results), seed_trial(results))
    )
    # The two trials scored on the test split, for the reports to show (never to choose by).
    scored = [t for t in (summary["best"], summary["seed"]) if t]
    results.scores = {t["trial_id"]: t["test_acc"] for t in scored}
    derived = derive(results)  # once: what mattered, the reports
    summary["gain_over_seed"] = gain_over_seed(summary["best"], summary["seed"], space.mode)
    summary["interrupted"] = bool(summary["unfinished"]) or summary["trials"] < config.num_samples
    summary["resume_command"] = resume_command(config)
    summary["importance"] = derived.importance.summary()
    if config.warm_start:  # knowledge from elsewhere: in the study, not among the trials
        summary["warm_start"] = warm_start_summary(results.study, config.warm_start)
    if derived.front_answer:  # a Pareto search's answer (a search of one objective has none)
        summary["front"] = derived.front_answer
    summary["reports"] = export_to(derived)
    if "refit" in (earlier := read_summary(experiment)):
        summary["refit"] = earlier["refit"]  # a refit's results stay until it is redone
    write_summary(experiment, summary)
    return summary


def trial_summary(row, space, config: RunConfig, checkpoints: dict) -> dict:
    """One trial's config, last metrics and accuracy on the test split (from its checkpoint)."""
    from experiment.trials import ARCHITECTURE
    from reports.ranking import trial_config
    from trainables.checkpoints import CheckpointUnreadable, evaluate_checkpoint

    test_loss = test_acc = math.nan
    checkpoint = checkpoints.get(row["trial_id"])
    if checkpoint is not None:  # a trial that failed before its first checkpoint has none
        with checkpoint.as_directory() as folder:
            try:
                test_loss, test_acc = evaluate_checkpoint(
                    Path(folder), space.task, config.data_dir
                )
            except CheckpointUnreadable as e:  # damaged on disk since it was written
                print(
                    f"{checkpoint.path} does not load ({e}): trial "
                    f"{row['trial_id']} is not scored on the test split.",
                    flush=True,
                )
    return {
        "trial_id": row["trial_id"],
        "config": trial_config(row),
        "epochs": int(row["epochs"]),
        "metric": space.metric,
        **{m: float(row[m]) for m in space.metrics if m in row and not pd.isna(row[m])},
        "test_acc": test_acc,
        "test_loss": test_loss,
        **{key: int(row[key]) for key in ARCHITECTURE},
    }


def gain_over_seed(best: dict | None, seed: dict | None, mode: str) -> dict | None:
    """The best trial's lead over the seed preset, in accuracy points (negative: behind)."""
    if best is None or seed is None:
        return None
    sign = 1 if mode == "max" else -1
    gains = {best["metric"]: sign * (best[best["metric"]] - seed[best["metric"]]) * 100}
    if not (math.isnan(best["test_acc"]) or math.isnan(seed["test_acc"])):
        gains["test_acc"] = (best["test_acc"] - seed["test_acc"]) * 100
    return {key: round(value, 2) for key, value in gains.items()}


def seed_sentence(summary: dict) -> str:
    """How the best trial compares with the seed preset, in one plain sentence."""
    best, seed, gains = summary["best"], summary["seed"], summary["gain_over_seed"]
    if seed is None:
        return "No seed preset trial in this search (--no-seed-trial): no baseline to compare."
    if best["trial_id"] == seed["trial_id"]:
        return (
            f"The seed preset is the best trial: the search found no better network in "
            f"{summary['trials']} trials."
        )
    metric = best["metric"]
    parts = [f"{metric} {best[metric]:.4f} vs {seed[metric]:.4f} ({gains[metric]:+.2f} points)"]
    if "test_acc" in gains:
        parts.append(
            f"test_acc {best['test_acc']:.4f} vs {seed['test_acc']:.4f} "
            f"({gains['test_acc']:+.2f} points)"
        )
    verdict = "beats" if gains.get("test_acc", gains[metric]) > 0 else "does not beat"
    return (
        f"Against the seed preset (trial {seed['trial_id']}, {n_epochs(seed['epochs'])}): the "
        f"best trial {verdict} it: {', '.join(parts)}. How sure: one training seed each, and the "
        "best of many trials is partly the luckiest, so this alone is no measured gain; "
        + (
            "the refit's paired seeds say whether it is beyond the seed-to-seed noise (refit.csv)."
            if "refit" in summary
            else "to know, train both again from paired seeds: "
            f"{command('nas.refit', summary['experiment_dir'])} (or --refit-top 2 on the next "
            "search)."
        )
    )


def epochs_by_the_schedule(trials) -> int:
    """Epochs trained by the trials that ran every epoch or that ASHA stopped (failed and
    unfinished ones left out: their missing epochs are no saving)."""
    from experiment.trials import FINISHED, STOPPED

    ended = trained(trials)
    if ended.empty:  # no trial reported an epoch (all failed, or a stop in the first epoch)
        return 0
    return int(ended.loc[ended["State"].isin([FINISHED, STOPPED]), "epochs"].sum())


def epochs_sentence(summary: dict) -> str:
    """The epochs the trials ASHA ran or stopped trained, against all of their epochs: what
    early stopping saved."""
    done = summary.get("epochs_trained")
    if done is None:  # a summary written before this count existed
        return "Epochs trained: not recorded."
    trials = summary["finished"] + summary["stopped_early"]
    full = trials * summary["max_epochs"]
    if not full or done >= full:
        return (
            f"Epochs trained: {done} by the {trials} trials that ran; early stopping saved none."
        )
    return (
        f"Epochs trained: {done} by the {trials} trials that ran to the end or were stopped "
        f"early; without early stopping, {full} ({n_epochs(summary['max_epochs'])} each): "
        f"{1 - done / full:.0%} fewer."
    )


def warm_start_summary(study, folders: list[str]) -> dict:
    """Where a warm-started search's knowledge came from, and how much of it the study holds."""
    from experiment.journal import REJECTION
    from searchers.warm import WARM_START

    carried = [t for t in study.get_trials(deepcopy=False) if WARM_START in t.user_attrs]
    rejected = sum(REJECTION in t.user_attrs for t in carried)
    return {"from": folders, "trials": len(carried) - rejected, "rejected": rejected}


def print_summary(summary: dict) -> None:
    counts = (
        f"Trials: {summary['trials']} ({summary['finished']} ran every epoch, "
        f"{summary['stopped_early']} stopped early by ASHA, {summary['failed']} failed, "
        f"{summary['unfinished']} unfinished); "
        f"rejected candidates (broke the space's rules, never started): {summary['rejected']}\n"
        f"{epochs_sentence(summary)}\n"
        f"Wall time: {summary['wall_seconds']:.0f} s\n"
        f"Results: {summary['experiment_dir']} (summary.json, rejected.jsonl, trial folders)\n"
        "Reports:\n" + "\n".join(f"  {path}" for path in summary["reports"])
    )
    if warm := summary.get("warm_start"):
        counts += (
            f"\nWarm start: the searcher also knew {warm['trials']} trials and "
            f"{warm['rejected']} rejected candidates of {', '.join(warm['from'])}: knowledge "
            "from elsewhere, not trained here, not in these counts, not refit"
        )
    if summary["interrupted"]:
        counts += f"\nInterrupted before the end; continue with:\n  {summary['resume_command']}"
    best = summary["best"]
    if best is None:
        print(f"\nNo trial reported a finite metric (see error.txt in the trials).\n{counts}")
        return
    config = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["config"].items()
    )
    scores = ", ".join(f"{m} {best[m]:.4f}" for m in ("val_acc", "verify_acc") if m in best)
    test = "n/a (unlabelled)" if math.isnan(best["test_acc"]) else f"{best['test_acc']:.4f}"
    front = "".join(f"\n{line}" for line in summary.get("front", []))  # a Pareto search leads
    print(
        f"{front}\nBest trial {best['trial_id']} (by {best['metric']}): {scores} after "
        f"{n_epochs(best['epochs'])}, test_acc {test}, {best['params']:,} params, "
        f"{best['macs']:,} MACs, receptive field {best['receptive_field']}\n"
        f"  config: {config}\n{seed_sentence(summary)}\n"
        f"{summary['importance']['top']}.\n{counts}"
    )


def next_steps(summary: dict) -> str:
    """What to do once a search has ended: read its report, refit its winners (unless done),
    predict with the model nas.predict chooses."""
    where = summary["experiment_dir"]
    report = next((p for p in summary["reports"] if p.endswith("report.html")), None)
    lines = [f"  open {report}  # the answer first, then what mattered"] if report else []
    if "refit" not in summary:
        lines.append(
            f"  {command('nas.refit', where)}  # the best 3 and the seed preset again over 3 "
            "paired seeds: is the gain beyond the noise?"
        )
    model = "the refit's final model" if "refit" in summary else "the search's pick"
    lines.append(f"  {command('nas.predict', where)}  # predictions of {model} on the test split")
    return "Next:\n" + "\n".join(lines)


def resume_command(config: RunConfig) -> str:
    return command("nas.run", "--storage", config.storage, "--name", config.name, "--resume")
