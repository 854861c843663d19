"""Each API worker's copy of the active model, reloaded only when the pointer changes.

A request calls :meth:`ModelCache.current` once and keeps the returned
:class:`LoadedModel` to the end, so a switch of version while it runs cannot mix two
models or break it. The check costs one ``stat`` of the pointer file (embedded), or
nothing (cluster mode: the pointer's subscription keeps the stamp in memory, and loads a
new version on its own thread as soon as a switch is published, so that no request pays
the object store's read).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from model_core import Model

from ..state import metrics
from ..state.protocols import ModelStoreProtocol
from ..state.storage import StorageUnavailable

log = logging.getLogger("service.models")


@dataclass(frozen=True)
class LoadedModel:
    version: int
    model: Model
    # what it was trained on, as every answer says: a data set name (None: not recorded,
    # e.g. an uploaded course file) and whether that data was synthetic drawings
    dataset: str | None = None
    synthetic: bool = False

    @classmethod
    def of(cls, version: int, model: Model) -> LoadedModel:
        dataset = model.metadata.get("dataset") or {}
        name = dataset.get("name")
        return cls(version, model, name if isinstance(name, str) else None, dataset.get("synthetic") is True)


class ModelCache:
    def __init__(self, store: ModelStoreProtocol) -> None:
        self._store = store
        self._stamp: Any = None
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()
        store.on_switch(self._switched)

    def _switched(self, stamp: Any) -> None:
        """Load the version a switch names, on the pointer's thread, before any request sees
        its stamp: requests keep being served by the model they have meanwhile."""
        with self._lock:
            if stamp != self._stamp:
                self._refresh(stamp)

    def current(self) -> LoadedModel | None:
        """The active model, or None while there is none."""
        stamp = self._store.active_stamp()
        if stamp == self._stamp:
            return self._current
        with self._lock:
            if stamp != self._stamp:
                self._refresh(stamp)
            return self._current

    def _refresh(self, stamp: Any) -> None:
        try:
            version = self._store.active_version()
        except StorageUnavailable as e:  # cluster mode, Redis down: keep serving what is loaded
            log.warning("cannot read the active version (%s); keeping version %s", e,
                        self._current.version if self._current else None)
            return
        if version is None:
            self._current = None
        elif self._current is None or self._current.version != version:
            # a version's files never change, so a load succeeds or the pointer is broken;
            # on failure keep serving the previous model and try again on the next request
            try:
                self._current = LoadedModel.of(version, self._store.load(version))
            except Exception:
                log.exception("cannot load model version %s; keeping version %s", version,
                              self._current.version if self._current else None)
                metrics.loaded(None, False)
                return
            metrics.loaded(version, True)
            if self._current.synthetic:
                log.warning("serving model version %s, trained on synthetic drawings (%s): it knows drawings, "
                            "not cats; train on real data (README, 'The first model')", version,
                            self._current.dataset)
            else:
                log.info("serving model version %s (data set %s)", version, self._current.dataset)
        self._stamp = stamp
