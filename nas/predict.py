"""``python -m nas.predict EXPERIMENT_DIR [--data-dir DIR] [--out DIR]``: submission CSVs.

Loads the latest checkpoint of the search's pick as the refit trained it again (``nas.refit``),
or where there is none of the search's best trial (the state dict with ``weights_only=True``),
and writes ``id,label`` CSV files: for HW2P2, ``classification_submission.csv`` (every image of
``classification/test``, labelled with an identity) and ``verification_submission.csv`` (every
image of ``verification/unknown_test``, labelled with the most similar known identity; in a
pair layout, each line of ``test_pairs.txt`` by number with its cosine similarity); for
CIFAR-10, ``test_predictions.csv`` with the test accuracy. Works on CPU and GPU.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from experiment import storage
from experiment.record import RecordError, read_record
from experiment.results import load_experiment
from nas.refit_table import pick_reason
from reports.ranking import best_trial, n_epochs, ranking
from reports.refit import final_model, refit_tables
from search_spaces import SPACES
from trainables.checkpoints import UNREADABLE, read_meta, spec_in
from trainables.data import DataError
from trainables.data.augment import ChannelStats
from trainables.data.images import Images
from trainables.device import Device, choose_device
from trainables.models import create_model
from trainables.tasks import get_task
from trainables.verification import NO_ONE, identify


class Model:
    """A trained network for inference: batched, channels_last, the device's autocast dtype."""

    def __init__(self, checkpoint: Path, device: Device):
        self.checkpoint, self.meta = checkpoint, read_meta(checkpoint)  # trial.json
        self.spec = spec_in(self.meta)
        self.device = device
        self.net = create_model(self.spec)
        state = torch.load(checkpoint / "model.pt", map_location="cpu", weights_only=True)
        self.net.load_state_dict(state)
        self.net.to(device.torch_device, memory_format=torch.channels_last).eval()

    @torch.no_grad()
    def _run(self, images: Images, fn, batch_size: int = 256) -> torch.Tensor:
        out = []
        for xb in images.batches(self.device.torch_device, batch_size):
            with self.device.autocast():
                out.append(fn(xb).float())
        return torch.cat(out)

    def classify(self, images: Images) -> torch.Tensor:
        return self._run(images, self.net).argmax(1).cpu()

    def embed(self, images: Images) -> torch.Tensor:
        return self._run(images, lambda xb: self.net.forward_features(xb).flatten(1))


def chosen_model(experiment: str, device: Device) -> tuple[str, Model, list[str]]:
    """Which model predicts and why (one line), the model of its newest checkpoint that loads
    (local experiments), and a line per newer checkpoint folder skipped because it does not load.

    The search's pick trained again by the refit (``reports.refit.final_model``: the
    configuration the search ranked first, or after a front's refit the pick ``pick_front``
    fixed, its first refit seed), where the refit trained it for at least the epochs the search
    did: the same network on more data, no shorter. Else that trial of the search itself.
    Neither choice looks at a test score. A kill during a
    checkpoint write can leave the newest folder half written: it is skipped, never used, and
    the one before it (which Tune keeps until the new one is whole) is.
    """
    results = load_experiment(experiment)
    best = best_trial(results)
    if best is None:
        raise DataError(
            f"no trial of {experiment} reported a metric yet: nothing to predict with."
        )
    refit = refit_tables(results.refit) if results.refit else None
    final = None if refit is None else final_model(refit)
    if refit is not None and refit.pick is not None:  # a front's refit: its pick's own trial
        trial = refit.configurations.set_index("configuration")["search_trial"].get(refit.pick)
        ranked = ranking(results)
        best = next((row for _, row in ranked.iterrows() if row["Name"] == trial), best)
    if final is not None and refit.epochs >= int(best["epochs"]):
        folder = Path(results.refit.location, final["Name"])
        which = (
            f"refit model {final['Name']}: the search's pick ({final['configuration']}) trained "
            f"again for {n_epochs(refit.epochs)} on more data, seed {int(final['seed'])} (the "
            f"first of the refit's seeds), chosen before any score; its {refit.score} "
            f"{float(final[refit.score]):.4f}"
        )
        if refit.pick is not None:  # a front's refit
            rows = refit.configurations.to_dict("records")
            why = pick_reason(refit.pick, refit.pick_why, rows)
            which = f"refit model {final['Name']} (seed {int(final['seed'])}), {why}"
    else:
        front = refit is not None and refit.pick is not None
        what = "the front's pick, its search trial" if front else "best trial"
        folder, which = Path(experiment, best["Name"]), f"{what} {best['Name']}"
        if refit is None:
            which += (
                " (no refit yet: the search's pick, ranked first on validation; nas.refit "
                "trains it again over seeds)"
            )
        if final is not None:
            which += (
                f" (the refit trained its models {n_epochs(refit.epochs)}, fewer than this "
                f"trial's {int(best['epochs'])}: not used)"
            )
    checkpoints = sorted(folder.glob("checkpoint_*"), reverse=True)
    skipped = []
    for checkpoint in checkpoints:
        try:
            return which, Model(checkpoint, device), skipped
        except UNREADABLE as e:
            skipped.append(
                f"skipped {checkpoint.name} of trial {folder.name}: it does not load "
                f"({type(e).__name__}), a write cut short"
            )
    what = "no checkpoint" if not checkpoints else "no checkpoint that loads"
    raise DataError(f"{folder.name} of {experiment} has {what}.")


