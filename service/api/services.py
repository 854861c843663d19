"""The objects an API worker shares between requests, built once from the settings."""
from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings
from ..state.datasets import DatasetCatalog
from ..state.jobs import JobQueue
from ..state.storage import StorageProbe
from ..state.store import ModelStore
from .compute import ComputePool, ForwardCosts
from .model_cache import ModelCache
from .streams import StreamSlots


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: ModelStore
    models: ModelCache
    queue: JobQueue
    catalog: DatasetCatalog
    storage: StorageProbe  # whether the data directory can be written (readiness, POST /train)
    pool: ComputePool  # the threads /predict decodes and predicts on
    forward_costs: ForwardCosts  # how fast each model version predicts: whether a request may run inline
    event_streams: StreamSlots  # the open GET /train/{id}/events streams of this worker

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
            catalog=DatasetCatalog.from_settings(settings),
            storage=StorageProbe(settings.writable_dirs),
            pool=ComputePool(settings.predict_threads, settings.predict_queue),
            forward_costs=ForwardCosts(),
            event_streams=StreamSlots(settings.max_event_streams),
        )
