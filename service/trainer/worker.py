"""The trainer: takes queued jobs one at a time, trains, writes a model version.

``python -m service.trainer`` runs it as its own process (the supervisor starts it),
at a lower CPU priority than the API workers so predictions stay fast while it trains.
Each job trains in a child process (service/trainer/job_process.py) that the trainer kills
when the job is cancelled or the service stops, and that has the job's memory budget
as its address space; the trainer records the job and publishes its model.
Tests drive the same class in-process with :meth:`Trainer.run_once`.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from model_core import (
    RECORD_EVERY,
    ConfigError,
    DataError,
    TrainConfig,
    TrainingCancelled,
    TrainingDivergedError,
    build_metadata,
    recipe,
    train,
)

from ..settings import Settings, env_name
from ..state import metrics
from ..state.backend import open_state
from ..state.datasets import SYNTHETIC, DatasetCatalog, DatasetInfo, UnknownDataset
from ..state.jobs import CANCELLED, FAILED, SUCCEEDED, Job, progress_plan
from ..state.logs import request_id, setup_logging
from ..state.procs import die_with_parent, limit_blas_threads
from ..state.storage import StorageUnavailable
from ..state.protocols import JobQueueProtocol, ModelStoreProtocol
from ..state.store import Retention, VersionNotFound, VersionUnreadable
from .job_process import JobDied, JobFailed, JobProcess, Send, cap_address_space

log = logging.getLogger("service.trainer")

MAX_COST_POINTS = 1000  # the cost history kept in a job record
STORAGE_RETRY = 5.0  # seconds between two tries while the data directory cannot be written


# A running job's ETA: none until it can be estimated, then from the rate of its steps.
#
# The ETA used to be (time since the job started) / steps done * steps left. The job's
# start includes its set-up (the fork, reading the data set, the Gram matrix), which was
# then charged to each of the first few steps: a 2-4 s job showed 1537 s at its start.
# Here the clock starts at the first progress report instead, which comes after the first
# step, and the ETA stays unknown until MIN_STEPS steps and MIN_SECONDS have passed
# since: enough steps that a rate means something, enough time that timer noise does not.

MIN_STEPS = 3
MIN_SECONDS = 0.5


class Eta:
    """Seconds left of a run of ``total`` steps, from the steps reported to :meth:`update`."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.start: tuple[float, int] | None = None  # (time, steps done) at the first report

    def update(self, done: int) -> float | None:
        """Seconds left now that ``done`` steps are done; None while it cannot be estimated."""
        now = self.clock()
        if self.start is None:
            self.start = (now, done)
            return None
        t0, done0 = self.start
        steps, elapsed = done - done0, now - t0
        if steps < MIN_STEPS or elapsed < MIN_SECONDS:
            return None
        return elapsed / steps * (self.total - done)


