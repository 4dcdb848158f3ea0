"""Experiment storage: a local folder, a shared file system path, or a pyarrow URI (s3://, gs://).

Everything the project itself reads or writes in an experiment folder goes through these few
functions, so the same code serves a laptop and a cluster with object storage.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import pyarrow.fs as pafs

FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


class StorageFull(OSError):
    """A write that failed for want of space; the message names what could not be written."""


class Unreachable(OSError):
    """A URI whose file system cannot be reached (no network, no such bucket, no credentials)."""


def is_full(error: BaseException | None) -> bool:
    """Whether ``error`` (or the failure a Ray worker reported as text) is a full disk."""
    if isinstance(error, OSError) and error.errno in FULL:
        return True
    return error is not None and any(os.strerror(code) in str(error) for code in FULL)


def is_read_only(error: BaseException) -> bool:
    """Whether ``error`` is a write refused by permissions or a read-only file system."""
    return isinstance(error, OSError) and error.errno in READ_ONLY


def cannot_write(error: BaseException, where: str | None) -> str | None:
    """The sentence for a write ``error`` refused by a read-only folder or a full disk (``where``:
    the place, when the error names none), or None for any other error."""
    if not (is_read_only(error) or is_full(error)):
        return None
    return (
        f"cannot write {error.filename or where} ({error.strerror}): give --out a folder you can "
        "write to."
    )


def is_uri(location: str) -> bool:
    return "://" in location


def resolve(location: str) -> str:
    """An absolute path for local folders; URIs unchanged."""
    return location if is_uri(location) else str(Path(location).expanduser().resolve())


def join(location: str, *parts: str) -> str:
    return "/".join([location.rstrip("/"), *parts])


def _fs(location: str) -> tuple[pafs.FileSystem, str]:
    if is_uri(location):
        try:
            return pafs.FileSystem.from_uri(location)
        except (OSError, ValueError) as e:  # pyarrow: no network or bucket; an unknown scheme
            raise unreachable(location, e) from e
    return pafs.LocalFileSystem(), str(Path(location).resolve())


def fs_path(location: str) -> str:
    """``location`` as a path in its file system (a URI without its scheme)."""
    return _fs(location)[1]


def unreachable(location: str, error: Exception) -> Unreachable:
    return Unreachable(
        f"storage {location} cannot be reached ({error}): check the URI, the network and the "
        "credentials"
    )


def exists(location: str) -> bool:
    """Whether there is a file or folder at ``location``; the first question each reader asks,
    so an object store that does not answer is Unreachable here (local errors pass through)."""
    fs, path = _fs(location)
    try:
        return fs.get_file_info(path).type != pafs.FileType.NotFound
    except OSError as e:
        if not is_uri(location):
            raise
        raise unreachable(location, e) from e


def is_file(location: str) -> bool:
    """Whether ``location`` is a file (not a folder, not missing)."""
    fs, path = _fs(location)
    return fs.get_file_info(path).type == pafs.FileType.File


def read_text(location: str) -> str:
    return read_bytes(location).decode()


def read_bytes(location: str) -> bytes:
    fs, path = _fs(location)
    with fs.open_input_stream(path) as f:
        return f.read()


def write_text(location: str, text: str) -> None:
    """Write (replace) a whole file; object stores cannot append."""
    write_bytes(location, text.encode())


def write_bytes(location: str, data: bytes) -> None:
    """Write a whole file at once: a kill mid-write leaves the old file or none, never half.

    A local file is written beside its place and renamed over it; an object store's single
    upload is already all or nothing.
    """
    fs, path = _fs(location)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    write_whole(fs, path, data)


def write_whole(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """``write_bytes`` for a path on ``fs`` (a local one is renamed into place, an object
    store's upload is whole already); StorageFull names the path when space runs out."""
    partial = f"{path}.partial-{os.getpid()}" if fs.type_name == "local" else path
    try:
        with fs.open_output_stream(partial) as f:
            f.write(data)
    except OSError as e:
        if partial != path:
            with contextlib.suppress(OSError):
                fs.delete_file(partial)
        if is_full(e):
            raise StorageFull(f"could not write {path} ({e})") from None
        raise
    if partial != path:
        fs.move(partial, path)


def move(source: str, destination: str) -> None:
    """Move a file or folder (a rename on a local disk, copy and delete on an object store)."""
    fs, path = _fs(source)
    target = _fs(destination)[1]
    fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
    fs.move(path, target)


def delete(location: str) -> None:
    """Remove the file at ``location`` (nothing if it is already gone)."""
    fs, path = _fs(location)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(path)


def subfolders(location: str) -> list[str]:
    """Locations of the folders directly inside ``location``, sorted by name."""
    return _entries(location, pafs.FileType.Directory)


def files(location: str) -> list[str]:
    """Locations of the files directly inside ``location``, sorted by name."""
    return _entries(location, pafs.FileType.File)


def _entries(location: str, kind: pafs.FileType) -> list[str]:
    fs, path = _fs(location)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return [join(location, name) for name in sorted(i.base_name for i in infos if i.type == kind)]


def check_writable(location: str) -> None:
    """Write, read back and delete a small file in ``location``; raises OSError if that fails.
    The local folders the probe had to make are removed again: a run refused later (bad data)
    leaves nothing behind."""
    probe = join(location, f".nas-preflight-{os.getpid()}")
    made = [] if is_uri(location) else missing_folders(Path(location))
    try:
        write_text(probe, "ok")
        if read_text(probe) != "ok":
            raise OSError(f"{probe} did not read back what was written")
        fs, path = _fs(probe)
        fs.delete_file(path)
    except OSError:
        raise
    except Exception as e:  # pyarrow raises its own errors for object stores
        raise OSError(str(e)) from e
    finally:
        for folder in made:  # deepest first; one something else wrote into meanwhile stays
            with contextlib.suppress(OSError):
                folder.rmdir()


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those above it that do not exist, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing
