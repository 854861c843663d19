"""The job queue and job records, in SQLite (WAL mode) in the data directory.

Every process opens the same file: API workers enqueue, read and cancel; the trainer
claims, reports progress and finishes. Each state change is one transaction, so a job
is always in exactly one of the states below. This class is the seam for a shared
database later: nothing else runs SQL. A write that the storage refuses (read-only,
full) raises :class:`service.state.storage.StorageUnavailable` and changes nothing.

    queued --claim--> running --finish--> succeeded | failed | cancelled
    queued --cancel--> cancelled
"""
from __future__ import annotations

import builtins  # JobQueue.list shadows the type in its class's annotations
import contextlib
import dataclasses
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import metrics as counters  # `metrics` is a job field here
from .storage import writing

if TYPE_CHECKING:
    from model_core import TrainConfig

log = logging.getLogger("service.jobs")

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    dataset TEXT NOT NULL,
    config TEXT NOT NULL,
    options TEXT NOT NULL,
    queued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL,
    unit TEXT NOT NULL,
    cost REAL,
    eta REAL,
    progress_at REAL,
    costs TEXT NOT NULL DEFAULT '[]',
    metrics TEXT,
    model_version INTEGER,
    reason TEXT,
    message TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
"""
# columns added since the first schema: a data directory written before gets them at start-up
_ADDED_COLUMNS = {"eta": "REAL", "progress_at": "REAL"}


class QueueFull(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} jobs are already queued")
        self.limit = limit


class JobNotFound(LookupError):
    pass


class JobFinished(Exception):
    """The job has already finished; it can no longer be cancelled."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Job:
    """One job record, as stored."""

    id: str
    status: str
    dataset: str
    config: dict[str, Any]
    options: dict[str, Any]
    queued_at: float
    started_at: float | None
    finished_at: float | None
    done: int
    total: int
    unit: str  # "iteration" (full batch) or "epoch" (mini-batches)
    cost: float | None
    eta: float | None  # seconds left as estimated at the last progress write (None: not yet)
    progress_at: float | None  # when that write happened
    costs: list[list[float]]
    metrics: dict[str, Any] | None
    model_version: int | None
    reason: str | None
    message: str | None
    cancel_requested: bool

    def count_finished(self) -> None:
        """The finished job in the metrics: its status, reason and training time (none if it
        never started: cancelled while queued). Called once, by whoever ended it."""
        ran = self.finished_at - self.started_at if self.finished_at and self.started_at else None
        counters.job_finished(self.status, self.reason, ran)

    def log_transition(self, **more: Any) -> None:
        """The job's log line (one per state change), with the id of the request that queued it."""
        fields: dict[str, Any] = {"job_id": self.id, "status": self.status, "dataset": self.dataset}
        if self.reason:
            fields["reason"] = self.reason
        if self.model_version is not None:
            fields["model_version"] = self.model_version
        if self.options.get("request_id"):
            fields["request_id"] = self.options["request_id"]
        fields.update(more)
        log.info("job %s", self.status, extra={"fields": fields})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Job:
        return cls(**fields)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=row["id"],
            status=row["status"],
            dataset=row["dataset"],
            config=json.loads(row["config"]),
            options=json.loads(row["options"]),
            queued_at=row["queued_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            done=row["done"],
            total=row["total"],
            unit=row["unit"],
            cost=row["cost"],
            eta=row["eta"],
            progress_at=row["progress_at"],
            costs=json.loads(row["costs"]),
            metrics=json.loads(row["metrics"]) if row["metrics"] else None,
            model_version=row["model_version"],
            reason=row["reason"],
            message=row["message"],
            cancel_requested=bool(row["cancel_requested"]),
        )


# a job's row with ``costs`` holding only the points from index ? on (json_each goes in array order)
_SINCE = (
    "SELECT " + ", ".join(f.name for f in fields(Job) if f.name != "costs")
    + ", (SELECT json_group_array(json(value)) FROM (SELECT value FROM json_each(jobs.costs) WHERE key >= ?"
    " ORDER BY key)) AS costs FROM jobs WHERE id = ?"
)


