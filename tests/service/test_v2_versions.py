"""service.api.v2.versions: the stored versions a V2 request names, loaded on demand, cached
within bounds (count and bytes, least recently used out), and never served once deleted."""
from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from service.api.model_cache import ModelCache
from service.api.v2.versions import VersionCache, nbytes, parse_version
from service.state.protocols import ModelStoreProtocol
from service.state.store import ModelStore, VersionNotFound, VersionUnreadable

from .realserver import seed_models, store_of


@pytest.fixture
def store(tmp_path: Path) -> ModelStoreProtocol:
    seed_models(tmp_path, count=4)  # versions 1..4, 4 active
    return store_of(tmp_path)


def get(cache: VersionCache, version: int):  # type: ignore[no-untyped-def]
    return asyncio.run(cache.get(version))


def test_the_active_version_is_the_workers_own_copy(store: ModelStoreProtocol) -> None:
    active = ModelCache(store)
    cache = VersionCache(store, active)
    assert get(cache, 4) is active.current() and cache.cached() == []


def test_other_versions_load_once_and_the_oldest_used_leaves_first(store: ModelStoreProtocol) -> None:
    cache = VersionCache(store, ModelCache(store), max_versions=2)
    first = get(cache, 1)
    assert first.version == 1 and get(cache, 1) is first  # loaded once
    np.testing.assert_array_equal(first.model.parameters["W1"], store.load(1).parameters["W1"])
    get(cache, 2)
    get(cache, 1)  # 1 used last: 2 is the oldest now
    get(cache, 3)
    assert cache.cached() == [1, 3]


def test_the_bytes_bound(store: ModelStoreProtocol) -> None:
    one = nbytes(get(VersionCache(store, ModelCache(store)), 1))
    cache = VersionCache(store, ModelCache(store), max_bytes=2 * one)
    for version in (1, 2, 3):
        get(cache, version)
    assert cache.cached() == [2, 3]
    small = VersionCache(store, ModelCache(store), max_bytes=one - 1)
    assert get(small, 1).version == 1 and small.cached() == []  # too large to keep: answers, not kept


def test_a_deleted_version_is_not_found_though_cached(store: ModelStoreProtocol) -> None:
    cache = VersionCache(store, ModelCache(store))
    get(cache, 1)
    store.delete(1)
    with pytest.raises(VersionNotFound):
        get(cache, 1)
    with pytest.raises(VersionNotFound):
        get(cache, 99)


@pytest.mark.embedded_only  # writes the data directory's files by hand
def test_unreadable_versions(store: ModelStore) -> None:
    (store.models_dir / "1" / "metadata.json").write_text("[]")  # the record fails the schema
    (store.models_dir / "2" / "model.npz").write_bytes(b"PK\x03\x04 not a zip")  # the arrays do
    cache = VersionCache(store, ModelCache(store))
    for version in (1, 2):
        with pytest.raises(VersionUnreadable):
            get(cache, version)
    assert cache.cached() == []


@pytest.mark.parametrize("text, version", [("1", 1), ("42", 42), ("0", None), ("01", None), ("-1", None),
                                           ("+1", None), ("1.0", None), ("v1", None), ("١", None), ("9" * 19, None)])
def test_version_strings(text: str, version: int | None) -> None:
    assert parse_version(text) == version
