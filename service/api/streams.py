"""Server-sent events of a training job: what ``GET /train/{id}/events`` sends, and the
per-worker bound on open streams.

Each stream reads its job's record (SQLite, on a thread: never on the event loop) a few
times a second and sends an event only when something changed: ``progress`` (status,
percent, ETA, the cost points new since the last event) and, once the job has ended,
``end`` with the whole record; then the stream closes. A comment line every
:data:`KEEPALIVE` seconds keeps proxies from closing a quiet stream, and a stream also
ends when the service is asked to stop, or after :data:`MAX_SECONDS` (EventSource
reconnects by itself, and a new stream starts with every point again).
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from ..state.jobs import FINISHED, Job, JobNotFound
from ..state.storage import StorageUnavailable
from .errors import ApiError, Code
from .limits import env_name
from .responses import dumps
from .schemas import job_out

KEEPALIVE = 15.0
MAX_SECONDS = 600.0


class StreamSlots:
    """At most ``limit`` open streams on this worker; touched on the event loop only."""

    def __init__(self, limit: int) -> None:
        self.limit, self.open = limit, 0

    def acquire(self) -> None:
        if self.open >= self.limit:
            raise ApiError(
                503, Code.TOO_MANY_EVENT_STREAMS,
                f"this worker already has {self.limit} event streams open, the limit "
                f"({env_name('max_event_streams')}); retry later, or poll GET /train/{{id}}",
                limit=self.limit, headers={"Retry-After": "5"},
            )
        self.open += 1

    def release(self) -> None:
        self.open -= 1


def event(name: str, data: Any) -> bytes:
    """One SSE event: ``event:`` and one ``data:`` line of JSON (orjson writes no newline)."""
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def progress_data(job: Job) -> dict[str, Any]:
    """``job`` as :meth:`JobQueue.get_since` reads it: its ``costs`` are the points not yet sent."""
    view = job_out(job)
    return {
        "status": view.status,
        "percent": view.progress.percent,
        "iteration": view.progress.iteration,
        "total": view.progress.total,
        "unit": view.progress.unit,
        "cost": view.progress.cost,
        "eta_seconds": view.progress.eta_seconds,
        "costs": job.costs,  # the points new since the last event
    }


async def job_events(read: Callable[[int], Job], whole: Callable[[], Job], slots: StreamSlots, interval: float,
                     stopping_file: str) -> AsyncIterator[bytes]:
    """The events of one job until it ends; ``read(sent)`` returns its record with the cost
    points from index ``sent`` on only (a long job's history is megabytes: never parsed at
    every read), ``whole()`` all of it, for the end. Releases its slot."""
    try:
        sent, last, quiet_since, started = 0, None, time.monotonic(), time.monotonic()
        while True:
            try:
                job: Job | None = await run_in_threadpool(read, sent)
            except JobNotFound:  # gone meanwhile: nothing more to say
                return
            except StorageUnavailable:  # cluster mode, Redis restarting: read again at the next tick
                job = None  # (the answer has started: an error can no longer be sent)
            if job is not None:
                data = progress_data(job)
                # the ETA alone counts down at every read: it travels with the next real change
                key = {**data, "eta_seconds": None, "costs": []}
                if key != last or data["costs"]:
                    yield event("progress", data)
                    sent += len(data["costs"])
                    last, quiet_since = key, time.monotonic()
                if job.status in FINISHED:
                    try:
                        yield event("end", job_out(await run_in_threadpool(whole)).model_dump(mode="json"))
                        return
                    except JobNotFound:
                        return
                    except StorageUnavailable:
                        pass  # the next tick reads it again
            now = time.monotonic()
            if os.path.exists(stopping_file) or now - started > MAX_SECONDS:
                return
            if now - quiet_since > KEEPALIVE:
                yield b": keep-alive\n\n"
                quiet_since = now
            await asyncio.sleep(interval)
    finally:
        slots.release()
