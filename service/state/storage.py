"""A data directory that cannot be written: read-only, or out of space.

One error for every way that shows, :class:`StorageUnavailable`: EROFS, ENOSPC, EDQUOT,
EACCES / EPERM from a write, SQLite's "attempt to write a readonly database" and
"database or disk is full" (and its "unable to open" / "disk I/O error" when the file
system says why). The store, the job queue and the catalog raise it where they write
(:func:`writing`); the API answers it 503 ``STORAGE_UNAVAILABLE``, a job records it as its
reason, the supervisor refuses to start on it. :class:`StorageProbe` tells /health/ready
and POST /train the same from ``statvfs`` and ``access``, without writing anything.
"""
from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

READ_ONLY, NO_SPACE = "read_only", "no_space"
UNREACHABLE = "unreachable"  # cluster mode: Redis or the object store does not answer
MiB = 1024 * 1024
MIN_FREE_BYTES = 1 * MiB  # less than this free and not even a small model version fits
PROBE_TTL = 1.0  # seconds a probe's answer is reused: readiness is asked often, this changes rarely

_ERRNO_KINDS = {
    errno.EROFS: (READ_ONLY, "a read-only file system"),
    errno.EACCES: (READ_ONLY, "permission denied"),
    errno.EPERM: (READ_ONLY, "permission denied"),
    errno.ENOSPC: (NO_SPACE, "the file system is full"),
    errno.EDQUOT: (NO_SPACE, "the disk quota is exceeded"),
}
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 10, 13, 14


class StorageUnavailable(RuntimeError):
    """The data directory cannot be written; ``kind`` is READ_ONLY or NO_SPACE (or, in
    cluster mode, UNREACHABLE: a server of the shared state does not answer)."""

    def __init__(self, kind: str, detail: str) -> None:
        if kind == UNREACHABLE:
            message = f"the service's shared state cannot be reached ({detail}): try again when it is back"
        elif kind == NO_SPACE:
            message = (f"the service's data directory has no space left ({detail}): nothing can be saved "
                       "until an operator frees space")
        else:
            message = (f"the service's data directory is read-only ({detail}): nothing can be saved "
                       "until an operator makes it writable")
        super().__init__(message)
        self.kind = kind
        self.message = message


def storage_error(e: BaseException, directory: Path) -> StorageUnavailable | None:
    """The StorageUnavailable that ``e``, raised by a write under ``directory``, means; None if another error."""
    if isinstance(e, OSError) and e.errno in _ERRNO_KINDS:
        return StorageUnavailable(*_ERRNO_KINDS[e.errno])
    if isinstance(e, sqlite3.OperationalError):
        code = getattr(e, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
        if code == _SQLITE_READONLY:
            return StorageUnavailable(READ_ONLY, "the job database cannot be written")
        if code == _SQLITE_FULL:
            return StorageUnavailable(NO_SPACE, "the job database cannot grow")
        if code in (_SQLITE_CANTOPEN, _SQLITE_IOERR):
            return check([directory])  # many causes: the file system says whether it is this one
    return None


@contextmanager
def writing(directory: Path) -> Iterator[None]:
    """Turn a write failure under ``directory`` that storage explains into StorageUnavailable."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as e:
        mapped = storage_error(e, directory)
        if mapped is None:
            raise
        raise mapped from e


def check(directories: Sequence[Path]) -> StorageUnavailable | None:
    """Whether ``directories`` (on one file system) can be written, from metadata only."""
    try:
        st = os.statvfs(directories[0])
    except OSError:
        return None  # missing: whoever writes there creates it, or fails saying why
    if st.f_flag & os.ST_RDONLY:
        return StorageUnavailable(READ_ONLY, "a read-only file system")
    if not all(os.access(d, os.W_OK) for d in directories if d.exists()):
        return StorageUnavailable(READ_ONLY, "permission denied")
    if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
        return StorageUnavailable(NO_SPACE, f"less than {MIN_FREE_BYTES / MiB:g} MiB free")
    return None


class StorageProbe:
    """:func:`check` of the data directory's writable places, at most once per PROBE_TTL."""

    def __init__(self, directories: Sequence[Path], ttl: float = PROBE_TTL) -> None:
        self.directories = list(directories)
        self.ttl = ttl
        self._checked_at = -ttl
        self._problem: StorageUnavailable | None = None

    def problem(self) -> StorageUnavailable | None:
        now = time.monotonic()
        if now - self._checked_at >= self.ttl:
            self._problem = check(self.directories)
            self._checked_at = now
        return self._problem
