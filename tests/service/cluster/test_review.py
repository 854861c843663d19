"""Cluster mode's faults found in review, each against the real servers."""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from model_core import TrainConfig
from service.api.app import create_app
from service.settings import Settings
from service.state.backend import open_state
from service.state.cluster.connect import redis_client
from service.state.cluster.pointer import ActivePointer
from service.state.datasets import SYNTHETIC
from service.state.jobs import SUCCEEDED, progress_plan
from service.trainer import rq_task
from service.trainer.worker import Trainer

from ...timing import collector_paused
from ..conftest import npz_bytes
from ..realserver import wait_until
from .cluster import Cluster
from .servers import RedisServer
from .test_backends import add_version

MakeSettings = Callable[..., Settings]
SMALL = {"layer_dims": [12288, 4, 1], "iterations": 20}


def test_a_job_whose_publishing_waits_longer_than_its_heartbeat_is_not_reaped(
        make_cluster_settings: MakeSettings, redis_server: RedisServer, prefix: str) -> None:
    # publishing (the upload, the models lock, the retention) is the trainer's own work, after
    # the job's process: a slow object store or a busy lock must not get a live job reaped
    settings = make_cluster_settings(job_heartbeat=1)
    trainer = Trainer(settings)
    replica = open_state(make_cluster_settings(job_heartbeat=1)).queue
    config = TrainConfig.from_dict(SMALL)
    total, unit = progress_plan(config)
    job = replica.enqueue(SYNTHETIC, config.to_dict(), total=total, unit=unit, max_queued=5)
    # another process holds the models lock for 3 heartbeats: the activation waits for it
    lock = redis_server.client().lock(f"{prefix}:models-lock", timeout=30, thread_local=False)
    assert lock.acquire(blocking=False)
    releaser = threading.Timer(3.0, lock.release)
    stop = threading.Event()

    def reap() -> None:  # what every replica does, every heartbeat / 2
        while not stop.wait(0.2):
            replica.fail_interrupted()

    reaper = threading.Thread(target=reap)
    releaser.start()
    reaper.start()
    try:
        rq_task.TRAINERS[:] = [trainer]
        status = rq_task.run(job.id)
    finally:
        stop.set()
        reaper.join()
        releaser.join()
        rq_task.TRAINERS.clear()
    record = replica.get(job.id)
    assert (status, record.status, record.reason) == (SUCCEEDED, SUCCEEDED, None)
    assert record.model_version == 1 and trainer.store.active_version() == 1


@pytest.fixture
def small_cluster(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Cluster]:
    c = Cluster(tmp_path, cluster_env)
    try:
        c.trainer()
        c.api()  # ready: the trainer has trained the first model
        yield c
    finally:
        c.stop()


@pytest.mark.timeout(300)
def test_metrics_while_redis_is_down_answer_and_never_hold_the_event_loop(
        small_cluster: Cluster, redis_server: RedisServer) -> None:
    api = small_cluster.apis[0]
    with api.client() as c, api.client() as scraper:
        assert "catsvc_jobs_queued" in scraper.get("/metrics").text
        redis_server.stop()
        try:
            answers: list[httpx.Response] = []
            done = threading.Event()

            def scrape() -> None:  # Prometheus, every few hundredths of a second here
                while not done.is_set():
                    answers.append(scraper.get("/metrics"))

            thread = threading.Thread(target=scrape)
            thread.start()
            slowest = 0.0
            try:
                with collector_paused():
                    end = time.monotonic() + 3.0
                    while time.monotonic() < end:
                        start = time.monotonic()
                        assert c.get("/health/live").status_code == 200
                        slowest = max(slowest, time.monotonic() - start)
                        time.sleep(0.02)
            finally:
                done.set()
                thread.join()
        finally:
            redis_server.start()
    # the worker's own counts are what an outage needs seen; only the queue's depth is unknown
    assert answers and all(r.status_code == 200 for r in answers), [r.text for r in answers[:3]]
    assert "catsvc_http_request_duration_seconds_count" in answers[-1].text and "catsvc_jobs_queued" not in answers[-1].text
    assert slowest < 0.3  # Redis's retries (a second) ran off the event loop


def test_a_subscriber_keeps_the_version_it_heard_when_redis_goes_down(
        make_cluster_settings: MakeSettings, redis_server: RedisServer, prefix: str) -> None:
    # the stamp must not change when the subscription drops: a changed stamp makes every
    # request's model check read the pointer again, through a second of retries, on the event loop
    settings = make_cluster_settings()
    writer = open_state(settings).store
    reader = ActivePointer(redis_client(settings), redis_client(settings, "quick"), f"{prefix}:active")
    add_version(writer, 0)
    writer.activate(1)
    reader.on_switch(lambda _: None)
    # as an API worker: subscribed (at start-up) before its first request asks
    wait_until(lambda: reader._subscribed.is_set() or None, 5, "the subscription")
    assert reader.stamp() == 1
    redis_server.stop()
    try:
        wait_until(lambda: not reader._subscribed.is_set() or None, 5, "the subscription to drop")
        with collector_paused():
            for _ in range(20):
                start = time.monotonic()
                assert reader.stamp() == 1
                assert time.monotonic() - start < 0.1
    finally:
        redis_server.start()
        reader.close()


