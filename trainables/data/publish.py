"""A data folder made once per machine and seen whole or not at all.

Trials that start together on one machine would each download or write the same folder, and a
reader could see it half made. ``publish_once`` makes it under a file lock (in the machine's
temporary folder, so nothing appears beside the data before it is whole), in a staging folder
beside its final place, then renames it there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock


def publish_once(folder: Path, write: Callable[[Path], None]) -> bool:
    """Make ``folder`` by ``write(path)`` unless it exists; False if it did (made by another).

    ``write`` must create ``path`` and fill it. On failure nothing is left: neither the staging
    folder nor the parent folders this call created.
    """
    with FileLock(_lock_path(folder)):
        if folder.exists():
            return False
        missing = [p for p in (folder.parent, *folder.parent.parents) if not p.exists()]
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            write(staging / folder.name)
            try:
                os.rename(staging / folder.name, folder)
            except OSError:
                if not folder.exists():  # not another machine on a shared disk publishing first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if not folder.exists():
                for parent in missing:  # deepest first
                    with contextlib.suppress(OSError):
                        parent.rmdir()
    return True


def _lock_path(folder: Path) -> Path:
    key = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"cnn-nas-{folder.name}-{key}.lock"