def write_csv(path: Path, ids: list[str], labels: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label"])
        writer.writerows(zip(ids, labels, strict=True))


def predict(experiment: str, data_dir: str | None, out: Path) -> list[str]:
    """Write the submission files; returns one line per file saying what it holds."""
    record = read_record(experiment)
    space = SPACES.get(record.get("space", ""))
    if space is None:
        raise DataError(
            f"{experiment} has no run.json naming a known space: cannot tell its task."
        )
    data_dir = data_dir or record.get("options", {}).get("data_dir")
    if data_dir is None:
        raise DataError(
            f"{experiment}/run.json does not say which data the search used: give --data-dir."
        )
    which, model, skipped = chosen_model(experiment, choose_device())
    checkpoint, meta = model.checkpoint, model.meta
    if missing := [key for key in ("stats", "epoch") if key not in meta]:
        raise DataError(
            f"{checkpoint}/trial.json has no {' or '.join(missing)}: the checkpoint cannot "
            "predict; restore the file."
        )
    stats = ChannelStats.from_dict(meta["stats"])
    classes = meta.get("classes")
    size = model.spec.image_size
    lines = [*skipped, f"{which}, checkpoint {checkpoint.name} (epoch {meta['epoch']})"]
    task = get_task(space.task)
    x, y, ids = task.load_test(data_dir, stats, size)
    out.mkdir(parents=True, exist_ok=True)
    predicted = model.classify(x)
    labels = [classes[i] if classes else str(i) for i in predicted.tolist()]
    if task.has_test_labels:
        path = out / "test_predictions.csv"
        write_csv(path, ids, labels)
        accuracy = (predicted == y).float().mean().item()
        lines.append(f"{path}: {len(ids)} test images, test accuracy {accuracy:.4f}")
        return lines
    path = out / "classification_submission.csv"
    write_csv(path, ids, labels)
    lines.append(f"{path}: {len(ids)} images of classification/test")
    if not task.verifies:
        return lines
    pairs = task.load_verification_pairs(data_dir, stats, size)
    if pairs is not None:  # a pair layout: each pair's similarity, as the ROC AUC scores it
        similarity = pairs.similarities(model.embed).tolist()
        path = out / "verification_submission.csv"
        write_csv(path, [str(i) for i in range(len(similarity))], [f"{v:.6f}" for v in similarity])
        lines.append(f"{path}: cosine similarity of each of {len(similarity)} test pairs")
        return lines
    known_x, known_labels, unknown_x, unknown_ids = task.load_verification_test(
        data_dir, stats, size
    )
    # Open-set layouts: the threshold the trial chose on unknown_dev at this checkpoint's epoch.
    threshold = meta.get("metrics", {}).get("verify_threshold")
    matched = identify(model.embed(unknown_x), model.embed(known_x), known_labels, threshold)
    path = out / "verification_submission.csv"
    write_csv(path, unknown_ids, matched)
    no_one = "" if threshold is None else f", {matched.count(NO_ONE)} of no one known"
    lines.append(f"{path}: {len(unknown_ids)} images of verification/unknown_test{no_one}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.predict", description=__doc__.splitlines()[0])
    p.add_argument("experiment_dir", help="the experiment folder")
    p.add_argument("--data-dir", help="the data set (default: the one the search used)")
    p.add_argument(
        "--out", help="where to write the CSV files (default: EXPERIMENT_DIR/predictions)"
    )
    args = p.parse_args(argv)
    experiment = storage.resolve(args.experiment_dir)
    if not Path(experiment).is_dir():
        print(f"nas.predict: error: no experiment folder at {experiment}.", file=sys.stderr)
        return 2
    out = Path(args.out or Path(experiment) / "predictions")
    if out.exists() and not out.is_dir():  # before the model is loaded and the data read
        print(
            f"nas.predict: error: --out {out} is a file; give a folder for the CSV files.",
            file=sys.stderr,
        )
        return 2
    try:
        for line in predict(experiment, args.data_dir, out):
            print(line)
    except RecordError as e:  # the space and data folder are in it
        print(f"nas.predict: error: {e}: restore it to predict.", file=sys.stderr)
        return 1
    except DataError as e:
        print(f"nas.predict: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if (sentence := storage.cannot_write(e, str(out))) is None:
            raise
        print(f"nas.predict: error: {sentence}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
