"""One training job in a child process of the trainer, which can end it at any moment.

Why a process: cancellation used to be read between iterations, and one step of a large
job (the 6000 x 6000 Gram matrix of an uploaded set, one forward pass of 20,000 examples
through a wide layer) is a single BLAS call of many seconds that nothing inside NumPy
can interrupt; a DELETE or a shutdown waited that long. A process is killed at once,
wherever it is: the trainer looks at the job's record every POLL seconds and kills the
child when it was cancelled. The child also gets its own address space, capped
(RLIMIT_AS) at what it starts with plus ``CATSVC_TRAINER_MEMORY``: a job that runs away
all the same gets its MemoryError there, and the trainer records it and goes on.

Why fork: the child starts as a copy of the trainer, numpy and model_core loaded, in
about 7 ms; a fresh interpreter takes 0.4 s to import model_core alone, most of the
course's whole job. And ``model_core.train`` runs in it exactly as anywhere else: no
check inside its loops, so the course's job costs what it did. The child reads its data
set and trains, nothing else: it writes no file and opens no database, so SIGKILL leaves
nothing half-written. It talks to the trainer over a pipe: progress messages, then its
result or its failure. (The trainer is single-threaded, as fork wants; OpenBLAS's own
threads, with CATSVC_TRAIN_THREADS > 1, are stopped and restarted by its fork handlers.)
"""
from __future__ import annotations

import os
import resource
import signal
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Pipe
from typing import Any

from model_core import TrainingCancelled

from ..state.procs import die_with_parent

POLL = 0.1  # seconds between two looks at whether the job must stop

Send = Callable[[Any], None]
# what a failure is called: (exception, the child's address-space cap) -> (reason, message)
Classify = Callable[[BaseException, int], tuple[str, str]]


class JobFailed(Exception):
    """The job raised in its process: ``reason`` (a stable word), ``message``, the traceback."""

    def __init__(self, reason: str, message: str, detail: str) -> None:
        super().__init__(message)
        self.reason, self.message, self.detail = reason, message, detail


class JobDied(Exception):
    """The job's process ended without a word: killed by a signal, or it exited."""


def address_space() -> int:
    """The address space of this process now (VmSize), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize in /proc/self/status")


def cap_address_space(extra: int) -> int:
    """Cap this process's address space (RLIMIT_AS) at what it holds now plus ``extra``
    bytes, or at the hard limit it inherited where that is lower; return the cap."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = address_space() + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return cap


class JobProcess:
    """``work(send)`` in a forked child; ``send(x)`` passes x to the parent as progress."""

    def __init__(self, work: Callable[[Send], Any], classify: Classify, memory: int) -> None:
        reader, writer = Pipe(duplex=False)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            reader.close()
            _child(writer, work, classify, memory)
        writer.close()
        self.pid = pid
        self._conn = reader
        self._status: int | None = None

    def wait(self, on_progress: Callable[[Any], bool], should_stop: Callable[[], bool]) -> Any:
        """The child's result. Its progress goes to ``on_progress``, whose True means stop;
        ``should_stop()`` is asked every POLL seconds. Stopping kills the child and raises
        TrainingCancelled; a failure raises JobFailed, a silent end JobDied."""
        asked = time.monotonic()
        while True:
            stop = False
            if self._conn.poll(POLL):
                try:
                    kind, *payload = self._conn.recv()
                except EOFError:
                    raise JobDied(self._describe_end()) from None
                if kind == "done":
                    return payload[0]
                if kind == "failed":
                    raise JobFailed(*payload)
                stop = on_progress(payload[0])
            if not stop and time.monotonic() - asked >= POLL:
                stop, asked = should_stop(), time.monotonic()
            if stop:
                self.close()
                raise TrainingCancelled()

    def close(self) -> None:
        """Kill the child if it still runs, and reap it."""
        if self._status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()
        self._conn.close()

    def _reap(self) -> int:
        if self._status is None:
            _, self._status = os.waitpid(self.pid, 0)
        return self._status

    def _describe_end(self) -> str:
        status = self._reap()
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status))
            why = " (the kernel's out-of-memory killer, if the machine ran out of memory)" \
                if sig == signal.SIGKILL else ""
            return f"the job's process was killed by {sig.name}{why}"
        return f"the job's process exited with status {os.waitstatus_to_exitcode(status)} without a result"


def _child(conn: Any, work: Callable[[Send], Any], classify: Classify, memory: int) -> None:
    """Run ``work`` and send its result or failure; never return into the parent's code."""
    code = 0
    try:
        # the trainer alone decides when a job ends (a group-wide SIGTERM or Ctrl-C reaches
        # this process too), and the job must not outlive the trainer
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        die_with_parent(signal.SIGKILL)
        cap = cap_address_space(memory)
        failure = None
        try:
            conn.send(("done", work(lambda progress: conn.send(("progress", progress)))))
        except BaseException as e:  # noqa: BLE001 - every failure is reported to the trainer
            failure = (*classify(e, cap), traceback.format_exc())
        # sent here, not in the except block: the traceback (and the arrays its frames
        # hold) is gone, so a MemoryError's report has room
        if failure is not None:
            conn.send(("failed", *failure))
    except BaseException:  # noqa: BLE001 - the pipe is gone: the trainer has stopped
        code = 1
    finally:
        os._exit(code)
