"""The data directory's lock: one service per data directory, held by every process of it.

An ``flock`` belongs to the open file description, not to the process that took it:
every process that inherits the descriptor shares the one lock, which is released only
when the last of them has exited. The supervisor takes it and passes the descriptor to
the API process and the trainer (``pass_fds``, its number in :data:`FD_ENV`); the API
process hands it on to each uvicorn worker (:class:`SpawnedFd`). So a supervisor killed
with ``kill -9`` leaves the lock held until its last child has stopped, and a new service
on the same directory cannot start a second trainer, or clean up files, beside them.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from multiprocessing import reduction
from pathlib import Path
from typing import Any

from .storage import writing

log = logging.getLogger("service.lock")

LOCK_FILE = "service.lock"
FD_ENV = "CATVNONCAT_LOCK_FD"  # not a setting: how the supervisor tells its children the number
_POLL = 0.1  # seconds between two tries while waiting for the lock


class DataDirInUse(RuntimeError):
    pass


def lock_data_dir(data_dir: Path, wait: float = 0.0) -> int:
    """Take the exclusive lock of ``data_dir``, waiting up to ``wait`` seconds; its descriptor.

    Raises DataDirInUse if it is still taken after that (another service, or the
    processes of one that died and have not stopped yet), StorageUnavailable if the
    directory is read-only.
    """
    with writing(data_dir):  # read-only or full: StorageUnavailable
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise DataDirInUse(f"another service is using the data directory {data_dir}") from None
        if not said:
            log.warning("the data directory %s is locked by another service's processes; waiting up to %.0f s "
                        "for them to stop", data_dir, wait)
            said = True
        time.sleep(_POLL)


def inherited_fd() -> int | None:
    """The lock's descriptor this process got from the supervisor, if it got one."""
    value = os.environ.get(FD_ENV, "")
    return int(value) if value.isdigit() else None


class SpawnedFd:
    """A descriptor that a ``multiprocessing`` spawn child receives as the same open file
    description (as it receives a listening socket), so that it holds the lock too.

    Nothing in the child reads it: the descriptor only has to stay open until it exits.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        # DupFd must be made while the child is being spawned: it adds fd to the fds it gets
        return (_rebuild, (reduction.DupFd(self.fd),))


def _rebuild(dup: Any) -> SpawnedFd:
    return SpawnedFd(dup.detach())
