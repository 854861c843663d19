"""Timing a server from the test process, without the test process's own pauses."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The test process's cyclic collector off while a test bounds a latency in milliseconds.

    A full collection runs on whichever thread allocates and holds the GIL throughout, so
    the client's clock runs on while it lasts: pytest's process holds every test module,
    hypothesis, boto3 and, in cluster mode, moto's S3 server (190,000 objects in a bare
    process with moto, 110 to 130 ms a full collection on this machine; a CI run's
    process, nine minutes in, timed one /health/live at 201 ms while the server's loop was
    free). One collection first, outside the timing, so that nothing piles up meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
