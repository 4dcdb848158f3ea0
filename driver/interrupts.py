"""SIGTERM stops a command as Ctrl-C does.

SIGTERM is what ``kill``, ``docker stop``, Slurm and Kubernetes send before SIGKILL. Ray's
``ray.init`` installs a handler that kills Ray's processes and exits 1 (the search then aborted
with exit status 134 and a C++ stack, no reports and no resume command). From ``on_sigterm()``
on, the first SIGTERM is passed on as SIGINT, so Tune's own Ctrl-C path runs: the trials stop,
Tune saves its state, and the command writes the reports of what ran, prints the command that
resumes it and exits 143 (130 after Ctrl-C). A second SIGTERM or Ctrl-C stops at once
(``KeyboardInterrupt``, which the commands catch: the experiment resumes from Tune's last
snapshot).

A SIGTERM to the whole process group (Slurm signals every process of a job; ``kill -- -PID``)
stops the local Ray instance's own processes too (its log monitor at once, its GCS server and
raylet after a while), and Tune's stop then waited 60 s for a GCS that was gone and ended in exit
status 1. So a first SIGTERM first watches the local instance's processes for a moment: where one
of them ends, the command stops at once, as after a kill (the experiment resumes from Tune's last
snapshot), with the sentence that resumes it and exit status 143. (A watching thread would not
do: the Ray calls of Tune's stop can hold the interpreter for that minute.)

Python runs a signal's handler in the main thread, between two bytecodes: a main thread inside a
call into Ray's C++ runs it late, and Ray's raylet, stopped by the same SIGTERM, can go first:
Ray then ends the driver itself ("The connection to the plasma store is failed. Terminate the
process.", exit status 1, no sentence; seen on a loaded machine). So the signal's number also
goes to a pipe at once (``signal.set_wakeup_fd``), and a thread waiting on it makes that check
without waiting for the main thread (it needs the interpreter too: behind a Ray call that holds
it, the check waits as before).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

received: list[int] = []  # the SIGTERMs this process has had
stopping: list[tuple[str, str | None]] = [("nas", None)]  # the command, and what resumes it


decided: list[bool] = []  # whether the first SIGTERM stopped Ray's own processes too
deciding = threading.Lock()
wakeup: list[int] = []  # the pipe the signals' numbers go to, once a thread waits on it


def on_sigterm() -> None:
    """Handle SIGTERM from now on (call from the main thread, after ``ray.init``, which installs
    its own)."""
    signal.signal(signal.SIGTERM, _sigterm)
    if not wakeup:
        read, write = os.pipe()
        os.set_blocking(write, False)
        threading.Thread(target=_on_wakeup, args=(read,), name="sigterm", daemon=True).start()
        wakeup.append(write)
    signal.set_wakeup_fd(wakeup[0], warn_on_full_buffer=False)


def resumes_with(command: str, resume_command: str | None) -> None:
    """Name the running command and the command line that continues it (None: none yet)."""
    stopping[:] = [(command, resume_command)]


def stopped_at_once(why: str = "") -> str:
    """The sentence of a command stopped at once, with how to continue it."""
    command, resume_command = stopping[0]
    then = f"; continue with `{resume_command}`" if resume_command else ""
    return f"{command}: stopped at once{why}{then}."


def _on_wakeup(read: int) -> None:
    """The numbers of the signals this process gets, at once: the first SIGTERM's check."""
    while numbers := os.read(read, 64):
        if signal.SIGTERM in numbers:
            stop_if_ray_went()


def stop_if_ray_went() -> None:
    """Exit 143 at once, with the sentence that resumes, where the first SIGTERM stopped Ray's
    own processes too; decided once, by the wakeup thread or the handler, whichever comes first."""
    from searchers.ray_compat import local_ray_processes  # Ray is started: on_sigterm() is after

    with deciding:
        if not decided:
            decided.append(stopped_by_sigterm(local_ray_processes()))
            if decided[0]:
                sys.stdout.flush()  # what the command printed comes first
                said = stopped_at_once(" (the SIGTERM reached Ray's own processes too)")
                print(said, file=sys.stderr, flush=True)
                os._exit(128 + signal.SIGTERM)  # as a kill: Tune's stop would wait on a GCS gone


def _sigterm(signum, frame) -> None:
    received.append(signum)
    if len(received) == 1:
        stop_if_ray_went()
    if len(received) > 1 or signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        raise KeyboardInterrupt  # a second stop (Tune restores Python's own SIGINT handler)
    signal.raise_signal(signal.SIGINT)  # Tune's stop, as after Ctrl-C


def stopped_by_sigterm(processes: list, within_s: float = 2.0, every_s: float = 0.005) -> bool:
    """Whether one of ``processes`` (``Popen``) has ended by a SIGTERM, or does within
    ``within_s`` (killed by it, or exited with its number as Ray's Python processes do)."""
    deadline = time.monotonic() + within_s
    while not any(process.poll() in (-signal.SIGTERM, signal.SIGTERM) for process in processes):
        if not processes or time.monotonic() > deadline:
            return False
        time.sleep(every_s)
    return True


def exit_status() -> int:
    """The exit status of a command stopped before its end: 143 after SIGTERM, else 130."""
    return 128 + signal.SIGTERM if received else 130
