"""What RQ runs for each job in cluster mode: ``run(job_id)``, inside the trainer's own
RQ worker (:mod:`service.trainer.cluster`), on the :class:`~service.trainer.worker.Trainer`
that process built. The RQ job only carries the id; the record says what to train."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .worker import Trainer

TRAINERS: list[Trainer] = []  # the trainer of this process, set by service.trainer.cluster.main


def run(job_id: str) -> str:
    """Claim and run job ``job_id``; its status (or "skipped": cancelled before it started)."""
    trainer = TRAINERS[0]
    job = trainer.queue.claim(job_id)
    if job is None:
        return "skipped"
    # the heartbeat beats through the whole run, publishing included (not only while the
    # job's process trains): a live trainer's job is never reaped as interrupted
    with trainer.queue.keep_alive(job_id):  # type: ignore[attr-defined]  # cluster mode's queue
        return trainer.run_claimed(job).status
