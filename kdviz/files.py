"""Files that are whole or absent: every file kdviz writes goes through `atomic_write`.

A writer fills a temp file in the target's folder, which is flushed to disk and renamed over the
target (then the folder too is synced, so the rename survives a power cut): a reader, another
server process or a crash never sees half a file. `file_lock` serialises work across processes
that share a cache (two servers asked for the same teacher train it once).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class FolderError(OSError):
    """The target's folder cannot be created, or no temp file can be made in it."""


def atomic_write(path, blob, writer: Callable) -> Path:
    """`writer(blob, binary_file)` into `path`, all or nothing. FolderError when the folder is
    not writable; any other OSError of the write as it is (the temp file removed)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the file from other accounts sharing a cache
    except OSError as e:
        raise FolderError(e.errno, e.strerror) from None
    try:
        with os.fdopen(fd, "wb") as f:
            writer(blob, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_bytes(blob: bytes, f) -> None:
    """The writer of bytes already made (safetensors, JSON text)."""
    f.write(blob)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a folder: the rename is all we can do there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive lock across processes (POSIX). Without fcntl (Windows) or in a
    read-only cache it degrades to no lock: callers then merely may do the work twice."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a")
    except (ImportError, OSError):
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
