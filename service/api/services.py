"""The objects an API worker shares between requests, built once from the settings."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..state.datasets import DatasetCatalog, Limits
from ..state.jobs import JobQueue
from .model_cache import ModelCache
from ..settings import Settings
from ..state.storage import StorageProbe
from ..state.store import ModelStore, Retention


def make_catalog(settings: Settings) -> DatasetCatalog:
    limits = Limits(
        max_bytes=settings.max_dataset_bytes,
        max_members=settings.max_dataset_members,
        max_pixels=settings.max_image_pixels,
    )
    return DatasetCatalog(settings.uploads_dir, settings.datasets_dir, limits)


def retention(settings: Settings) -> Retention:
    return Retention(count=settings.keep_versions, bytes=settings.keep_version_bytes)


def writable_dirs(settings: Settings) -> list[Path]:
    """The places under the data directory that the service writes."""
    return [settings.data_dir, settings.models_dir, settings.uploads_dir, settings.tmp_dir]


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: ModelStore
    models: ModelCache
    queue: JobQueue
    catalog: DatasetCatalog
    storage: StorageProbe  # whether the data directory can be written (readiness, POST /train)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        store = ModelStore(settings.data_dir)
        return cls(
            settings=settings,
            store=store,
            models=ModelCache(store),
            queue=JobQueue(settings.jobs_db),
            catalog=make_catalog(settings),
            storage=StorageProbe(writable_dirs(settings)),
        )
