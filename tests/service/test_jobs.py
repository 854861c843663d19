"""service.jobs: the SQLite job queue and its records."""
from __future__ import annotations

from pathlib import Path

import pytest

from service.state.jobs import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobFinished, JobNotFound, JobQueue, QueueFull


@pytest.fixture
def queue(tmp_path: Path) -> JobQueue:
    return JobQueue(tmp_path / "jobs.sqlite")


def add(queue: JobQueue, max_queued: int = 10) -> str:
    return queue.enqueue("synthetic", {"iterations": 5}, total=5, unit="iteration", max_queued=max_queued).id


def test_jobs_run_in_order_through_their_states(queue: JobQueue) -> None:
    a, b = add(queue), add(queue)
    assert queue.get(a).status == QUEUED
    assert [j.id for j in queue.pending()] == [a, b]
    claimed = queue.claim()
    assert claimed is not None and claimed.id == a and claimed.status == RUNNING and claimed.started_at
    assert [j.id for j in queue.pending()] == [a, b]  # the running one first
    assert queue.report_progress(a, 3, 0.5, [[0, 0.7], [2, 0.5]]) is False
    job = queue.get(a)
    assert (job.done, job.cost, job.costs) == (3, 0.5, [[0, 0.7], [2, 0.5]])
    done = queue.finish(a, SUCCEEDED, model_version=4, metrics={"train_accuracy": 1.0}, done=5)
    assert (done.status, done.model_version, done.metrics, done.done) == (SUCCEEDED, 4, {"train_accuracy": 1.0}, 5)
    assert done.finished_at is not None and done.finished_at >= done.started_at  # type: ignore[operator]
    assert [j.id for j in queue.list()] == [b, a]


def test_the_queue_is_bounded(queue: JobQueue) -> None:
    add(queue, max_queued=2)
    add(queue, max_queued=2)
    with pytest.raises(QueueFull):
        add(queue, max_queued=2)
    queue.claim()  # a running job no longer counts against the queue
    add(queue, max_queued=2)


def test_cancel(queue: JobQueue) -> None:
    a, b = add(queue), add(queue)
    queue.claim()
    running = queue.cancel(a)
    assert running.status == RUNNING and running.cancel_requested
    assert queue.report_progress(a, 1, 0.1, []) is True
    assert queue.cancel(b).status == CANCELLED
    assert queue.claim() is None
    queue.finish(a, CANCELLED, reason="cancelled")
    with pytest.raises(JobFinished):
        queue.cancel(a)
    with pytest.raises(JobNotFound):
        queue.cancel("nope")


def test_records_survive_a_restart_and_running_jobs_become_interrupted(tmp_path: Path) -> None:
    first = JobQueue(tmp_path / "jobs.sqlite")
    a, b = add(first), add(first)
    first.claim()
    first.close()
    again = JobQueue(tmp_path / "jobs.sqlite")
    assert again.fail_interrupted() == 1
    job = again.get(a)
    assert (job.status, job.reason) == (FAILED, "interrupted")
    assert again.get(b).status == QUEUED
    assert again.fail_interrupted() == 0


def test_progress_keeps_the_eta_and_when_it_was_estimated(queue: JobQueue) -> None:
    a = add(queue)
    queue.claim()
    queue.report_progress(a, 1, 0.7, [])
    assert queue.get(a).eta is None and queue.get(a).progress_at is not None
    queue.report_progress(a, 4, 0.6, [], eta=12.5)
    job = queue.get(a)
    assert job.eta == 12.5 and job.progress_at is not None and job.progress_at >= job.started_at  # type: ignore[operator]


def test_a_queue_made_before_the_eta_columns_gets_them(tmp_path: Path) -> None:
    import sqlite3

    from service.state.jobs import _SCHEMA

    old = _SCHEMA.replace("    eta REAL,\n    progress_at REAL,\n", "")
    assert "eta" not in old
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(old)
        db.execute("INSERT INTO jobs (id, status, dataset, config, options, queued_at, total, unit)"
                   " VALUES ('old', 'succeeded', 'synthetic', '{}', '{}', 1.0, 5, 'iteration')")
    db.close()
    queue = JobQueue(path)
    assert queue.get("old").eta is None  # the old record reads, with the new fields empty
    a = add(queue)
    queue.claim()
    queue.report_progress(a, 4, 0.6, [], eta=3.0)
    assert queue.get(a).eta == 3.0
    JobQueue(path)  # a second process opening it adds nothing twice


def test_get_since_returns_the_record_with_only_the_new_cost_points(queue: JobQueue) -> None:
    """What an event stream reads a few times a second: a long job's history (up to 200 000
    points, megabytes of JSON) is sliced by SQLite, not parsed in Python at every read."""
    a = add(queue)
    queue.claim()
    costs = [[i * 100, 1.0 / (i + 1)] for i in range(5000)]
    queue.report_progress(a, 3, 0.5, costs)
    full = queue.get(a)
    for sent in (0, 1, 4999, 5000, 7000):
        since = queue.get_since(a, sent)
        assert since.costs == costs[sent:]
        assert (since.status, since.done, since.cost, since.config) == (full.status, full.done, full.cost, full.config)
    with pytest.raises(JobNotFound):
        queue.get_since("nope", 0)
