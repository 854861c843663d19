"""The service's Prometheus metrics: every process counts into its own files in one
directory (prometheus-client's multiprocess format, :mod:`.files`), and ``GET /metrics``
merges them (:mod:`.scrape`). README, "Metrics", lists them.

The calls below are what the service counts with. Until :func:`start` (and for good with
``CATSVC_METRICS=false``) each is a function that does nothing, so a service without
metrics pays one call per point, not the counting.
"""
from __future__ import annotations

import logging
from typing import Any

from ...settings import Settings

log = logging.getLogger("service.metrics")

UNMATCHED = "unmatched"  # the route label of a path no route has (404): never the path itself
REFUSED = "refused"  # ... of a request the HTTP protocol refused before the app saw it


def _nothing(*_: Any) -> None:
    return None


# the hot path (see families.py); rebound by start()
request = error = decoded = forward = _nothing  # (route, method, status, seconds), (code), (seconds), (...)
loaded = job_progress = job_idle = job_finished = _nothing
enabled = False


def start(settings: Settings, *, api_worker: bool = False) -> bool:
    """Count from now on into ``settings.metrics_directory`` (made if missing), if metrics are on;
    whether they are. An API worker also counts itself among the live workers."""
    global request, error, decoded, forward, loaded, job_progress, job_idle, job_finished, enabled
    if not settings.metrics:
        return False
    directory = settings.metrics_directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        log.warning("metrics are off in this process: cannot make %s (%s)", directory, e.strerror)
        return False
    from . import families, files

    files.write_to(directory)
    families.bind()
    request, error, decoded, forward = families._request, families._error, families._decoded, families._forward
    loaded, job_progress, job_idle = families._loaded, families._job_progress, families._job_idle
    job_finished = families._job_finished
    enabled = True
    if api_worker:
        families.WORKERS.set(1)
    return True


def clean(settings: Settings) -> None:
    """Remove the metrics files of a previous run (the supervisor, before any child starts)."""
    directory = settings.metrics_directory  # each process makes it when it starts counting
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)
