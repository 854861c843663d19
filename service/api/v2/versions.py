"""The model version a V2 request names: the active one (the worker's :class:`ModelCache`),
or any other stored version, loaded on demand and kept in a small cache of its own.

A version's files never change, so a cached copy stays right for as long as the version
exists; one ``stat`` a request sees whether it was deleted meanwhile. The cache is
bounded per worker, least recently used first out: :data:`MAX_VERSIONS` versions and
:data:`MAX_BYTES` of parameters (a version larger than that alone answers its request
and is not kept). Loads run in the thread pool: a large file must not stall the event
loop and the requests of other clients.
"""
from __future__ import annotations

from collections import OrderedDict

from starlette.concurrency import run_in_threadpool

from model_core import ParameterFileError

from ...state.protocols import ModelStoreProtocol
from ...state.store import VersionNotFound, VersionUnreadable
from ..model_cache import LoadedModel, ModelCache

MAX_VERSIONS = 4
MAX_BYTES = 256 * 1024 * 1024


def parse_version(text: str) -> int | None:
    """A version string as the service numbers them (``"3"``), else None (``"03"``, ``"v3"``, ``"-1"``)."""
    if text.isascii() and text.isdigit() and not text.startswith("0") and len(text) <= 18:
        return int(text)
    return None


def nbytes(loaded: LoadedModel) -> int:
    return sum(a.nbytes for a in loaded.model.parameters.values())


class VersionCache:
    def __init__(self, store: ModelStoreProtocol, active: ModelCache, *, max_versions: int = MAX_VERSIONS,
                 max_bytes: int = MAX_BYTES) -> None:
        self._store, self._active = store, active
        self.max_versions, self.max_bytes = max_versions, max_bytes
        # touched on the event loop only (get is async; the thread pool only loads), so no lock
        self._cache: OrderedDict[int, LoadedModel] = OrderedDict()

    def cached(self) -> list[int]:
        """The versions held, least recently used first."""
        return list(self._cache)

    async def get(self, version: int) -> LoadedModel:
        """Version ``version``; raises VersionNotFound or VersionUnreadable."""
        current = self._active.current()
        if current is not None and current.version == version:
            return current
        if not self._store.exists(version):  # also for a cached version deleted since
            raise VersionNotFound(version)
        loaded = self._cache.get(version)
        if loaded is not None:
            self._cache.move_to_end(version)
            return loaded
        # two first requests that race load it twice; the cache keeps the later copy
        loaded = await run_in_threadpool(self._load, version)
        self._keep(loaded)
        return loaded

    def _load(self, version: int) -> LoadedModel:
        self._store.metadata(version)  # VersionUnreadable for a record that fails the schema
        try:
            return LoadedModel.of(version, self._store.load(version))
        except ParameterFileError as e:  # the record is fine, the arrays are not
            raise VersionUnreadable(version, str(e)) from None
        except FileNotFoundError:  # deleted since the stat
            raise VersionNotFound(version) from None

    def _keep(self, loaded: LoadedModel) -> None:
        if nbytes(loaded) > self.max_bytes:
            return
        self._cache[loaded.version] = loaded
        self._cache.move_to_end(loaded.version)
        while len(self._cache) > self.max_versions or sum(map(nbytes, self._cache.values())) > self.max_bytes:
            self._cache.popitem(last=False)
