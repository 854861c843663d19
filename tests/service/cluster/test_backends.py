"""Cluster mode's state against the real servers: model versions in the object store,
job records and the pointer in Redis (tests/service/cluster/conftest.py starts them)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from model_core import load_parameters
from service.settings import Settings
from service.state.backend import open_state
from service.state.cluster.connect import redis_client
from service.state.cluster.pointer import ActivePointer
from service.state.cluster.s3_store import METADATA_FILE, MODEL_FILE
from service.state.jobs import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobFinished, QueueFull
from service.state.retention import Retention
from service.state.storage import UNREACHABLE, StorageUnavailable
from service.state.store import VersionActive, VersionNotFound

from ..realserver import course_npz
from .servers import BUCKET, RedisServer, S3Server

MakeSettings = Callable[..., Settings]


def add_version(store: object, seed: int = 0) -> int:
    parameters, metadata = load_parameters(course_npz(seed))
    metadata["source"] = {"kind": "upload", "uploaded_at": "2026-01-01T00:00:00+00:00"}
    return store.add(parameters, metadata)  # type: ignore[attr-defined, no-any-return]


def test_versions_round_trip_and_the_pointer(make_cluster_settings: MakeSettings) -> None:
    state = open_state(make_cluster_settings())
    store = state.store
    assert store.versions() == [] and store.active_version() is None
    v1, v2 = add_version(store, 0), add_version(store, 1)
    assert (v1, v2) == (1, 2) and store.versions() == [1, 2]
    store.activate(v2)
    assert store.active_version() == 2
    # another process (its own data directory) reads the same version, byte for byte the same model
    other = open_state(make_cluster_settings()).store
    expected = load_parameters(course_npz(1))[0]["W1"]
    assert np.array_equal(other.load(2).parameters["W1"], expected)
    assert other.metadata(2)["layer_dims"] == [12288, 3, 1]
    with pytest.raises(VersionActive):
        store.delete(2)
    store.delete(1)
    assert store.versions() == [2] and not other.exists(1)
    with pytest.raises(VersionNotFound):
        other.model_path(1)


def test_two_writers_never_share_a_number(make_cluster_settings: MakeSettings) -> None:
    stores = [open_state(make_cluster_settings()).store for _ in range(2)]
    got: list[int] = []
    lock = threading.Lock()

    def write(store: object) -> None:
        for seed in range(4):
            v = add_version(store, seed)
            with lock:
                got.append(v)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 9))


def test_a_lost_counter_skips_taken_and_deleted_numbers(make_cluster_settings: MakeSettings,
                                                        redis_server: RedisServer, prefix: str) -> None:
    store = open_state(make_cluster_settings()).store
    for seed in range(3):
        add_version(store, seed)
    store.activate(3)
    store.delete(2)
    redis_server.client().delete(f"{prefix}:model-version")  # Redis lost its data
    assert add_version(store) == 4  # seeded again from the bucket: 2 (deleted) and 3 stay theirs
    # a counter set back by hand: the conditional write refuses the taken number, the next is used
    redis_server.client().set(f"{prefix}:model-version", 0)
    assert add_version(store) == 5


def test_half_a_version_is_never_listed(make_cluster_settings: MakeSettings, s3_server: S3Server,
                                        prefix: str) -> None:
    store = open_state(make_cluster_settings()).store
    add_version(store)
    # a writer that died after the .npz, before the metadata that publishes it
    s3_server.client().put_object(Bucket=BUCKET, Key=f"{prefix}/models/2/{MODEL_FILE}", Body=b"half")
    assert store.versions() == [1] and not store.exists(2)
    assert add_version(store) == 3  # and its number is not given again
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/models/3/")["Contents"]]
    assert sorted(keys) == [f"{prefix}/models/3/{METADATA_FILE}", f"{prefix}/models/3/{MODEL_FILE}"]


def test_retention_keeps_the_active_version(make_cluster_settings: MakeSettings) -> None:
    store = open_state(make_cluster_settings()).store
    for seed in range(4):
        add_version(store, seed)
    store.activate(1)
    deleted = store.enforce_retention(Retention(count=2, bytes=10**9, fresh_seconds=0), keep=(4,))
    assert deleted == [2, 3] and store.versions() == [1, 4]  # the oldest go, never the active one


def test_a_switch_reaches_a_subscriber_without_a_redis_read_per_request(
        make_cluster_settings: MakeSettings, redis_server: RedisServer, prefix: str) -> None:
    settings = make_cluster_settings()
    writer = open_state(settings).store
    # another process's pointer (this process's stores share one)
    reader = ActivePointer(redis_client(settings), redis_client(settings, "quick"), f"{prefix}:active")
    add_version(writer, 0)
    add_version(writer, 1)
    writer.activate(1)
    heard: list[object] = []
    reader.on_switch(heard.append)
    deadline = time.monotonic() + 5
    # the fallback's GET may read 1 before the thread has subscribed: wait for both
    while not (reader.subscribed and reader.stamp() == 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader.subscribed and reader.stamp() == 1
    stats = redis_server.client().info("commandstats")
    before = stats.get("cmdstat_get", {}).get("calls", 0)
    for _ in range(200):
        assert reader.stamp() == 1
    after = redis_server.client().info("commandstats").get("cmdstat_get", {}).get("calls", 0)
    assert after - before < 5  # 200 requests' checks read memory, not Redis
    start = time.monotonic()
    writer.activate(2)
    while reader.stamp() != 2 and time.monotonic() - start < 5:
        time.sleep(0.005)
    assert reader.stamp() == 2 and time.monotonic() - start < 1.0
    assert heard[-1] == 2
    reader.close()


def test_job_records_through_their_states(make_cluster_settings: MakeSettings) -> None:
    queue = open_state(make_cluster_settings()).queue
    other = open_state(make_cluster_settings()).queue  # another replica
    a = queue.enqueue("synthetic", {"iterations": 5}, total=5, unit="iteration", max_queued=2)
    b = other.enqueue("synthetic", {"iterations": 5}, total=5, unit="iteration", max_queued=2)
    with pytest.raises(QueueFull):
        queue.enqueue("synthetic", {}, total=1, unit="iteration", max_queued=2)
    assert [j.id for j in other.list()] == [b.id, a.id]
    assert [j.status for j in queue.pending()] == [QUEUED, QUEUED]
    claimed = queue.claim()
    assert claimed is not None and claimed.id == a.id and claimed.status == RUNNING
    assert other.cancel(b.id).status == CANCELLED
    assert queue.claim(b.id) is None  # cancelled before a trainer took it: skipped
    assert queue.report_progress(a.id, 2, 0.5, [[0, 0.7], [1, 0.5]], eta=1.0) is False
    assert other.cancel(a.id).cancel_requested
    assert queue.cancel_requested(a.id) is True
    done = queue.finish(a.id, SUCCEEDED, model_version=7, done=5)
    assert (done.status, done.model_version, done.done, done.costs) == (SUCCEEDED, 7, 5, [[0, 0.7], [1, 0.5]])
    with pytest.raises(JobFinished):
        other.cancel(a.id)
    assert queue.pending() == []


def test_a_lock_another_trainer_holds_is_not_taken_for_held(make_cluster_settings: MakeSettings) -> None:
    settings = make_cluster_settings()
    queue, other = open_state(settings).queue, open_state(settings).queue  # two trainers
    entered = []
    with other.exclusive("first-model"):
        with pytest.raises(StorageUnavailable, match="held by another trainer"):
            with queue.exclusive("first-model", wait=0.3):  # type: ignore[call-arg]  # cluster mode's queue
                entered.append(True)
    assert entered == []  # the body that only one trainer may run did not run
    with queue.exclusive("first-model", wait=0.3):  # type: ignore[call-arg]
        entered.append(True)  # released: taken at once
    assert entered == [True]


def test_a_silent_trainer_s_job_fails_interrupted(make_cluster_settings: MakeSettings) -> None:
    queue = open_state(make_cluster_settings(job_heartbeat=1)).queue
    job = queue.enqueue("synthetic", {}, total=1, unit="iteration", max_queued=5)
    queue.claim(job.id)
    assert queue.fail_interrupted() == 0  # its heartbeat is fresh
    time.sleep(1.3)
    assert queue.fail_interrupted() == 1
    failed = queue.get(job.id)
    assert (failed.status, failed.reason) == (FAILED, "interrupted")


def test_a_redis_restart_loses_no_record_and_no_pointer(make_cluster_settings: MakeSettings,
                                                         redis_server: RedisServer) -> None:
    state = open_state(make_cluster_settings())
    add_version(state.store)
    state.store.activate(1)
    job = state.queue.enqueue("synthetic", {}, total=1, unit="iteration", max_queued=5)
    redis_server.stop()
    redis_server.start()
    again = open_state(make_cluster_settings())
    assert again.store.active_version() == 1
    assert again.queue.get(job.id).status == QUEUED
    assert state.queue.get(job.id).status == QUEUED  # the old client reconnects by itself


def test_the_probe_names_the_object_store_when_it_is_down(make_cluster_settings: MakeSettings,
                                                          s3_server: S3Server) -> None:
    probe = open_state(make_cluster_settings()).probe
    assert probe.problem() is None
    s3_server.stop()
    try:
        time.sleep(1.1)  # the probe's answer lives a second
        problem = probe.problem()
        assert problem is not None and problem.kind == UNREACHABLE and "object store" in problem.message
    finally:
        s3_server.restart()


def test_an_app_shut_down_stops_its_threads_and_a_new_one_hears_switches(make_cluster_settings: MakeSettings) -> None:
    """The reaper and the pointer's subscription end with the app (each held a Redis
    connection: a process that builds apps one after another ran out of descriptors), and
    an app opened again in the same process subscribes anew."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    def ours() -> list[str]:
        return sorted(t.name for t in threading.enumerate() if t.name in ("active-pointer", "job-reaper"))

    before = ours()
    settings = make_cluster_settings()
    store = open_state(settings).store
    first = add_version(store)
    store.activate(first)
    with TestClient(create_app(settings)) as c:
        assert c.get("/models").status_code == 200
        assert ours() == sorted([*before, "active-pointer", "job-reaper"])
    deadline = time.monotonic() + 5  # the subscription's read waits 1 s at most
    while ours() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ours() == before
    with TestClient(create_app(settings)) as c:
        assert c.post("/predict", json={"instances": [[0] * 12288]}).headers["x-model-version"] == str(first)
        assert "active-pointer" in ours()  # subscribed again, not left on the per-request fallback
        other = open_state(make_cluster_settings()).store  # another process of the namespace
        second = add_version(other, 1)
        other.activate(second)
        deadline = time.monotonic() + 5
        while c.post("/predict", json={"instances": [[0] * 12288]}).headers["x-model-version"] != str(second):
            assert time.monotonic() < deadline, "the second app never heard the switch"
            time.sleep(0.05)
