"""The trainer in cluster mode: an RQ worker that runs one job at a time.

Why RQ: it is a maintained queue on Redis alone, with what several trainers on several
machines need and this service would otherwise write itself: workers that register and
beat (``rq info`` lists them and what each runs), a queue that hands each job to exactly
one of them, the job's own failure record, warm and cold stops. It runs as
:class:`rq.SimpleWorker`, the job in the worker's own process: the trainer already forks
each job into a memory-capped process it can kill at once (:mod:`.job_process`), so RQ's
own fork would be one process too many. What RQ does not give is a bound on how long a
dead worker's job stays "started" (its clean-up runs every few minutes): the job's
heartbeat in its record does (:mod:`service.state.cluster.redis_jobs`).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
from types import FrameType

from rq import SimpleWorker

from ..settings import Settings
from ..state.storage import StorageUnavailable
from . import rq_task
from .worker import STORAGE_RETRY, Trainer

log = logging.getLogger("service.trainer")


class TrainerWorker(SimpleWorker):
    """RQ's worker, whose stop signal also stops the running job (killed, recorded
    ``cancelled``, reason ``shutdown``) instead of waiting for it to end."""

    trainer: Trainer

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.trainer.stop()
        super().request_stop(signum, frame)


def serve(settings: Settings) -> None:
    """Recover, then take jobs from the queue until a stop signal; while the servers do not
    answer, wait and try again (the supervisor restarts a worker that gave up)."""
    trainer = Trainer(settings)
    rq_task.TRAINERS[:] = [trainer]
    stopping: list[bool] = []

    def stop(*_: object) -> None:
        stopping.append(True)
        trainer.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):  # until RQ installs its own
        signal.signal(sig, stop)
    while not stopping:
        try:
            trainer.start_up()
            break
        except StorageUnavailable as e:
            log.error("cannot start: %s; trying again in %g s", e, STORAGE_RETRY)
            trainer.pause(STORAGE_RETRY)
    if stopping:
        return
    trainer.queue.reap()
    queue = trainer.queue.rq  # type: ignore[attr-defined]  # cluster mode's queue is an RQ queue
    worker = TrainerWorker([queue], connection=queue.connection, name=f"{socket.gethostname()}-{os.getpid()}")
    worker.trainer = trainer
    log.info("trainer %s ready: taking jobs from the RQ queue %s", worker.name, queue.name)
    worker.work(logging_level=settings.log_level.upper())