def test_an_event_stream_rides_out_a_redis_restart(make_cluster_settings: MakeSettings,
                                                   redis_server: RedisServer) -> None:
    settings = make_cluster_settings()
    queue = open_state(make_cluster_settings()).queue  # the trainer's side
    job = queue.enqueue(SYNTHETIC, {}, total=10, unit="iteration", max_queued=5)
    queue.claim(job.id)
    queue.report_progress(job.id, 2, 0.6, [[0, 0.7], [1, 0.6]])
    with TestClient(create_app(settings)) as client, client.stream("GET", f"/train/{job.id}/events") as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(lines) == "event: progress"
        redis_server.stop()
        try:
            time.sleep(2.5)  # the stream keeps reading, and Redis keeps not answering
        finally:
            redis_server.start()
        queue.finish(job.id, SUCCEEDED, model_version=None, done=10)
        rest = list(lines)  # the stream goes on, then ends with the job
    assert "event: end" in rest, rest


def test_a_redis_that_refuses_writes_is_a_503_not_a_500(make_cluster_settings: MakeSettings,
                                                        redis_server: RedisServer) -> None:
    # Redis full (maxmemory reached, no eviction): its "OOM command not allowed" is the
    # shared state out of space, as a full disk is in the embedded default
    admin = redis_server.client()
    with TestClient(create_app(make_cluster_settings())) as client:
        admin.config_set("maxmemory", 1)
        try:
            r = client.post("/train", json={"dataset": SYNTHETIC, **SMALL})
        finally:
            admin.config_set("maxmemory", 0)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["code"] == "STORAGE_UNAVAILABLE" and "Redis" in body["error"], body
        assert client.post("/train", json={"dataset": SYNTHETIC, **SMALL}).status_code == 202


def test_an_object_store_that_refuses_is_a_503_not_a_500(make_cluster_settings: MakeSettings,
                                                         small_data: tuple[np.ndarray, np.ndarray]) -> None:
    # the bucket is not there (not made yet, or a wrong CATSVC_S3_BUCKET): each request that
    # needs the object store says so, as readiness does, in the error shape
    with TestClient(create_app(make_cluster_settings(s3_bucket="no-such-bucket"))) as client:
        answers = [client.get("/models"), client.get("/datasets"),
                   client.post("/datasets", files={"file": ("small.npz", npz_bytes(*small_data))})]
    for r in answers:
        assert r.status_code == 503 and r.json()["code"] == "STORAGE_UNAVAILABLE", r.text
        assert "object store refuses (NoSuchBucket" in r.json()["error"]


def test_the_per_request_pointer_read_never_waits_on_a_hung_redis(
        make_cluster_settings: MakeSettings, redis_server: RedisServer, prefix: str) -> None:
    # a Redis that accepts connections and does not answer (stopped, swapping, a network
    # that drops replies): the fallback read runs on the event loop, so it must give up fast
    settings = make_cluster_settings()
    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        pointer = ActivePointer(redis_client(settings), redis_client(settings, "quick"), f"{prefix}:active")
        probe = open_state(settings, patient=False).probe
        for _ in range(3):
            start = time.monotonic()
            assert pointer.stamp() is None
            assert probe.problem() is not None  # readiness (on the event loop too)
            assert time.monotonic() - start < 1.0
            time.sleep(1.0)  # the probe's answer lives a second
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
        pointer.close()


def test_a_job_whose_trainer_died_as_it_took_it_does_not_stay_queued(make_cluster_settings: MakeSettings) -> None:
    # a trainer killed between RQ handing it the job (BLMOVE) and its claim: RQ's own
    # clean-up gives its job up as failed; the record must not stay `queued` for ever
    from rq import SimpleWorker
    from rq.utils import now

    queue = open_state(make_cluster_settings()).queue
    job = queue.enqueue(SYNTHETIC, {}, total=1, unit="iteration", max_queued=5)
    rq_queue = queue.rq  # type: ignore[attr-defined]  # cluster mode's queue is an RQ queue
    taken = rq_queue.dequeue_any([rq_queue], None, connection=rq_queue.connection)
    assert taken is not None and taken[0].id == job.id  # ... and the trainer dies here
    assert queue.fail_interrupted() == 0  # RQ has not given it up yet: it may be claimed still
    intermediate = rq_queue.intermediate_queue
    rq_queue.connection.set(intermediate.get_first_seen_key(job.id), now().timestamp() - 120)
    intermediate.cleanup(SimpleWorker([rq_queue], connection=rq_queue.connection), rq_queue)  # RQ's, after a minute
    assert queue.fail_interrupted() == 1
    record = queue.get(job.id)
    assert (record.status, record.reason) == ("failed", "interrupted")
    assert queue.pending() == []