class Trainer:
    def __init__(
        self,
        settings: Settings,
        *,
        queue: JobQueueProtocol | None = None,
        store: ModelStoreProtocol | None = None,
        catalog: DatasetCatalog | None = None,
    ) -> None:
        self.settings = settings
        if queue is None or store is None or catalog is None:
            state = open_state(settings)
            queue, store, catalog = queue or state.queue, store or state.store, catalog or state.catalog
        self.queue, self.store, self.catalog = queue, store, catalog
        self._stop = threading.Event()

    # -- life cycle
    def start_up(self) -> Job | None:
        """Recover from a crash, then make sure a first model is on its way."""
        interrupted = self.queue.fail_interrupted()
        if interrupted:
            log.warning("%d job(s) were running when the service stopped: marked failed (interrupted)", interrupted)
        with self.queue.exclusive("first-model"):  # cluster mode: one trainer of many does it
            return self.ensure_first_model()

    def ensure_first_model(self) -> Job | None:
        """With no model and no pending job, enqueue a job on the default data set."""
        versions = self.store.versions()
        if versions and self.store.active_version() is None:
            # a crash between writing a version and activating it: serve the newest readable one
            for version in reversed(versions):
                try:
                    self.store.activate(version)
                except (VersionNotFound, VersionUnreadable) as e:
                    log.warning("version %d cannot be served (%s); trying an older one", version, e)
                    continue
                log.warning("no active model version: activated the newest readable one, %d", version)
                break
            else:
                versions = []  # none can serve: train a first model as if there were none
        if versions or self.queue.pending():
            return None
        dataset = self.catalog.default(self.settings.default_dataset)
        # real pictures get the convolutional recipe (20-30 s here); the synthetic drawings the
        # course's net (a second), which is all they can teach anyway
        name = "course" if dataset == SYNTHETIC else "photos"
        config = recipe(name)
        total, unit = progress_plan(config)
        job = self.queue.enqueue(
            dataset, config.to_dict(), total=total, unit=unit, max_queued=self.settings.max_queued_jobs,
            options={"activate": True, "bootstrap": True, "recipe": name},
        )
        log.info("no model yet: queued job %s on data set %r (recipe %s)", job.id, dataset, name)
        return job

    def stop(self) -> None:
        """Ask the loop to stop; a running job's process is killed within job_process.POLL."""
        self._stop.set()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if stop() is called meanwhile."""
        self._stop.wait(seconds)

    def serve(self) -> None:
        """Run jobs until stop() is called; while the data directory cannot be written, wait."""
        while not self._stop.is_set():
            try:
                job = self.run_once()
            except StorageUnavailable as e:  # the queue itself cannot be written
                log.error("the job queue cannot be written: %s; trying again in %g s", e, STORAGE_RETRY)
                self._stop.wait(STORAGE_RETRY)
                continue
            if job is None:
                self._stop.wait(self.settings.poll_interval)

    def run_pending(self) -> list[Job]:
        """Run queued jobs until the queue is empty (tests use this)."""
        done = []
        while (job := self.run_once()) is not None:
            done.append(job)
        return done

    def run_once(self) -> Job | None:
        """Claim and run the oldest queued job; return it finished, or None if none waited."""
        job = self.queue.claim()  # each transition is logged by the queue
        if job is None:
            return None
        return self.run_claimed(job)

    def run_claimed(self, job: Job) -> Job:
        """Run a job this trainer has claimed; return it finished."""
        # the job's log lines carry the id of the request that queued it
        token = request_id.set(job.options.get("request_id"))
        try:
            return self._run(job)
        finally:
            metrics.job_idle()
            request_id.reset(token)

    # -- one job
    def _run(self, job: Job) -> Job:
        try:
            config = TrainConfig.from_dict(job.config)
            info, parameters, history = self._train(job, config)
            if self.queue.cancel_requested(job.id):  # cancelled after the last iteration
                raise TrainingCancelled(config.iterations)
            return self._publish(job, config, info, parameters, history)
        except TrainingCancelled:
            reason = "shutdown" if self._stop.is_set() and not self.queue.cancel_requested(job.id) else "cancelled"
            message = "the service was stopping" if reason == "shutdown" else "cancelled by request"
            return self._finish(job, CANCELLED, reason=reason, message=message)
        except StorageUnavailable as e:
            return self._fail(job, "storage_unavailable",
                              f"{e}; then start the job again with POST /train")
        except JobFailed as e:
            if e.reason == "error":
                log.error("job %s failed in its process:\n%s", job.id, e.detail)
            return self._fail(job, e.reason, e.message)
        except JobDied as e:
            log.error("job %s: %s", job.id, e)
            return self._fail(job, "crashed", f"{e}; see the service log")
        except ConfigError as e:
            return self._fail(job, "invalid_config", str(e))
        except MemoryError:
            # the trainer's own part (taking the result, publishing it) under its own cap
            return self._fail(job, "out_of_memory", _out_of_memory(None, self.settings.trainer_memory))
        except Exception:
            log.exception("job %s failed", job.id)
            return self._fail(job, "error", "internal error in the trainer; see the service log")

    def _fail(self, job: Job, reason: str, message: str) -> Job:
        return self._finish(job, FAILED, reason=reason, message=message)

    def _finish(self, job: Job, status: str, **fields: Any) -> Job:
        """Record how the job ended, trying again while the job queue cannot be written.

        The outcome is known, only its record waits; if the trainer is stopped meanwhile,
        the job stays ``running`` and the next start records it ``interrupted``.
        """
        while True:
            try:
                return self.queue.finish(job.id, status, **fields)
            except StorageUnavailable as e:
                if self._stop.is_set():
                    raise
                log.error("cannot record job %s as %s: %s; trying again in %g s", job.id, status, e, STORAGE_RETRY)
                self._stop.wait(STORAGE_RETRY)

    def _train(self, job: Job, config: TrainConfig) -> tuple[DatasetInfo, dict[str, Any], dict[str, Any]]:
        """Train in the job's own process; its progress is written to the queue here."""
        total, unit = progress_plan(config)
        stride = RECORD_EVERY if unit == "iteration" else max(1, total // MAX_COST_POINTS)
        interval = self.settings.progress_interval
        budget = self.settings.trainer_memory

        def work(send: Send) -> tuple[DatasetInfo, dict[str, Any], dict[str, Any]]:
            # in the job's process: the pipe is written at most every `interval` seconds
            data = self.catalog.load(job.dataset)
            new: list[list[float]] = []
            last = [0.0]

            def on_progress(done: int, total: int, cost: float) -> None:
                if (done - 1) % stride == 0 or done == total:
                    new.append([done - 1, float(cost)])
                now = time.monotonic()
                if now - last[0] >= interval or done == total:
                    send((done, float(cost), new[:]))
                    new.clear()
                    last[0] = now

            parameters, history = train(data.X, data.Y, config, X_dev=data.X_dev, Y_dev=data.Y_dev,
                                        on_progress=on_progress, threads=self.settings.train_threads)
            return data.info, parameters, history

        costs: list[list[float]] = []
        metrics.job_progress(0, total, float("nan"))  # running, no step done yet
        # timed here, as each report arrives: the pipe adds microseconds
        eta = Eta(total)

        def record(progress: tuple[int, float, list[list[float]]]) -> bool:
            done, cost, points = progress
            costs.extend(points)
            metrics.job_progress(done, total, cost)
            # True: cancel requested
            return self.queue.report_progress(job.id, done, cost, costs, eta=eta.update(done))

        def should_stop() -> bool:
            return self._stop.is_set() or self.queue.cancel_requested(job.id)

        process = JobProcess(work, lambda e, cap: _failure(e, cap, budget), budget)
        try:
            return process.wait(record, should_stop)
        finally:
            process.close()

    def _publish(
        self, job: Job, config: TrainConfig, info: DatasetInfo, parameters: dict[str, Any], history: dict[str, Any]
    ) -> Job:
        metrics: dict[str, Any] = {"train_accuracy": history["train_accuracy"]}
        if "dev_accuracy" in history:
            metrics["dev_accuracy"] = history["dev_accuracy"]
            metrics["dev_set"] = info.dev
        metadata = build_metadata(
            config, history, data_sha256=info.sha256, metrics=metrics,
            dataset={"name": info.id, "kind": info.kind, "synthetic": info.kind == "synthetic",
                     "m": info.m, "cats": info.cats, "sha256": info.sha256, "dev": info.dev},
            source={"kind": "job", "job_id": job.id}, recipe=job.options.get("recipe"),
        )
        version = self.store.add(parameters, metadata)
        if job.options.get("activate", True):
            # the first model must not replace one a user uploaded meanwhile
            if not (job.options.get("bootstrap") and self.store.active_version() is not None):
                self.store.activate(version)
        self.store.enforce_retention(Retention.from_settings(self.settings), keep=(version,))
        total, _ = progress_plan(config)
        return self._finish(
            job, SUCCEEDED, model_version=version, metrics=metrics,
            costs=_thin(metadata["costs"], MAX_COST_POINTS), done=total,
        )


def _failure(e: BaseException, cap: int, budget: int) -> tuple[str, str]:
    """(reason, message) of a job that raised ``e`` in its process (capped at ``cap`` bytes)."""
    if isinstance(e, MemoryError):
        return "out_of_memory", _out_of_memory(cap, budget)
    if isinstance(e, UnknownDataset):
        return "unknown_dataset", f"data set {e.args[0]!r} no longer exists"
    if isinstance(e, TrainingDivergedError):
        return "diverged", str(e)
    if isinstance(e, DataError):
        return "invalid_data", str(e)
    if isinstance(e, ConfigError):
        return "invalid_config", str(e)
    return "error", "internal error in the trainer; see the service log"


def _out_of_memory(cap: int | None, budget: int) -> str:
    """What a job that hit its memory cap tells its caller; ``cap`` None: the trainer's own part."""
    setting = env_name("trainer_memory")
    if cap is None:
        where = f"in the trainer, taking or publishing its result ({setting} = {budget >> 20} MiB)"
    else:
        where = (f"its process reached its cap of {cap >> 20} MiB of address space (the trainer's own "
                 f"footprint plus {setting} = {budget >> 20} MiB, or a lower limit the service runs under)")
    return (f"the job ran out of memory: {where}; use fewer units or examples, mini-batches or "
            f"float32, or raise {setting}")


def _thin(points: list[list[float]], limit: int) -> list[list[float]]:
    """At most about ``limit`` evenly spaced points, always keeping the last."""
    if len(points) <= limit:
        return points
    step = -(-len(points) // limit)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    die_with_parent()  # the supervisor died: stop too
    # lower priority than the API workers: predictions stay fast while a job trains
    os.nice(settings.trainer_nice)
    limit_blas_threads(settings.train_threads)
    # BLAS allocates its buffers at its first product: let that be part of the footprint
    # below, not of the first job's budget
    np.ones((64, 64)) @ np.ones((64, 64))
    # the trainer itself (the result it takes, the version it writes) has the same budget
    # on top of its own footprint; each job's process gets its own (job_process.py)
    cap = cap_address_space(settings.trainer_memory)
    try:
        metrics.start(settings)
        metrics.job_idle()
        if settings.cluster:
            from .cluster import serve  # RQ and redis: loaded only in cluster mode

            serve(settings)
            log.info("trainer stopped")
            return
        trainer = Trainer(settings)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: trainer.stop())
        trainer.start_up()
        log.info("trainer ready (nice %d, data directory %s, address space %d MiB, %d MiB a job)",
                 settings.trainer_nice, settings.data_dir, cap >> 20, settings.trainer_memory >> 20)
        trainer.serve()
    except StorageUnavailable as e:  # one line, not a traceback; the supervisor starts it again
        log.error("the trainer stops: %s", e)
        raise SystemExit(1) from None
    log.info("trainer stopped")
