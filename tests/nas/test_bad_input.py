"""The catalogue of user mistakes: each ends in one sentence, a non-zero exit, no traceback, and
nothing written outside its experiment folder (the commands run in-process, so a traceback would
fail the test)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from nas.predict import main as predict
from nas.refit import main as refit
from nas.run import main as run
from nas.summary import main as summary
from reports.export import main as export
from trainables.data import cifar10
from trainables.data.synthetic import write_synthetic_cifar10

COMMANDS = {
    "nas.run": run,
    "nas.summary": summary,
    "nas.predict": predict,
    "nas.refit": refit,
    "reports.export": export,
}
ONE_FOLDER = (
    "--name must be one folder name inside --storage, without '/', '\\', a leading dot or "
    "control characters (got {!r}): for example 'cifar-search-1'."
)
UNREACHABLE = (
    "storage nosuch://bucket/x cannot be reached (Unrecognized filesystem type in URI: "
    "nosuch://bucket/x): check the URI, the network and the credentials."
)

# (command, arguments, exit status, the sentence after "<command>: error: "); in the arguments
# {data} is a small synthetic CIFAR-10 set, {store} the --storage folder, {file} a plain file,
# {old} an experiment there whose run.json was cut short, {bare} a folder with no run.json.
CATALOGUE = [
    ("nas.run", "", 2, "--space is required; known spaces: cifar_lt200k, hw2p2_resnet."),
    (
        "nas.run",
        "--space cifar_lt500k",
        2,
        "unknown space 'cifar_lt500k'; known spaces: cifar_lt200k, hw2p2_resnet.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --num-samples 0",
        2,
        "--num-samples must be at least 1 (got 0).",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --max-epochs 3 --grace-period 4",
        2,
        "--max-epochs must be >= --grace-period (got 3 < 4).",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --metric verify_acc",
        2,
        "--metric must be one of val_acc for space cifar_lt200k (got verify_acc).",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --input-size 64",
        2,
        "--input-size does not apply to space cifar_lt200k: its input size is fixed.",
    ),
    ("nas.run", "--space cifar_lt200k --name ../../x", 2, ONE_FOLDER.format("../../x")),
    ("nas.run", "--space cifar_lt200k --name a/b", 2, ONE_FOLDER.format("a/b")),
    (
        "nas.run",
        f"--space cifar_lt200k --name {'x' * 300}",
        2,
        "--name is 300 bytes; a folder name holds 255 at most: shorten it.",
    ),
    ("nas.run", "--resume", 2, "--resume needs the --name of the experiment to continue."),
    (
        "nas.run",
        "--name gone --resume --storage {store}",
        2,
        "there is no experiment 'gone' in {store} to resume.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {data} --storage {file}/x",
        2,
        "storage {file}/x is not writable ",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {data} --storage {store} --name old",
        2,
        "experiment 'old' already exists in {store}: add --resume to continue it, or choose "
        "another --name.",
    ),
    ("nas.run", "--name old --resume --storage {store}", 2, "{old}/run.json is not valid JSON ("),
    (
        "nas.run",
        "--name bare --resume --storage {store}",
        2,
        "experiment 'bare' in {store} was stopped before its start was recorded (it has no "
        "run.json): start it again without --resume.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {store}/nowhere --storage {store}",
        1,
        "CIFAR-10 not found in {store}/nowhere/cifar-10-batches-py ",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {data} --storage {store} --address 127.0.0.1:1",
        2,
        "no Ray cluster answers at --address 127.0.0.1:1 (Connection refused): ",
    ),
    (
        "nas.summary",
        "--space cifar_lt500k",
        2,
        "unknown space 'cifar_lt500k'; known spaces: cifar_lt200k, hw2p2_resnet.",
    ),
    (
        "nas.summary",
        "--space cifar_lt200k --preset big",
        2,
        "space cifar_lt200k has no preset 'big'; known presets: seed.",
    ),
    ("nas.predict", "{store}/missing", 2, "no experiment folder at {store}/missing."),
    ("nas.predict", "{old}", 1, "{old}/run.json is not valid JSON ("),
    (
        "nas.predict",
        "{optionless}",
        1,
        "{optionless}/run.json does not say which data the search used: give --data-dir.",
    ),
    (
        "nas.predict",
        "{bare}",
        1,
        "{bare} has no run.json naming a known space: cannot tell its task.",
    ),
    ("reports.export", "{store}/missing", 2, "no experiment folder at {store}/missing."),
    ("reports.export", "{old}", 1, "{old}/run.json is not valid JSON ("),
    (
        "reports.export",
        "{store}",
        2,
        "{store} is not an experiment folder (no run.json, no Tune snapshot, no trial_* folder): "
        "give the folder of one experiment, such as {store}/NAME for an experiment NAME stored "
        "there.",
    ),
    (
        "reports.export",
        "{old} --out {file}",
        2,
        "{file} is a file: give a folder for the reports (made if missing).",
    ),
    (
        "reports.export",
        "{old} --out {link}",
        2,
        "{link} is a symbolic link (to {outside}): the reports are written only into real "
        "files; remove the link, or give another --out.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {hostile} --storage {store}",
        1,
        "{hostile}/cifar-10-batches-py/data_batch_1 is not a readable CIFAR-10 batch file (it "
        "asks to run posix.system, which a CIFAR-10 batch file never holds; nothing in it was "
        "run): replace it with the file from the official archive.",
    ),
    (
        "nas.refit",
        "/",
        2,
        "/ is not an experiment folder (it has no run.json with the search's options): give the "
        "folder nas.run wrote, EXPERIMENT_DIR = --storage/--name.",
    ),
    ("nas.refit", "nosuch://bucket/x", 2, UNREACHABLE),
    ("reports.export", "nosuch://bucket/x", 2, UNREACHABLE),
    ("nas.run", "--space cifar_lt200k --seed -1", 2, "--seed must be between 0 and 2147483647"),
    (
        "nas.run",
        "--space cifar_lt200k --cpus-per-trial nan",
        2,
        "--cpus-per-trial must be a number of CPUs of at least 0.01 (got nan): ",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --cpus-per-trial 1e-9",
        2,
        "--cpus-per-trial must be a number of CPUs of at least 0.01 (got 1e-09): ",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --gpus-per-trial nan",
        2,
        "--gpus-per-trial must be 0 or a number of GPUs of at least 0.01 (got nan): ",
    ),
    (
        "nas.run",
        "--space hw2p2_resnet --input-size 32",
        2,
        "--input-size must be one of 64, 96, 112, 128, 160, 224 for space hw2p2_resnet (got 32).",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --objectives val_acc,weight",
        2,
        "--objectives: unknown objective 'weight'; the metric is one of val_acc and the sizes "
        "are params and macs (for example --objectives val_acc,params).",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --objectives val_acc,params,params",
        2,
        "--objectives names params twice (for example --objectives val_acc,params).",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --objectives params",
        2,
        "--objectives must name one metric first, then params and/or macs (got params): for "
        "example --objectives val_acc,params.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --objectives val_acc,params --searcher evolution",
        2,
        "--searcher evolution searches one objective: with --objectives choose tpe, random, "
        "nsga2.",
    ),
    (
        "nas.run",
        "--space hw2p2_resnet --objectives val_acc,macs --metric verify_acc",
        2,
        "--objectives starts with val_acc but --metric is verify_acc: name one metric.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --refit-front 3",
        2,
        "--refit-front refits a Pareto search's front; this search has one objective (val_acc): "
        "add --objectives val_acc,params, or refit its best with --refit-top.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --objectives val_acc,params --refit-front 0",
        2,
        "--refit-front must be at least 1 (got 0).",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --objectives val_acc,params --refit-front 2 --refit-top 2",
        2,
        "--refit-top and --refit-front choose the refit's networks two ways: give one.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --warm-start-top 2",
        2,
        "--warm-start-top trains an earlier experiment's best configurations first: give that "
        "experiment with --warm-start DIR.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {data} --storage {store} --warm-start {store}/gone",
        2,
        "--warm-start {store}/gone: there is no such folder; give the folder of an earlier "
        "nas.run experiment of that space.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {data} --storage {store} --warm-start {bare}",
        2,
        "--warm-start {bare} is not an experiment (no run.json); give the folder of an earlier "
        "nas.run experiment of that space.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {data} --storage {store} --warm-start {face}",
        2,
        "--warm-start {face} searched space hw2p2_resnet, not cifar_lt200k: warm-start only "
        "from searches of the same space.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {data} --storage {store} --warm-start {damaged}",
        2,
        "--warm-start {damaged}: its study.journal is damaged (Optuna cannot read it as one "
        "study); restore it from a copy, or leave that experiment out.",
    ),
    (
        "nas.run",
        "--name planned --resume --storage {store} --num-samples 8",
        2,
        "experiment 'planned' was planned with --num-samples 16: a resume may grow a search, "
        "not shrink it (got 8); resume without --num-samples, or with more than 16 to add "
        "trials.",
    ),
    (
        "nas.run",
        "--name planned --resume --storage {store} --max-epochs 20",
        2,
        "experiment 'planned' trains each trial for up to 10 epochs, and a resume cannot change "
        "that (got --max-epochs 20; growing it is not built: its finished trials would have to "
        "go on from their last checkpoints): resume without --max-epochs, or start a new --name "
        "with --warm-start to begin from what this search learnt.",
    ),
    (
        "nas.run",
        "--name planned --resume --storage {store} --num-samples 24 --seed 3",
        2,
        "experiment 'planned' was started with other settings: --seed (was 0, now 3); resume "
        "without them (of these, only a larger --num-samples may be given: it grows the search) "
        "or start a new --name.",
    ),
    (
        "nas.run",
        "--name lots --resume --storage {store}",
        2,
        "experiment 'lots' has options in its run.json that cannot be used ('<' not supported "
        "between instances of 'str' and 'int'): restore run.json, or start a new --name.",
    ),
    (
        "nas.run",
        "--space cifar_lt200k --data-dir {badmeta} --storage {store}",
        1,
        "{badmeta}/cifar-10-batches-py/batches.meta is not a CIFAR-10 batches.meta file: it has "
        "no list of 'label_names'; replace it with the file from the official archive, or "
        "delete it (the ten CIFAR-10 classes are then assumed).",
    ),
    (
        "reports.export",
        "{file}",
        2,
        "{file} is a file, not an experiment folder: give the folder of one experiment.",
    ),
    (
        "nas.predict",
        "{bare} --out {file}",
        2,
        "--out {file} is a file; give a folder for the CSV files.",
    ),
]


class Payload:
    """An object a crafted batch file rebuilds by running a command (that creates ``marker``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def hostile_cifar(folder: Path, marker: Path) -> Path:
    """CIFAR-10 whose first training batch file runs a command when unpickled naively."""
    batches = write_synthetic_cifar10(folder, n_train=16, n_test=8) / "cifar-10-batches-py"
    batch = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "filenames": [Payload(marker)]}
    (batches / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("command", "arguments", "status", "sentence"),
    CATALOGUE,
    ids=[f"{c} {a.split(' --storage')[0]}".strip() for c, a, _, _ in CATALOGUE],
)
def test_each_mistake_is_one_sentence(
    command, arguments, status, sentence, synthetic_cifar, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # where a default ./experiments or ./data would land
    monkeypatch.setattr(cifar10, "URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")  # offline
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    store, old, bare = tmp_path / "store", tmp_path / "store" / "old", tmp_path / "store" / "bare"
    old.mkdir(parents=True), bare.mkdir()
    (old / "run.json").write_text(json.dumps({"space": "cifar_lt200k"})[:12])
    (tmp_path / "file").write_text("")
    names = {"data": synthetic_cifar, "store": store, "file": tmp_path / "file"}
    names |= {"old": old, "bare": bare, "link": tmp_path / "link", "outside": tmp_path / "outside"}
    (tmp_path / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    names["optionless"] = store / "optionless"
    names["optionless"].mkdir()
    (names["optionless"] / "run.json").write_text(json.dumps({"space": "cifar_lt200k"}))
    for name, space in (("face", "hw2p2_resnet"), ("damaged", "cifar_lt200k")):
        names[name] = store / name
        names[name].mkdir()
        (names[name] / "run.json").write_text(json.dumps({"options": {"space": space}}))
    (names["damaged"] / "study.journal").write_text('{"op_code": 0, "study_na')  # cut short
    planned = {"space": "cifar_lt200k", "num_samples": 16, "max_epochs": 10, "seed": 0}
    (store / "planned").mkdir()
    (store / "planned" / "run.json").write_text(json.dumps({"options": planned}))
    (store / "lots").mkdir()
    options = {"space": "cifar_lt200k", "num_samples": "lots"}  # a hand edit
    (store / "lots" / "run.json").write_text(json.dumps({"options": options}))
    if "{badmeta}" in arguments:
        names["badmeta"] = write_synthetic_cifar10(tmp_path / "badmeta", n_train=16, n_test=8)
        (names["badmeta"] / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({}))
    if "{hostile}" in arguments:
        names["hostile"] = hostile_cifar(tmp_path / "hostile", marker=tmp_path / "ran")
    before = files_under(tmp_path)

    argv = [a.format(**names) for a in arguments.split()]
    assert COMMANDS[command](argv) == status
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{command}: error: {sentence.format(**names)}"), lines[0]
    assert lines[0].endswith("."), lines[0]
    written = files_under(tmp_path) - before
    experiment = store / "old"  # the only folder a refused command may touch (reports.export)
    assert all(experiment in p.parents for p in written), sorted(written)
    assert not any(p.name.startswith(".nas-preflight") for p in files_under(tmp_path))
    assert os.getcwd() == str(tmp_path)
    assert not (tmp_path / "ran").exists()  # nothing in a data file ran


def test_a_home_ray_cannot_write_to_is_one_sentence(
    synthetic_cifar, tmp_path, monkeypatch, capsys
):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("HOME", str(tmp_path / "file" / "home"))  # even root cannot create it
    args = ["--space", "cifar_lt200k", "--data-dir", str(synthetic_cifar)]
    assert run([*args, "--storage", str(tmp_path / "store"), "--name", "h"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"nas.run: error: Ray keeps its files in {tmp_path}/file/home/.ray, which cannot be "
        "created (Not a directory): set HOME to a writable folder.\n"
    )
    assert not (tmp_path / "store" / "h" / "run.json").exists()


def test_a_tmpdir_ray_cannot_write_to_is_one_sentence(
    synthetic_cifar, tmp_path, monkeypatch, capsys
):
    (tmp_path / "file").write_text("")
    monkeypatch.delenv("RAY_TMPDIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "file"))  # a file: even root cannot write there
    args = ["--space", "cifar_lt200k", "--data-dir", str(synthetic_cifar)]
    assert run([*args, "--storage", str(tmp_path / "store"), "--name", "t"]) == 2
    assert capsys.readouterr().err == (
        f"nas.run: error: Ray keeps its files in {tmp_path}/file/ray, which cannot be created "
        "(Not a directory): set TMPDIR (or RAY_TMPDIR) to a writable folder.\n"
    )
    assert not (tmp_path / "store" / "t" / "run.json").exists()


def test_a_run_refused_for_its_data_leaves_no_storage_folder_behind(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cifar10, "URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")  # offline
    storage = tmp_path / "new" / "store"
    argv = ["--space", "cifar_lt200k", "--data-dir", str(tmp_path / "nowhere")]
    assert run([*argv, "--storage", str(storage)]) == 1
    assert "CIFAR-10 not found" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # the writability probe's folders went with it
