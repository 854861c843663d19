"""The objects an API worker shares between requests, built once from the settings."""
from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings
from ..state.backend import open_state
from ..state.datasets import DatasetCatalog
from ..state.protocols import JobQueueProtocol, ModelStoreProtocol, ProbeProtocol
from .compute import ComputePool, ForwardCosts
from .model_cache import ModelCache
from .streams import StreamSlots


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: ModelStoreProtocol
    models: ModelCache
    queue: JobQueueProtocol
    catalog: DatasetCatalog
    storage: ProbeProtocol  # whether the shared state can be written (readiness, POST /train)
    pool: ComputePool  # the threads /predict decodes and predicts on
    forward_costs: ForwardCosts  # how fast each model version predicts: whether a request may run inline
    event_streams: StreamSlots  # the open GET /train/{id}/events streams of this worker

    @classmethod
    def build(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        state = open_state(settings, patient=False)  # a request gets 503, not a wait on a server that is down
        state.queue.reap()  # cluster mode: every replica watches for jobs whose trainer vanished
        return cls(
            settings=settings,
            store=state.store,
            models=ModelCache(state.store),
            queue=state.queue,
            catalog=state.catalog,
            storage=state.probe,
            pool=ComputePool(settings.predict_threads, settings.predict_queue),
            forward_costs=ForwardCosts(),
            event_streams=StreamSlots(settings.max_event_streams),
        )

    def close(self) -> None:
        """At the app's shutdown: stop the threads it started (the pool's; in cluster mode the
        reaper and the pointer's subscription, each with its Redis connection), so that an app
        shut down in a process that goes on (the tests' in-process apps) leaves none behind."""
        self.pool.close()
        self.queue.close()
        self.store.close()
