"""service.store (model versions, the active pointer) and service.model_cache."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from model_core import Model
from service.api.model_cache import ModelCache
from service.state.store import ModelStore, VersionNotFound


def parameters(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    return {"W1": rng.randn(2, 12288) * 0.01, "b1": np.zeros((2, 1)), "W2": rng.randn(1, 2), "b2": np.zeros((1, 1))}


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path)


def test_versions_are_increasing_and_immutable_files(store: ModelStore) -> None:
    assert store.versions() == [] and store.active_version() is None
    v1 = store.add(parameters(1), {"engine": "one"})
    v2 = store.add(parameters(2), {"engine": "two"})
    assert (v1, v2) == (1, 2) and store.versions() == [1, 2]
    assert store.metadata(1)["engine"] == "one"
    np.testing.assert_array_equal(store.load(2).parameters["W1"], parameters(2)["W1"])
    assert sorted(p.name for p in store.models_dir.iterdir()) == ["1", "2"]  # no staging left
    assert sorted(p.name for p in (store.models_dir / "1").iterdir()) == ["metadata.json", "model.npz"]


def test_concurrent_writers_never_share_a_number(store: ModelStore) -> None:
    got: list[int] = []
    lock = threading.Lock()

    def write(seed: int) -> None:
        v = store.add(parameters(seed), {"source": {"seed": seed}})
        with lock:
            got.append(v)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(got) == list(range(1, 9))
    for v in got:  # each number holds the data its writer wrote
        np.testing.assert_array_equal(store.load(v).parameters["W1"], parameters(store.metadata(v)["source"]["seed"])["W1"])


def test_activate_replaces_the_pointer(store: ModelStore) -> None:
    store.add(parameters(1), {})
    store.add(parameters(2), {})
    store.activate(1)
    stamp = store.active_stamp()
    assert store.active_version() == 1
    store.activate(2)
    assert store.active_version() == 2 and store.active_stamp() != stamp
    with pytest.raises(VersionNotFound):
        store.activate(3)
    assert store.active_version() == 2
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".active")] == []


def test_leftovers_of_a_crash_are_ignored_then_removed(store: ModelStore) -> None:
    store.add(parameters(1), {})
    staging = store.models_dir / ".tmp-crashed"
    staging.mkdir()
    (staging / "model.npz").write_bytes(b"half")
    (store.root / ".active.abc").write_text("7")
    assert store.versions() == [1]
    assert store.remove_partial() == 1
    assert not staging.exists() and not (store.root / ".active.abc").exists()
    assert store.add(parameters(2), {}) == 2


def test_the_cache_reloads_only_when_the_pointer_changes(store: ModelStore) -> None:
    cache = ModelCache(store)
    assert cache.current() is None
    store.add(parameters(1), {})
    store.add(parameters(2), {})
    store.activate(1)
    first = cache.current()
    assert first is not None and first.version == 1
    assert cache.current() is first  # unchanged pointer: same object, nothing read
    store.activate(2)
    second = cache.current()
    assert second is not None and second.version == 2
    # a request that started on version 1 still holds a whole, working model
    X = np.zeros((12288, 1))
    assert first.model.predict_proba(X).shape == (1,)
    np.testing.assert_array_equal(first.model.parameters["W1"], parameters(1)["W1"])


def test_the_cache_keeps_serving_if_a_version_cannot_be_loaded(store: ModelStore) -> None:
    cache = ModelCache(store)
    store.add(parameters(1), {})
    store.activate(1)
    assert cache.current().version == 1  # type: ignore[union-attr]
    (store.active_file).write_text("9\n")  # points at nothing (hand-edited, say)
    assert cache.current().version == 1  # type: ignore[union-attr]


def test_a_loaded_model_is_model_core_s(store: ModelStore) -> None:
    store.add(parameters(1), {"hidden_activation": "tanh"})
    model = store.load(1)
    assert isinstance(model, Model) and model.hidden_activation == "tanh"


def test_a_record_within_max_metadata_bytes_is_stored_readable_and_one_past_it_is_refused(tmp_path: Path) -> None:
    """A 10-million-iteration run's 100,000 costs: 3 MB of compact JSON, 4.6 MB indented
    (as metadata.json once was), past what a store reads back: the version was lost."""
    from model_core import MAX_METADATA_BYTES, ParameterFileError, metadata_json

    from .realserver import store_of

    store = store_of(tmp_path / "data")
    costs = [[i * 100, 0.6931471805599453 - i * 1e-9] for i in range(100_000)]
    version = store.add(parameters(1), {"costs": costs})
    assert store.load(version).metadata["costs"] == costs
    assert store.metadata(version)["costs"] == costs
    assert len(metadata_json(store.metadata(version))) <= MAX_METADATA_BYTES
    before = store.versions()
    too_many = [[i, 0.6931471805599453] for i in range(160_000)]  # about 4.3 MB compact
    with pytest.raises(ParameterFileError) as caught:
        store.add(parameters(2), {"costs": too_many})
    assert (caught.value.limit, caught.value.value) == ("MAX_METADATA_BYTES", MAX_METADATA_BYTES)
    assert caught.value.actual is not None and caught.value.actual > MAX_METADATA_BYTES
    assert store.versions() == before  # nothing half-written
