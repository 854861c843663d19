"""Job records in Redis and the job queue through RQ (cluster mode's
:class:`~service.state.protocols.JobQueueProtocol`).

Keys, under ``<prefix>:``::

    job:<id>          the record (JSON: every field of :class:`~service.state.jobs.Job`)
    job:<id>:alive    the running job's heartbeat: its trainer renews it, it expires without
    jobs              every id, by the order they were queued (a sorted set: GET /train)
    jobs:queued       the queued ids, likewise     jobs:running  the running ones
    job-seq           the counter that orders them

and RQ's queue ``<prefix>-train``, whose job of the same id names the function the
trainers run (``service.trainer.rq_task.run``). Every state change is one optimistic
transaction (WATCH the record, MULTI, EXEC: redone if another process changed it
meanwhile), so a job is always in exactly one state, and the queued record and its RQ job
are written in the same one. A trainer that stops renewing the heartbeat (killed, its
machine gone) has its job recorded failed, ``interrupted``, by whichever process runs
:meth:`RedisJobQueue.reap` next (every API replica and trainer does, every heartbeat / 2).
"""
from __future__ import annotations

import builtins  # RedisJobQueue.list shadows the type in its class's annotations
import contextlib
import dataclasses
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import redis
import rq

from ..jobs import CANCELLED, FAILED, FINISHED, QUEUED, RUNNING, Job, JobFinished, JobNotFound, QueueFull
from ..storage import UNREACHABLE, StorageUnavailable
from .connect import REDIS_ERRORS, reaching

log = logging.getLogger("service.jobs")

TASK = "service.trainer.rq_task.run"  # by name: service.state never imports the trainer
INTERRUPTED = ("its trainer stopped answering while it ran (killed, or its machine lost); "
               "start it again with POST /train")
LOST = "its trainer stopped answering as it took the job, before it started; start it again with POST /train"


