"""How a command ends on a user's mistake: one sentence on stderr and an exit status, never a
traceback (2: the command line or the experiment folder; 1: the data)."""

from __future__ import annotations

import os
import shlex
import sys

from driver.config import UsageError
from driver.resume import ResumeRefused
from experiment import storage
from experiment.lock import ExperimentBusy
from experiment.record import RecordError
from experiment.results import NowhereToWrite
from experiment.storage import Unreachable
from trainables.data import DataError

MISTAKES = (
    UsageError,
    ResumeRefused,
    ExperimentBusy,
    RecordError,
    DataError,
    NowhereToWrite,
    Unreachable,
)


def command(*args: str, cwd: str | None = None) -> str:
    """The command line ``python -m ARGS`` with the interpreter running this one, as a user types
    it again: relative to the current folder (``cwd``) where it lies inside it
    (``.venv/bin/python``), else its full path."""
    here = os.path.relpath(sys.executable, cwd)
    python = sys.executable if here.startswith("..") else here if "/" in here else f"./{here}"
    return shlex.join([python, "-m", *args])


def said(prog: str, error: Exception, record_fix: str) -> int:
    """Print ``error`` (one of ``MISTAKES``) as ``prog``'s one sentence; return the exit status.
    ``record_fix``: what to do about an unreadable run record."""
    sentence = str(error).rstrip(".")
    fix = f": {record_fix}" if isinstance(error, RecordError) else ""
    print(f"{prog}: error: {sentence}{fix}.", file=sys.stderr)
    return 1 if isinstance(error, DataError) else 2


def check_experiment_writable(folder: str, command: str) -> None:
    """Raise UsageError unless experiment ``folder`` can be written, before ``command`` (what
    would write there) starts anything."""
    try:
        storage.check_writable(folder)
    except OSError as e:
        reason = e.strerror or e
        raise UsageError(
            f"cannot write experiment folder {folder} ({reason}): make it writable to {command}"
        ) from None
