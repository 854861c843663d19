"""Where a /predict's CPU work runs: a bounded pool of threads, or inline when it is tiny.

Decoding, building X and the forward pass release the GIL (Pillow's decoders and
resampling, NumPy's loops and BLAS), so a pool thread runs them while the event loop
goes on serving every other connection of the worker. The pool is bounded twice:
``threads`` run at once (CATSVC_PREDICT_THREADS) and ``queue`` more wait their turn
(CATSVC_PREDICT_QUEUE); the next request gets 503 PREDICT_QUEUE_FULL with Retry-After at
once, instead of waiting without bound while it holds its body in memory.

A request whose work is bounded tiny runs inline, on the loop, with no thread hop: one
image in a body of at most ``INLINE_BODY_BYTES`` whose decoding produces at most
``INLINE_PIXELS`` (or a JSON body of at most ``INLINE_BODY_BYTES``) and a
model whose measured forward pass is at most ``INLINE_FORWARD_SECONDS``: about 3 ms of
the loop at worst, and the common request. Measured with uvloop on one core, the hop
costs about as much CPU as such a request's work: a 64x64 PNG decoded and passed through
a 20-unit layer took 190 us inline, 390 us through the pool one at a time, 280 us with 8
at once. With a worker per core that CPU is lost throughput (README, "Design").
"""
from __future__ import annotations

import asyncio
import contextvars
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from model_core import Model

from ..state import metrics
from .inference import THRESHOLD
from .limits import predict_queue_full

T = TypeVar("T")

# A body this small holds one 64x64 PNG (1 to 13 kB) or one JSON instance of integers
# (at most 49 kB); orjson parses the latter in about 0.15 ms.
INLINE_BODY_BYTES = 64 * 1024
# Decoding costs at most about 64 ms per Mpx in the slowest format measured here (an RGBA
# PNG of smooth gradients; RGB PNG 13-27): 128 x 128 is 1 ms at worst. The bound is on the
# pixels decoded, so a JPEG counts after its DCT scaling (draft): a 500x375 photo decodes
# 125x94. Its entropy decoding still reads the whole file, which INLINE_BODY_BYTES bounds:
# the costliest JPEG measured within both (noise at quality 5, 1000x1000 in 64 kB) took 1.7 ms
# to decode and resize on a loaded core. A progressive JPEG's scans and the formats Pillow
# decodes in Python weigh more (model_core.images._decoding_work): a photo of the usual 10
# scans still counts as its decoded pixels, a small file of hundreds of scans as far more.
INLINE_PIXELS = 128 * 128
# The course's net takes about 60 us for one image, the photos CNN about 0.6 ms.
INLINE_FORWARD_SECONDS = 0.002


class ComputePool:
    """``threads`` threads and ``queue`` waiting places, per API worker."""

    def __init__(self, threads: int, queue: int) -> None:
        self.threads, self.queue = threads, queue
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="predict")
        # a slot is held until the work ends, not until its request gives up: a client that
        # disconnects does not free a thread that is still decoding its images
        self._slots = threading.BoundedSemaphore(threads + queue)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a pool thread (with the request's context: its id in the logs);
        503 PREDICT_QUEUE_FULL at once when every thread is busy and the queue is full."""
        if not self._slots.acquire(blocking=False):
            raise predict_queue_full(self.threads, self.queue)
        try:
            future = self._executor.submit(contextvars.copy_context().run, fn, *args)
        except BaseException:
            self._slots.release()
            raise
        # released when the work ends, or when a call cancelled before it started is dropped
        # (a release inside the call would never run for that one: the slot would leak)
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """No new work; the threads end once what runs has (not waited for here)."""
        self._executor.shutdown(wait=False)


class ForwardCosts:
    """The fastest forward pass seen of each model version, in seconds per example.

    Whether a small request's pass may run inline: a version not yet measured (its first
    request goes to the pool) or a large network (a 100 ms uploaded model) never does.
    The minimum, because a pass measured on a busy machine is slower than the model is.
    """

    def __init__(self) -> None:
        self._seconds: dict[int, float] = {}

    def cheap(self, version: int, m: int) -> bool:
        """Whether ``m`` examples take at most INLINE_FORWARD_SECONDS on ``version``."""
        seconds = self._seconds.get(version)
        return seconds is not None and seconds * m <= INLINE_FORWARD_SECONDS

    def predict_proba(self, version: int, model: Model, X: np.ndarray, api: str = "native") -> np.ndarray:
        """``model.predict_proba(X)`` (m,), timed, and counted for ``api`` (native, v2)."""
        start = time.perf_counter()
        proba = model.predict_proba(X)
        seconds = time.perf_counter() - start
        m = X.shape[1]
        self.observe(version, seconds / max(m, 1))
        # one example (the common request): a scalar comparison, not an array's count
        cats = (1 if proba[0] > THRESHOLD else 0) if m == 1 else int(np.count_nonzero(proba > THRESHOLD))
        metrics.forward(version, api, cats, m, seconds)
        return proba

    def observe(self, version: int, seconds_per_example: float) -> None:
        if seconds_per_example < self._seconds.get(version, math.inf):
            self._seconds[version] = seconds_per_example
