"""Process helpers of the supervisor and its children (Linux; no-ops elsewhere)."""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Get ``sig`` when the parent process dies, so that no child outlives its supervisor.

    Without it, an API worker or a trainer whose parent was killed (kill -9, OOM killer)
    would go on serving or training beside the service that replaces it.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the call: the signal will not come
        os.kill(os.getpid(), sig)


def descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively, deepest first (from /proc)."""
    found: list[int] = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return found
    for child in children:
        found += descendants(child) + [child]
    return found


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
