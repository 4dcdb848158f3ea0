"""``experiment.journal.mend``: a damaged study journal opens again, with nothing else lost."""

from __future__ import annotations

import optuna

from experiment.journal import journal_storage, mend


def a_study(folder) -> list[optuna.trial.FrozenTrial]:
    """Three trials, each with a parameter, two epochs' values and an end."""
    study = optuna.create_study(
        study_name="s", storage=journal_storage(str(folder / "study.journal"))
    )
    for number in range(3):
        trial = study.ask()
        trial.suggest_float("lr", 1e-3, 1.0, log=True)
        trial.report(0.1 * number, 1)
        trial.report(0.2 * number, 2)
        study.tell(trial, 0.3 * number)
    return study.trials


def reopened(folder) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(
        study_name="s", storage=journal_storage(str(folder / "study.journal"))
    ).trials


def test_a_garbage_line_is_left_out_and_every_later_line_keeps_its_trial(tmp_path):
    before = a_study(tmp_path)
    journal = tmp_path / "study.journal"
    lines = journal.read_bytes().split(b"\n")
    creates = [i for i, line in enumerate(lines) if line.startswith(b'{"op_code":4,')]
    lines[creates[1]] = b"\x00\x00 a bad sector"  # trial 1's creation is lost
    damaged = b"\n".join(lines)
    journal.write_bytes(damaged)

    said = mend(str(tmp_path))

    assert said == (
        f"{journal}: left out line {creates[1] + 1} (not an operation); the damaged file is kept "
        "as study.journal.damaged."
    )
    assert (tmp_path / "study.journal.damaged").read_bytes() == damaged
    after = reopened(tmp_path)
    assert [t.number for t in after] == [0, 1, 2]
    for old, new in zip(before, after, strict=True):  # every trial's params, values and end
        assert (new.params, new.intermediate_values, new.value, new.state) == (
            old.params,
            old.intermediate_values,
            old.value,
            old.state,
        )
    assert mend(str(tmp_path)) is None  # whole now: nothing to do


def test_a_last_line_a_kill_cut_short_is_left_out(tmp_path):
    before = a_study(tmp_path)
    journal = tmp_path / "study.journal"
    with open(journal, "ab") as f:
        f.write(b'{"op_code":7,"worker_id":"w","trial_id":2,"st')

    assert mend(str(tmp_path)) == (
        f"{journal}: left out the last line (cut short by a kill); the damaged file is kept as "
        "study.journal.damaged."
    )
    assert [(t.params, t.value) for t in reopened(tmp_path)] == [
        (t.params, t.value) for t in before
    ]


def test_a_whole_journal_or_none_is_left_alone(tmp_path):
    assert mend(str(tmp_path)) is None
    a_study(tmp_path)
    whole = (tmp_path / "study.journal").read_bytes()
    assert mend(str(tmp_path)) is None
    assert (tmp_path / "study.journal").read_bytes() == whole
    assert not (tmp_path / "study.journal.damaged").exists()