class JobQueue:
    """Jobs in ``path`` (SQLite); safe to use from several threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        with writing(self.path.parent):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db().executescript(_SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        """Add the columns a queue made by an older version lacks (in one transaction, as
        every process of the service opens the queue at once)."""
        with self._tx() as db:
            have = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    def _db(self) -> sqlite3.Connection:
        # one connection per thread: sqlite3 connections must not cross threads
        db = getattr(self._local, "db", None)
        if db is None:
            with writing(self.path.parent):  # opening creates the -wal and -shm files
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")  # a job record must survive a crash
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so read-then-write steps cannot race."""
        db = self._db()
        with writing(self.path.parent):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back by itself (a full disk): then there is nothing to undo
                if db.in_transaction:
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- API side
    def enqueue(
        self, dataset: str, config: dict[str, Any], *, total: int, unit: str,
        max_queued: int, options: dict[str, Any] | None = None,
    ) -> Job:
        """Add a queued job; raise QueueFull when ``max_queued`` jobs already wait."""
        job_id = uuid.uuid4().hex[:16]
        with self._tx() as db:
            (waiting,) = db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (QUEUED,)).fetchone()
            if waiting >= max_queued:
                raise QueueFull(max_queued)
            db.execute(
                "INSERT INTO jobs (id, status, dataset, config, options, queued_at, total, unit)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, QUEUED, dataset, json.dumps(config), json.dumps(options or {}), time.time(), total, unit),
            )
        job = self.get(job_id)
        job.log_transition()
        return job

    def get(self, job_id: str) -> Job:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return Job.from_row(row)

    def get_since(self, job_id: str, sent: int) -> Job:
        """The job with only the cost points from index ``sent`` on in ``costs``: SQLite slices
        the history (megabytes for a long job) so that a reader polling it (an event stream)
        parses only what is new."""
        row = self._db().execute(_SINCE, (sent, job_id)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return Job.from_row(row)

    def list(self, limit: int = 100, offset: int = 0) -> list[Job]:
        """Jobs, newest first."""
        rows = self._db().execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ? OFFSET ?", (limit, offset))
        return [Job.from_row(r) for r in rows]

    def pending(self) -> builtins.list[Job]:
        """Running and queued jobs, the running one first, then in queue order."""
        rows = self._db().execute(
            "SELECT * FROM jobs WHERE status IN (?, ?) ORDER BY status = ? DESC, seq", (RUNNING, QUEUED, RUNNING)
        )
        return [Job.from_row(r) for r in rows]

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one is asked to stop."""
        with self._tx() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            if row["status"] == QUEUED:
                db.execute(
                    "UPDATE jobs SET status = ?, finished_at = ?, reason = 'cancelled',"
                    " message = 'cancelled before it started', cancel_requested = 1 WHERE id = ?",
                    (CANCELLED, time.time(), job_id),
                )
            elif row["status"] == RUNNING:
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            else:
                raise JobFinished(row["status"])
        job = self.get(job_id)
        job.log_transition(cancel_requested=True)
        if job.status == CANCELLED:  # cancelled while queued: ended here
            job.count_finished()
        return job

    # -- trainer side
    def claim(self, job_id: str | None = None) -> Job | None:
        """Move ``job_id`` (default: the oldest queued job) to running and return it; None if
        it is not queued, or the queue is empty."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE status = ? AND (? IS NULL OR id = ?) ORDER BY seq LIMIT 1",
                             (QUEUED, job_id, job_id)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = ?, started_at = ? WHERE id = ?", (RUNNING, time.time(), row["id"]))
        job = self.get(row["id"])
        job.log_transition()
        return job

    def report_progress(
        self, job_id: str, done: int, cost: float, costs: builtins.list[builtins.list[float]], eta: float | None = None,
    ) -> bool:
        """Store progress and the seconds left (None: not known yet); return whether a cancel
        was requested (one round trip for both)."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET done = ?, cost = ?, costs = ?, eta = ?, progress_at = ? WHERE id = ?",
                (done, cost, json.dumps(costs), eta, time.time(), job_id),
            )
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def cancel_requested(self, job_id: str) -> bool:
        row = self._db().execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def finish(
        self, job_id: str, status: str, *, model_version: int | None = None,
        metrics: dict[str, Any] | None = None, costs: builtins.list[builtins.list[float]] | None = None,
        done: int | None = None, reason: str | None = None, message: str | None = None,
    ) -> Job:
        assert status in FINISHED
        with self._tx() as db:
            changed = db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, model_version = ?, metrics = ?,"
                " costs = COALESCE(?, costs), done = COALESCE(?, done), reason = ?, message = ?"
                " WHERE id = ? AND status = ?",
                (status, time.time(), model_version, json.dumps(metrics) if metrics is not None else None,
                 json.dumps(costs) if costs is not None else None, done, reason, message, job_id, RUNNING),
            ).rowcount
        job = self.get(job_id)
        job.log_transition()
        if changed:
            job.count_finished()
        return job

    def fail_interrupted(self) -> int:
        """Mark jobs left ``running`` by a process that died as failed; return how many.

        Every running job's trainer is gone when this runs: the data directory's lock says
        no other service uses it, and the trainer is started after this."""
        with self._tx() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM jobs WHERE status = ?", (RUNNING,))]
            db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, reason = 'interrupted',"
                " message = 'the service stopped while this job ran; start it again with POST /train'"
                " WHERE status = ?",
                (FAILED, time.time(), RUNNING),
            )
        for job_id in ids:
            self.get(job_id).log_transition()
        return len(ids)


    def exclusive(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Nothing to exclude: one trainer per data directory."""
        return contextlib.nullcontext()

    def reap(self) -> None:
        """Nothing to watch: one service owns the data directory (its lock), and its start-up
        records the jobs a dead trainer left running (:meth:`fail_interrupted`)."""


def progress_plan(config: TrainConfig) -> tuple[int, str]:
    """(total steps, unit) of a run: epochs with mini-batches, else iterations."""
    if config.mini_batch:
        assert config.epochs is not None
        return config.epochs, "epoch"
    return config.iterations, "iteration"
