"""The objects an API worker shares between requests, built once from the settings."""
from __future__ import annotations

from dataclasses import dataclass

from .datasets import DatasetCatalog, Limits
from .jobs import JobQueue
from .model_cache import ModelCache
from .settings import Settings
from .store import ModelStore, Retention


def make_catalog(settings: Settings) -> DatasetCatalog:
    limits = Limits(
        max_bytes=settings.max_dataset_bytes,
        max_members=settings.max_dataset_members,
        max_pixels=settings.max_image_pixels,
    )
    return DatasetCatalog(settings.uploads_dir, settings.datasets_dir, limits)


def retention(settings: Settings) -> Retention:
    return Retention(count=settings.keep_versions, bytes=settings.keep_version_bytes)


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: ModelStore
    models: ModelCache
    queue: JobQueue
    catalog: DatasetCatalog

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
        )
