"""SIGTERM stops a command as Ctrl-C does.

SIGTERM is what ``kill``, ``docker stop``, Slurm and Kubernetes send before SIGKILL. Ray's
``ray.init`` installs a handler that kills Ray's processes and exits 1 (the search then aborted
with exit status 134 and a C++ stack, no reports and no resume command). From ``on_sigterm()``
on, the first SIGTERM is passed on as SIGINT, so Tune's own Ctrl-C path runs: the trials stop,
Tune saves its state, and the command writes the reports of what ran, prints the command that
resumes it and exits 143 (130 after Ctrl-C). A second SIGTERM or Ctrl-C stops at once
(``KeyboardInterrupt``, which the commands catch: the experiment resumes from Tune's last
snapshot).
"""

from __future__ import annotations

import signal

received: list[int] = []  # the SIGTERMs this process has had


def on_sigterm() -> None:
    """Handle SIGTERM from now on (call after ``ray.init``, which installs its own)."""
    signal.signal(signal.SIGTERM, _sigterm)


def _sigterm(signum, frame) -> None:
    received.append(signum)
    if len(received) > 1 or signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        raise KeyboardInterrupt  # a second stop (Tune restores Python's own SIGINT handler)
    signal.raise_signal(signal.SIGINT)  # Tune's stop, as after Ctrl-C


def exit_status() -> int:
    """The exit status of a command stopped before its end: 143 after SIGTERM, else 130."""
    return 128 + signal.SIGTERM if received else 130
