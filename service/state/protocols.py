"""The shared state's seams: what the API and the trainer ask of it, one protocol each.

Two implementations of every one: the embedded default (files and SQLite in the data
directory: :mod:`.store`, :mod:`.jobs`, :mod:`.datasets`, :mod:`.storage`) and cluster
mode (Redis and an S3-compatible object store: :mod:`.cluster`). :mod:`.backend` picks
them from the settings, in one place; nothing else knows which one runs.
"""
from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from model_core import Model

    from .datasets import DatasetInfo
    from .jobs import Job
    from .storage import StorageUnavailable
    from .store import Retention


class ModelStoreProtocol(Protocol):
    """Immutable model versions (numbered 1, 2, ..., never given twice) and the active pointer."""

    def versions(self) -> list[int]: ...
    def exists(self, version: int) -> bool: ...
    def model_path(self, version: int) -> Path:
        """A local file of the version's .npz (VersionNotFound)."""
    def metadata(self, version: int) -> dict[str, Any]: ...
    def load(self, version: int) -> Model: ...
    def active_stamp(self) -> Any:
        """A cheap token that changes whenever the pointer may have changed."""
    def active_version(self) -> int | None: ...
    def activate(self, version: int) -> None: ...
    def delete(self, version: int) -> None: ...
    def enforce_retention(self, retention: Retention, keep: tuple[int, ...] = ()) -> list[int]: ...
    def add(self, parameters: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> int: ...
    def remove_partial(self) -> int: ...
    def on_switch(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(stamp)`` (on another thread) when the pointer changed, before
        :meth:`active_stamp` returns that stamp, if the backend can tell."""
    def close(self) -> None:
        """Stop what watches the pointer for this store (its thread and connection)."""


class JobQueueProtocol(Protocol):
    """The job queue and the job records: queued -> running -> succeeded | failed | cancelled."""

    def enqueue(self, dataset: str, config: dict[str, Any], *, total: int, unit: str,
                max_queued: int, options: dict[str, Any] | None = None) -> Job: ...
    def get(self, job_id: str) -> Job: ...
    def get_since(self, job_id: str, sent: int) -> Job:
        """The job with only its cost points from index ``sent`` on in ``costs``."""
        ...
    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[Job]: ...
    def pending(self) -> builtins.list[Job]: ...
    def cancel(self, job_id: str) -> Job: ...
    def claim(self, job_id: str | None = None) -> Job | None:
        """Move ``job_id`` (default: the oldest queued job) to running; None if it is not queued."""
    def report_progress(self, job_id: str, done: int, cost: float, costs: builtins.list[builtins.list[float]],
                        eta: float | None = None) -> bool: ...
    def cancel_requested(self, job_id: str) -> bool: ...
    def finish(self, job_id: str, status: str, *, model_version: int | None = None,
               metrics: dict[str, Any] | None = None, costs: builtins.list[builtins.list[float]] | None = None,
               done: int | None = None, reason: str | None = None, message: str | None = None) -> Job: ...
    def fail_interrupted(self) -> int:
        """Record ``failed`` (``interrupted``) the running jobs whose trainer is gone."""
    def exclusive(self, name: str) -> contextlib.AbstractContextManager[None]:
        """A lock across every process that shares this queue (several trainers starting at once)."""
    def reap(self) -> None:
        """Keep doing :meth:`fail_interrupted` in the background, where trainers can vanish."""
    def close(self) -> None: ...


class UploadStoreProtocol(Protocol):
    """Uploaded data sets by id (the start of their sha256): written once, never changed."""

    def info(self, upload_id: str) -> DatasetInfo | None: ...
    def infos(self) -> list[DatasetInfo]: ...
    def arrays(self, upload_id: str) -> tuple[np.ndarray, np.ndarray]: ...
    def put(self, info: DatasetInfo, X: np.ndarray, Y: np.ndarray) -> None: ...
    def remove_partial(self) -> None: ...


class ProbeProtocol(Protocol):
    """Whether the shared state can be written now (readiness and POST /train ask)."""

    def problem(self) -> StorageUnavailable | None: ...
