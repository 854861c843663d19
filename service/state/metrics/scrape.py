"""What ``GET /metrics`` answers: every process's files merged by prometheus-client's
``MultiProcessCollector``, and the job queue's depth read from the job database."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..jobs import QUEUED
from ..protocols import JobQueueProtocol
from ..storage import StorageUnavailable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text format every Prometheus reads
_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead(directory: Path) -> list[int]:
    """Drop the ``live*`` gauges of processes that have exited (a worker or a trainer that
    died and was replaced): prometheus-client's ``mark_process_dead`` for each; their pids."""
    dead = {int(m[1]) for p in directory.glob("gauge_live*.db") if (m := _LIVE_FILE.fullmatch(p.name))}
    dead = {pid for pid in dead if not _alive(pid)}
    for pid in sorted(dead):
        mark_process_dead(pid, str(directory))
    return sorted(dead)


class QueueDepth:
    """``catsvc_jobs_queued``: the jobs waiting, counted in the job database at each scrape
    (no process holds the number: API workers queue jobs, the trainer takes them)."""

    def __init__(self, queue: JobQueueProtocol) -> None:
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        try:
            queued = sum(1 for job in self.queue.pending() if job.status == QUEUED)
        except StorageUnavailable:  # cluster mode, Redis down: every other metric still answers
            return
        yield GaugeMetricFamily("catsvc_jobs_queued", "Training jobs waiting in the queue", value=queued)


def render(directory: Path, queue: JobQueueProtocol) -> bytes:
    """The Prometheus text of the whole service."""
    forget_dead(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    registry.register(QueueDepth(queue))
    return generate_latest(registry)
