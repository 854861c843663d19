"""Process helpers of the supervisor and its children (Linux; no-ops elsewhere)."""
from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal
import sys
import threading
import time

from threadpoolctl import threadpool_limits

log = logging.getLogger("service.procs")

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
WATCH_INTERVAL = 0.1  # seconds between two looks at the parent
ORPHAN_GRACE = 1.0  # seconds an orphan gets to stop by itself before it exits at once
ORPHANED = 70  # exit status of a process that outlived its parent by ORPHAN_GRACE
# exit status of a process that cannot start (uvicorn's; the API process's too): starting
# it again would fail the same way
STARTUP_FAILURE = 3


def _prctl(option: int, arg: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, arg, 0, 0, 0)


def die_with_parent(sig: int = signal.SIGTERM, grace: float = ORPHAN_GRACE) -> None:
    """Get ``sig`` when the parent process dies, and exit ``grace`` seconds later whatever
    this process is doing, its own children first.

    Without it, an API worker or a trainer whose parent was killed (kill -9, OOM killer)
    would go on serving or training beside the service that replaces it. The signal
    starts the usual clean stop (a job recorded cancelled, requests finished); but a
    trainer in the middle of a long step, or uvicorn draining a slow client, would take
    many seconds, and this process holds the data directory's lock (service.lock) that
    the next service waits for. A thread watching the parent ends it in ``grace`` s: what
    it leaves half-done, the next start cleans up (staging files, a job ``running``).
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    _prctl(_PR_SET_PDEATHSIG, sig)
    threading.Thread(target=_watch_parent, args=(parent, grace), name="watch-parent", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the call: the signal will not come
        os.kill(os.getpid(), sig)


def _watch_parent(parent: int, grace: float) -> None:
    # an orphan is adopted by init or a subreaper: getppid() changes (no pid reuse race)
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL)
    time.sleep(grace)
    log.warning("still running %.1f s after the parent process %d died: exiting now", grace, parent)
    kill_all(descendants(os.getpid()))
    os._exit(ORPHANED)


def become_subreaper() -> None:
    """Adopt the orphans of our children (uvicorn's workers when the API process dies), so
    that the supervisor sees, reaps and stops them instead of init."""
    if sys.platform.startswith("linux"):
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (from /proc; its main thread's, the only one that starts any)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively, deepest first (from /proc)."""
    found: list[int] = []
    for child in children(pid):
        found += descendants(child) + [child]
    return found


def kill_all(pids: list[int]) -> None:
    """SIGKILL each of ``pids`` that still exists."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def raise_open_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (children inherit
    it); the soft limit in force afterwards. Every connection is a file: the usual soft
    limit of 1024 would stop a worker far below CATSVC_MAX_CONNECTIONS."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. an infinite hard limit the kernel caps lower
            pass
    return soft


# BLAS threads per process.
#
# OpenBLAS starts one thread per core in every process. With one API worker per core plus
# the trainer, those threads fight over the cores: on a busy 2-core machine a tiny matrix
# product then takes hundreds of milliseconds instead of microseconds. Each process of the
# service therefore sets its own count (the supervisor also sets the usual environment
# variables, which reach BLAS libraries that load later).

def limit_blas_threads(n: int) -> None:
    """Use at most ``n`` BLAS threads in this process from now on."""
    threadpool_limits(limits=n, user_api="blas")
