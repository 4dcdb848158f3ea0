"""One driver per experiment: ``driver.json`` in the experiment folder, kept fresh by a heartbeat.

A driver writes its host, pid and start time there and rewrites the heartbeat every
``HEARTBEAT_S``; a second ``nas.run`` on the same experiment (this machine or another one sharing
the storage) reads it and refuses while that driver lives: on the same host, while its process
exists and either its heartbeat is younger than ``STALE_S`` or its command line is one of the
project's commands (a pid the system has since given to another program does not hold the
experiment); from another host, while its heartbeat is younger than ``STALE_S``. A driver that
died leaves a file the next one takes over, saying so (at once on its host: a resume right
after a kill).
Object stores cannot create a file only if it is absent, so two drivers starting in the same
second are told apart by reading the file back after writing it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from datetime import datetime

from experiment import storage
from experiment.layout import DRIVER

HEARTBEAT_S = 10.0
STALE_S = 60.0  # six missed heartbeats: the driver is gone


class ExperimentBusy(Exception):
    """Another live driver runs the experiment; the message names it."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return pid > 0


def runs_a_command(pid: int) -> bool | None:
    """Whether process ``pid`` runs one of the project's commands (``python -m nas.run`` and
    the like); None where its command line cannot be read (not Linux, another user's)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = f.read().split(b"\0")
    except OSError:
        return None
    if words == [b""]:  # a process still starting, or a zombie: nothing to judge by
        return None
    return any(word.startswith(b"nas.") or b"/nas/" in word for word in words)


class DriverLock:
    def __init__(self, experiment: str, name: str):
        self.path = storage.join(experiment, DRIVER)
        self.name = name
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def check(self, other: dict | None = None) -> None:
        """Raise ExperimentBusy if a live driver other than this one has the experiment
        (``other``: driver.json as just read; read here if not given)."""
        other = self._read() if other is None else other
        if other is not None and not self._mine(other) and self._alive(other):
            raise ExperimentBusy(self._busy(other))

    def acquire(self) -> None:
        """Take the experiment, or raise ExperimentBusy naming the live driver that has it."""
        other = self._read()
        self.check(other)
        if other is not None and not self._mine(other):
            print(
                f"Taking over experiment {self.name!r} from a driver that is gone (pid "
                f"{other.get('pid')} on {other.get('host')}, last heard "
                f"{time.time() - float(other.get('heartbeat', 0)):.0f} s ago).",
                flush=True,
            )
        self._write()
        written = self._read() or {}
        if not self._mine(written):  # another driver wrote in the same moment
            raise ExperimentBusy(self._busy(written))
        self._beat = threading.Thread(target=self._heartbeat, daemon=True, name="driver-lock")
        self._beat.start()

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        if self._mine(self._read() or {}):
            storage.delete(self.path)

    def __enter__(self) -> DriverLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):  # a storage hiccup: the next beat tries again
                self._write()

    def _write(self) -> None:
        storage.write_text(self.path, json.dumps({**self.me, "heartbeat": time.time()}))

    def _read(self) -> dict | None:
        try:
            return json.loads(storage.read_text(self.path)) if storage.exists(self.path) else None
        except ValueError:  # half written by a driver killed mid-write: nobody's
            return None

    def _mine(self, other: dict) -> bool:
        return all(other.get(k) == v for k, v in self.me.items())

    def _alive(self, other: dict) -> bool:
        """On this host, whether its process lives and is still a driver (it beat recently,
        or it runs one of the project's commands); elsewhere, whether it beat recently."""
        fresh = time.time() - float(other.get("heartbeat", 0)) < STALE_S
        if other.get("host") != self.me["host"]:
            return fresh
        pid = int(other.get("pid", 0))
        return pid_alive(pid) and (fresh or runs_a_command(pid) is not False)

    def _busy(self, other: dict) -> str:
        since = datetime.fromtimestamp(float(other.get("since", 0))).strftime("%Y-%m-%d %H:%M:%S")
        seen = time.time() - float(other.get("heartbeat", 0))
        return (
            f"experiment {self.name!r} is being run by another driver (pid {other.get('pid')} on "
            f"{other.get('host')}, since {since}, last heard {seen:.0f} s ago): wait for it to "
            f"end or stop it; a driver that died is taken over at once on its own host, and "
            f"{STALE_S:.0f} s after its last heartbeat from another (if you are sure it is gone, "
            f"delete {self.path})."
        )
