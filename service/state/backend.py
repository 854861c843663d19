"""The one place that picks the shared state's implementation from the settings:
the data directory (the default), or Redis and an object store (``CATSVC_REDIS_URL``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .datasets import DatasetCatalog
from .jobs import JobQueue
from .storage import StorageProbe
from .store import ModelStore

if TYPE_CHECKING:
    from ..settings import Settings
    from .protocols import JobQueueProtocol, ModelStoreProtocol, ProbeProtocol


@dataclass(frozen=True)
class State:
    """The shared state of one process."""

    store: ModelStoreProtocol
    queue: JobQueueProtocol
    catalog: DatasetCatalog
    probe: ProbeProtocol  # whether it can be written now (readiness, POST /train)


def open_state(settings: Settings, *, patient: bool = True) -> State:
    """The state the settings name; opening needs no server (each connects on first use).

    ``patient``: in cluster mode, Redis commands retry through a restart of the server (a
    trainer's); else for about a second only (an API worker's: it answers 503 instead).
    """
    if settings.cluster:
        return _cluster(settings, patient)
    return State(
        store=ModelStore(settings.data_dir),
        queue=JobQueue(settings.jobs_db),
        catalog=DatasetCatalog.from_settings(settings),
        probe=StorageProbe(settings.writable_dirs),
    )


def _cluster(settings: Settings, patient: bool) -> State:
    # imported here: the embedded default needs neither redis nor boto3 loaded
    from .cluster.connect import redis_client, s3_client
    from .cluster.pointer import ActivePointer, shared
    from .cluster.probe import ClusterProbe
    from .cluster.redis_jobs import RedisJobQueue
    from .cluster.s3_store import S3ModelStore
    from .cluster.s3_uploads import S3Uploads

    r = redis_client(settings, "patient" if patient else "brief")
    quick, s3 = redis_client(settings, "quick"), s3_client(settings)
    prefix, bucket = settings.cluster_prefix, settings.s3_bucket
    assert settings.redis_url is not None
    pointer = shared(settings.redis_url, f"{prefix}:active", lambda: ActivePointer(r, quick, f"{prefix}:active"))
    return State(
        store=S3ModelStore(s3, bucket, prefix, r, pointer, settings.data_dir / "cache" / "models"),
        queue=RedisJobQueue(r, prefix, settings.job_heartbeat),
        catalog=DatasetCatalog.from_settings(settings, S3Uploads(s3, bucket, prefix)),
        probe=ClusterProbe(quick, s3, bucket),
    )
