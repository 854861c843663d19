"""Every metric of the service (README, "Metrics"), and the calls that count.

The hot path (a one-PNG /predict: one request, one image decoded, one forward pass)
makes six writes; each goes through a label child bound once and kept (a dict lookup
of a tuple for the request's route, method and status), never through ``labels()``,
which builds a dict and a key per call. Histograms are observed with a bisection over
their bounds (:class:`FastHistogram`), not prometheus-client's loop over every bucket.

Gauge modes (how the scrape merges the processes' values):

* ``catsvc_model_active_version``: ``livemostrecent``. Each API worker sets it when it
  loads a version (and the worker that answers a scrape looks first), so the newest
  setting is the pointer's latest version; a dead worker's stale one is dropped.
* ``catsvc_api_workers``: ``livesum``. Each worker sets 1: the sum is the workers alive.
* ``catsvc_job_running``, ``catsvc_job_progress_ratio``, ``catsvc_job_iterations_done``,
  ``catsvc_job_cost``: ``livemostrecent``. Only the trainer sets them; a trainer that
  died (its job is then interrupted) takes its values with it.
* ``catsvc_jobs_queued`` is no file's gauge: the scrape counts the queue in the job
  database (:mod:`.scrape`), the one place that knows it.
``max`` / ``min`` are not used: no number here is the largest or smallest of the processes'.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from .files import FileValue, lock  # first: its value class is in place before any metric is made

# sub-millisecond (a cached health probe) to seconds (a 40 Mpx upload)
SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 30.0, 60.0)
BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
TRAINING_SECONDS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)

REQUEST_SECONDS = Histogram(
    "catsvc_http_request_duration_seconds", "Requests by route template, method and status: seconds to answer",
    ["route", "method", "status"], buckets=SECONDS, registry=None)
ERRORS = Counter("catsvc_errors", "Error answers by their stable code", ["code"], registry=None)
PREDICTIONS = Counter("catsvc_predictions", "Predictions (images or instances) by label, model version and API",
                      ["label", "model_version", "api"], registry=None)
IMAGES_DECODED = Counter("catsvc_images_decoded", "Uploaded images decoded (native and V2)", registry=None)
DECODE_SECONDS = Histogram("catsvc_image_decode_seconds", "Seconds to decode one image to 64x64x3",
                           buckets=SECONDS, registry=None)
INFERENCE_SECONDS = Histogram("catsvc_inference_seconds", "Seconds of one forward pass over a batch",
                              buckets=SECONDS, registry=None)
BATCH_SIZE = Histogram("catsvc_batch_size", "Examples per forward pass", buckets=BATCH, registry=None)
ACTIVE_VERSION = Gauge("catsvc_model_active_version", "The active model version, as the API workers serve it",
                       multiprocess_mode="livemostrecent", registry=None)
RELOADS = Counter("catsvc_model_reloads", "Model versions loaded by an API worker, by outcome", ["outcome"],
                  registry=None)
WORKERS = Gauge("catsvc_api_workers", "API worker processes alive", multiprocess_mode="livesum", registry=None)
JOBS_FINISHED = Counter("catsvc_jobs_finished", "Training jobs by final status and reason", ["status", "reason"],
                        registry=None)
TRAINING_SECONDS_H = Histogram("catsvc_training_duration_seconds", "Seconds a training job ran, by final status",
                               ["status"], buckets=TRAINING_SECONDS, registry=None)
JOB_RUNNING = Gauge("catsvc_job_running", "1 while the trainer runs a job", multiprocess_mode="livemostrecent",
                    registry=None)
JOB_PROGRESS = Gauge("catsvc_job_progress_ratio", "The running job's steps done / steps, 0..1",
                     multiprocess_mode="livemostrecent", registry=None)
JOB_DONE = Gauge("catsvc_job_iterations_done", "The running job's steps done (iterations or epochs)",
                 multiprocess_mode="livemostrecent", registry=None)
JOB_COST = Gauge("catsvc_job_cost", "The running job's last cost (NaN: no job runs)",
                 multiprocess_mode="livemostrecent", registry=None)


class FastCounter:
    """A counter's label child, added to in its file's view: no method calls on the way."""

    __slots__ = ("_index", "_view")

    def __init__(self, child: Any) -> None:
        value: FileValue = child._value  # prometheus-client's attribute of a child (read back by the tests)
        self._view, self._index = value.view, value.index

    def inc(self, amount: float = 1) -> None:
        with lock:
            self._view[self._index] += amount


class FastHistogram:
    """A histogram's label child, observed by bisection (the bucket prometheus-client's own
    ``observe`` picks: the first bound >= the value) and two additions under one lock."""

    __slots__ = ("_bounds", "_buckets", "_sum")

    def __init__(self, child: Any) -> None:
        # prometheus-client's own attributes of a child; tests/service/test_metrics.py reads
        # the scrape back, so a release that renames them fails there
        self._bounds = child._upper_bounds
        self._buckets = [(v.view, v.index) for v in child._buckets]
        self._sum = (child._sum.view, child._sum.index)

    def observe(self, value: float) -> None:
        view, index = self._buckets[bisect_left(self._bounds, value)]
        total, at = self._sum
        with lock:
            total[at] += value
            view[index] += 1


class _Bound:
    """The children the hot path counts into, made once its values have their files."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int | None], FastHistogram] = {}
        self.errors: dict[str, FastCounter] = {}
        self.predictions: dict[tuple[int, str], tuple[FastCounter, FastCounter]] = {}  # (version, api) -> cat, non-cat
        self.decode = FastHistogram(DECODE_SECONDS)
        self.inference = FastHistogram(INFERENCE_SECONDS)
        self.batch = FastHistogram(BATCH_SIZE)
        self.images = FastCounter(IMAGES_DECODED)