class RedisJobQueue:
    def __init__(self, r: redis.Redis, prefix: str, heartbeat: float) -> None:
        # Any: redis-py types every reply as a union of all its commands' replies
        self.redis: Any = r
        self.prefix, self.heartbeat = prefix, heartbeat
        self.rq = rq.Queue(f"{prefix}-train", connection=r)
        self._all, self._queued, self._running = f"{prefix}:jobs", f"{prefix}:jobs:queued", f"{prefix}:jobs:running"
        self._seq = f"{prefix}:job-seq"
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _alive(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:alive"

    def _change(self, job_id: str, step: Callable[[Job, Any], Job | None]) -> Job | None:
        """Run ``step(job, pipe)`` in a transaction on the record; it queues its writes after
        ``pipe.multi()`` and returns the new record (None: nothing to write)."""
        key = self._key(job_id)
        out: list[Job | None] = []

        def tx(pipe: Any) -> None:
            out.clear()
            raw = pipe.get(key)
            if raw is None:
                raise JobNotFound(job_id)
            pipe.multi()
            new = step(Job.from_dict(json.loads(raw)), pipe)
            if new is not None:
                pipe.set(key, json.dumps(new.to_dict()))
            out.append(new)

        with reaching("writing a job record"):
            self.redis.transaction(tx, key)
        return out[0]

    # -- API side
    def enqueue(self, dataset: str, config: dict[str, Any], *, total: int, unit: str,
                max_queued: int, options: dict[str, Any] | None = None) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], status=QUEUED, dataset=dataset, config=config, options=options or {},
                  queued_at=time.time(), started_at=None, finished_at=None, done=0, total=total, unit=unit,
                  cost=None, eta=None, progress_at=None, costs=[], metrics=None, model_version=None,
                  reason=None, message=None, cancel_requested=False)
        with reaching("queueing a job"):
            seq = int(self.redis.incr(self._seq))

            def tx(pipe: Any) -> None:
                if pipe.zcard(self._queued) >= max_queued:
                    raise QueueFull(max_queued)
                pipe.multi()
                pipe.set(self._key(job.id), json.dumps(job.to_dict()))
                pipe.zadd(self._all, {job.id: seq}).zadd(self._queued, {job.id: seq})
                # the RQ job in the same transaction: a queued record always has one
                self.rq.enqueue_call(TASK, args=(job.id,), job_id=job.id, timeout=-1, result_ttl=0,
                                     failure_ttl=86400, pipeline=pipe)

            self.redis.transaction(tx, self._queued)
        job.log_transition()
        return job

    def get(self, job_id: str) -> Job:
        with reaching("reading a job record"):
            raw = self.redis.get(self._key(job_id))
        if raw is None:
            raise JobNotFound(job_id)
        return Job.from_dict(json.loads(raw))

    def get_since(self, job_id: str, sent: int) -> Job:
        """The job with only its cost points from index ``sent`` on (one record a key: Redis
        sends it whole, the slice is here)."""
        job = self.get(job_id)
        return dataclasses.replace(job, costs=job.costs[sent:])

    def _many(self, ids: builtins.list[bytes]) -> builtins.list[Job]:
        if not ids:
            return []
        with reaching("reading job records"):
            raws = self.redis.mget([self._key(i.decode()) for i in ids])
        return [Job.from_dict(json.loads(r)) for r in raws if r is not None]

    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[Job]:
        """Jobs, newest first."""
        with reaching("listing jobs"):
            ids = self.redis.zrevrange(self._all, offset, offset + limit - 1)
        return self._many(ids)

    def pending(self) -> builtins.list[Job]:
        """Running jobs, then queued ones, each in queue order."""
        with reaching("listing jobs"):
            ids = [*self.redis.zrange(self._running, 0, -1), *self.redis.zrange(self._queued, 0, -1)]
        return self._many(ids)

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one is asked to stop (its trainer,
        wherever it runs, reads the record every 0.1 s and kills the job's process)."""

        def step(job: Job, pipe: Any) -> Job:
            if job.status == QUEUED:
                pipe.zrem(self._queued, job_id)
                return _with(job, status=CANCELLED, finished_at=time.time(), reason="cancelled",
                             message="cancelled before it started", cancel_requested=True)
            if job.status == RUNNING:
                return _with(job, cancel_requested=True)
            raise JobFinished(job.status)

        job = self._change(job_id, step)
        assert job is not None
        if job.status == CANCELLED:
            try:
                self.rq.remove(job_id)  # else the trainer that takes it skips it
            except REDIS_ERRORS:
                pass
        job.log_transition(cancel_requested=True)
        if job.status == CANCELLED:  # cancelled while queued: ended here
            job.count_finished()
        return job

    # -- trainer side
    def claim(self, job_id: str | None = None) -> Job | None:
        """Move ``job_id`` (default: the oldest queued job) to running and return it; None if
        it is not queued (cancelled meanwhile) or nothing is."""
        if job_id is None:
            with reaching("reading the queue"):
                first = self.redis.zrange(self._queued, 0, 0)
            if not first:
                return None
            job_id = first[0].decode()

        def step(job: Job, pipe: Any) -> Job | None:
            if job.status != QUEUED:
                return None
            pipe.zrem(self._queued, job_id).zadd(self._running, {job_id: time.time()})
            pipe.set(self._alive(job_id), 1, px=int(self.heartbeat * 1000))
            return _with(job, status=RUNNING, started_at=time.time())

        job = self._change(job_id, step)
        if job is not None:
            job.log_transition()
        return job

    def report_progress(self, job_id: str, done: int, cost: float, costs: builtins.list[builtins.list[float]],
                        eta: float | None = None) -> bool:
        def step(job: Job, pipe: Any) -> Job:
            pipe.set(self._alive(job_id), 1, px=int(self.heartbeat * 1000))
            return _with(job, done=done, cost=cost, costs=costs, eta=eta, progress_at=time.time())

        job = self._change(job_id, step)
        return bool(job and job.cancel_requested)

    def cancel_requested(self, job_id: str) -> bool:
        """Asked by the job's trainer every 0.1 s while it runs: it also renews the heartbeat."""
        with reaching("reading a job record"):
            with self.redis.pipeline(transaction=False) as pipe:
                raw, _ = pipe.get(self._key(job_id)).pexpire(self._alive(job_id), int(self.heartbeat * 1000)).execute()
        return bool(raw and json.loads(raw)["cancel_requested"])

    @contextlib.contextmanager
    def keep_alive(self, job_id: str) -> Iterator[None]:
        """Renew ``job_id``'s heartbeat every heartbeat / 3 from a thread, while the block runs:
        its trainer's own work (publishing the version: the upload, the models lock, the
        retention) asks nothing of the queue, and may last longer than a heartbeat."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat / 3):
                try:  # SET, not PEXPIRE: a heartbeat that lapsed meanwhile is renewed too
                    self.redis.set(self._alive(job_id), 1, px=int(self.heartbeat * 1000))
                except Exception as e:  # Redis down: the next beat tries again
                    log.debug("renewing job %s's heartbeat failed: %s", job_id, e)

        thread = threading.Thread(target=beat, name="job-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def finish(self, job_id: str, status: str, *, model_version: int | None = None,
               metrics: dict[str, Any] | None = None, costs: builtins.list[builtins.list[float]] | None = None,
               done: int | None = None, reason: str | None = None, message: str | None = None) -> Job:
        assert status in FINISHED

        def step(job: Job, pipe: Any) -> Job | None:
            if job.status != RUNNING:
                return None
            pipe.zrem(self._running, job_id).delete(self._alive(job_id))
            return _with(job, status=status, finished_at=time.time(), model_version=model_version,
                         metrics=metrics, costs=job.costs if costs is None else costs,
                         done=job.done if done is None else done, reason=reason, message=message)

        changed = self._change(job_id, step)
        job = self.get(job_id)
        job.log_transition()
        if changed is not None:  # this call ended it: counted once, by the trainer that ran it
            job.count_finished()
        return job

    def fail_interrupted(self) -> int:
        """Record failed (``interrupted``) the running jobs whose heartbeat expired; how many."""
        with reaching("reading the running jobs"):
            running = [i.decode() for i in self.redis.zrange(self._running, 0, -1)]
            gone = [i for i in running if not self.redis.exists(self._alive(i))]

        def step(job: Job, pipe: Any) -> Job | None:
            if job.status != RUNNING or self.redis.exists(self._alive(job.id)):
                return None
            pipe.zrem(self._running, job.id)
            return _with(job, status=FAILED, finished_at=time.time(), reason="interrupted", message=INTERRUPTED)

        return self._fail_each(gone, step) + self._fail_lost()

    def _fail_lost(self) -> int:
        """Record failed (``interrupted``) the queued jobs RQ gave up: their trainer died as
        it took them, before its claim (RQ's clean-up fails such a job after a minute or
        more); a queued record's RQ job is written with it, so one failed or gone is lost."""
        with reaching("reading the queued jobs"):
            queued = [i.decode() for i in self.redis.zrange(self._queued, 0, -1)]
            rq_jobs = rq.job.Job.fetch_many(queued, connection=self.redis) if queued else []
        lost = [i for i, rq_job in zip(queued, rq_jobs)
                if rq_job is None or rq_job.get_status(refresh=False) == rq.job.JobStatus.FAILED]

        def step(job: Job, pipe: Any) -> Job | None:
            if job.status != QUEUED:
                return None  # claimed or cancelled meanwhile
            pipe.zrem(self._queued, job.id)
            return _with(job, status=FAILED, finished_at=time.time(), reason="interrupted", message=LOST)

        return self._fail_each(lost, step)

    def _fail_each(self, ids: builtins.list[str], step: Callable[[Job, Any], Job | None]) -> int:
        """Run ``step`` on each record of ``ids``; how many it changed."""
        failed = 0
        for job_id in ids:
            job = self._change(job_id, step)
            if job is not None:
                job.log_transition()
                failed += 1
        return failed

    @contextlib.contextmanager
    def exclusive(self, name: str, wait: float = 60.0) -> Iterator[None]:
        """A Redis lock named ``name`` across every trainer (held 60 s at most). Raises
        StorageUnavailable if another holds it for ``wait`` seconds: the caller retries
        later rather than doing what the lock is there to make one trainer do."""
        with reaching("taking a lock"):
            lock = self.redis.lock(f"{self.prefix}:lock:{name}", timeout=60, blocking_timeout=wait)
            taken = lock.acquire()
        if not taken:
            raise StorageUnavailable(UNREACHABLE, f"the lock {name!r} is held by another trainer after {wait:g} s")
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError), reaching("releasing a lock"):
                lock.release()

    def reap(self) -> None:
        """Start (once) the thread that runs :meth:`fail_interrupted` every heartbeat / 2."""
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap_forever, name="job-reaper", daemon=True)
            self._reaper.start()

    def _reap_forever(self) -> None:
        while not self._closed.wait(self.heartbeat / 2):
            try:
                self.fail_interrupted()
            except Exception as e:  # Redis down: the next round tries again
                log.debug("reaping interrupted jobs failed: %s", e)

    def close(self) -> None:
        """Stop the reaper thread, if started (the connection pool is shared, and closes with
        the process)."""
        self._closed.set()


def _with(job: Job, **fields: Any) -> Job:
    return Job.from_dict({**job.to_dict(), **fields})
