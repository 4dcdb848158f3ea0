"""``summary.json``: read, changed and written here alone. The search writes its part, the
refit its ``refit`` entry beside it; each keeps what the other wrote."""

from __future__ import annotations

import json

from experiment import storage
from experiment.layout import SUMMARY


def read_summary(experiment: str, set_aside: bool = True) -> dict:
    """The experiment's summary.json as last written ({} before the first). One that cannot be
    read (a disk, a kill of another tool, a hand edit) must not end a finished run in a
    traceback: it is moved to summary.json.damaged, with a line saying so, and written anew
    (``set_aside`` False: only read, {} for it)."""
    path = storage.join(experiment, SUMMARY)
    if not storage.exists(path):
        return {}
    try:
        found = json.loads(storage.read_text(path))
        problem = None if isinstance(found, dict) else "not a JSON object"
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        problem = str(e)
    if problem is None:
        return found
    if not set_aside:
        return {}
    storage.move(path, f"{path}.damaged")
    print(
        f"{path} could not be read ({problem}): moved to {SUMMARY}.damaged; a new one is "
        "written from the results.",
        flush=True,
    )
    return {}


def write_summary(experiment: str, summary: dict) -> None:
    storage.write_text(storage.join(experiment, SUMMARY), json.dumps(summary, indent=1))