_bound = _Bound()


def bind() -> None:
    """After :func:`service.state.metrics.files.write_to`: the hot path's children anew."""
    global _bound
    _bound = _Bound()


def _request(route: str, method: str, status: int | None, seconds: float) -> None:
    children = _bound.requests
    child = children.get((route, method, status))
    if child is None:
        child = children[(route, method, status)] = FastHistogram(
            REQUEST_SECONDS.labels(route, method, str(status or "none")))
    child.observe(seconds)


def _error(code: str) -> None:
    child = _bound.errors.get(code)
    if child is None:
        child = _bound.errors[code] = FastCounter(ERRORS.labels(code))
    child.inc()


def _decoded(seconds: float) -> None:
    _bound.images.inc()
    _bound.decode.observe(seconds)


def _forward(version: int, api: str, cats: int, m: int, seconds: float) -> None:
    bound = _bound
    children = bound.predictions.get((version, api))
    if children is None:
        children = bound.predictions[(version, api)] = (
            FastCounter(PREDICTIONS.labels("cat", str(version), api)),
            FastCounter(PREDICTIONS.labels("non-cat", str(version), api)))
    if cats:
        children[0].inc(cats)
    if m - cats:
        children[1].inc(m - cats)
    bound.inference.observe(seconds)
    bound.batch.observe(m)


def _loaded(version: int | None, ok: bool) -> None:
    RELOADS.labels("loaded" if ok else "failed").inc()
    if version is not None:
        ACTIVE_VERSION.set(version)  # mostrecent: prometheus-client stamps it with the time


def _job_progress(done: int, total: int, cost: float) -> None:
    JOB_RUNNING.set(1)
    JOB_DONE.set(done)
    JOB_PROGRESS.set(done / total if total else 0.0)
    JOB_COST.set(cost)


def _job_idle() -> None:
    JOB_RUNNING.set(0)
    JOB_DONE.set(0)
    JOB_PROGRESS.set(0)
    JOB_COST.set(math.nan)


def _job_finished(status: str, reason: str | None, seconds: float | None) -> None:
    JOBS_FINISHED.labels(status, reason or "").inc()
    if seconds is not None:
        TRAINING_SECONDS_H.labels(status).observe(seconds)
