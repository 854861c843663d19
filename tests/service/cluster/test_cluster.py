"""Issue 10's scenarios on real processes: two API replicas and two trainers, each with
its own empty data directory, sharing a real redis-server and moto's S3 server."""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import SMALL, image_bytes, npz_bytes
from ..realserver import wait_until
from .cluster import Cluster, wait_job
from .servers import RedisServer, S3Server

pytestmark = pytest.mark.timeout(600)

LONG = {"layer_dims": [12288, 4, 1], "iterations": 400_000}  # a job that runs for many seconds
SWITCHES, SWITCH_SECONDS, CLIENTS = 20, 20.0, 8  # the numbers


@pytest.fixture
def cluster(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Cluster]:
    c = Cluster(tmp_path, cluster_env)
    try:
        for _ in range(2):
            c.trainer()
        for _ in range(2):
            c.api()  # ready: a trainer has trained the first model (synthetic drawings)
        yield c
    finally:
        c.stop()


def predict_version(client: httpx.Client) -> int:
    r = client.post("/predict", files={"file": ("a.png", image_bytes())})
    assert r.status_code == 200, r.text
    return int(r.json()["version"])


def test_two_replicas_two_trainers_and_switches_under_load(cluster: Cluster, small_data: object) -> None:
    a, b = (api.client() for api in cluster.apis)
    r = a.post("/datasets", files={"file": ("small.npz", npz_bytes(*small_data))})  # type: ignore[misc]
    assert r.status_code == 201, r.text
    dataset = r.json()["id"]
    assert dataset in [d["id"] for d in b.get("/datasets").json()["datasets"]]  # B sees A's upload

    ids = [c.post("/train", json={"dataset": dataset, **SMALL}).json()["id"] for c in (a, b, a, b)]
    jobs = [wait_job(b if i % 2 == 0 else a, job_id) for i, job_id in enumerate(ids)]  # asked of the other replica
    assert [j["status"] for j in jobs] == ["succeeded"] * 4, jobs
    for job_id in ids:
        assert len(cluster.ran(job_id)) == 1  # each job ran on exactly one trainer
    versions = sorted(j["model_version"] for j in jobs)
    assert len(set(versions)) == 4  # four numbers, none given twice
    active = a.get("/models").json()
    newest = next(m["version"] for m in active["models"] if m["active"])
    for c in (a, b):
        wait_until(lambda c=c: predict_version(c) == newest, 5, "the new version on both replicas")

    # switches while 8 clients predict against both replicas
    existing = {m["version"] for m in a.get("/models").json()["models"]}
    failures: list[str] = []
    answers: list[int] = []
    stop = threading.Event()

    def client_loop(n: int) -> None:
        with cluster.apis[n % 2].client() as c, cluster.apis[(n + 1) % 2].client() as d:
            while not stop.is_set():
                for x in (c, d):
                    try:
                        answers.append(predict_version(x))
                    except (AssertionError, httpx.HTTPError) as e:
                        failures.append(repr(e))

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    rng = random.Random(0)
    switch_to = []
    for _ in range(SWITCHES):
        v = rng.choice(sorted(existing))
        switch_to.append(v)
        assert a.post(f"/models/{v}/activate").status_code == 200
        time.sleep(SWITCH_SECONDS / SWITCHES)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert failures == []
    assert len(answers) > 100 and set(answers) <= existing
    # the last switch reaches both replicas within a second
    start = time.monotonic()
    for c in (a, b):
        wait_until(lambda c=c: predict_version(c) == switch_to[-1], 1.0, "the last switch on both replicas")
    assert time.monotonic() - start < 2.0
    # the figures of the closing note (pytest -s shows them)
    print(f"\n{SWITCHES} switches in {SWITCH_SECONDS} s, {CLIENTS} clients: {len(answers)} predictions, "
          f"{len(failures)} failed, versions seen {sorted(set(answers))} of {sorted(existing)}; the last switch "
          f"on both replicas after {time.monotonic() - start:.3f} s")


def test_a_trainer_killed_mid_job_fails_it_interrupted_and_the_other_takes_the_next(
        cluster: Cluster, redis_server: RedisServer) -> None:
    a = cluster.apis[0].client()
    job_id = a.post("/train", json={"dataset": "synthetic", **LONG}).json()["id"]
    wait_until(lambda: a.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, 60, "the long job to run")
    (runner,) = cluster.ran(job_id)
    (other,) = [t for t in cluster.trainers if t is not runner]
    os.killpg(runner.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]  # the machine is gone
    killed_at = time.monotonic()
    job = wait_job(a, job_id, timeout=30)
    assert (job["status"], job["reason"]) == ("failed", "interrupted"), job
    assert time.monotonic() - killed_at < 30
    print(f"\nkill -9 of the trainer mid-job: failed/interrupted after {time.monotonic() - killed_at:.1f} s")
    next_id = a.post("/train", json={"dataset": "synthetic", **SMALL}).json()["id"]
    assert wait_job(a, next_id)["status"] == "succeeded"
    assert cluster.ran(next_id) == [other]


def test_a_cancel_from_the_other_replica_stops_the_job_and_a_stopped_trainer_records_its_own(
        cluster: Cluster) -> None:
    a, b = (api.client() for api in cluster.apis)
    job_id = a.post("/train", json={"dataset": "synthetic", **LONG}).json()["id"]
    wait_until(lambda: a.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, 60, "the long job to run")
    assert b.delete(f"/train/{job_id}").status_code == 202
    job = wait_job(a, job_id, timeout=10)
    assert (job["status"], job["reason"]) == ("cancelled", "cancelled"), job
    # SIGTERM to a trainer mid-job: it stops the job and records why, then exits
    job_id = a.post("/train", json={"dataset": "synthetic", **LONG}).json()["id"]
    wait_until(lambda: a.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, 60, "the next long job to run")
    (runner,) = cluster.ran(job_id)
    assert runner.terminate() == 0
    job = a.get(f"/train/{job_id}").json()
    assert (job["status"], job["reason"]) == ("cancelled", "shutdown"), job


def test_a_redis_restart_mid_job_loses_nothing(cluster: Cluster, redis_server: RedisServer) -> None:
    a, b = (api.client() for api in cluster.apis)
    before = a.get("/models").json()
    job_id = a.post("/train", json={"dataset": "synthetic", "layer_dims": [12288, 4, 1],
                                    "iterations": 100_000}).json()["id"]
    wait_until(lambda: a.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, 60, "the job to run")
    assert a.get(f"/train/{job_id}").json()["status"] == "running"
    redis_server.stop()  # SIGTERM: redis-server writes its append-only file and exits
    time.sleep(1.0)
    assert predict_version(b) == next(m["version"] for m in before["models"] if m["active"])  # still served
    redis_server.start()
    job = wait_job(b, job_id)
    assert job["status"] == "succeeded", job  # the job rode it out: its progress writes retried
    after = b.get("/models").json()
    assert {m["version"] for m in before["models"]} < {m["version"] for m in after["models"]}
    assert [j["id"] for j in b.get("/train").json()["jobs"]][0] == job_id


def test_the_object_store_down_makes_ready_say_so_and_predictions_go_on(cluster: Cluster,
                                                                         s3_server: S3Server) -> None:
    a = cluster.apis[0].client()
    version = predict_version(a)
    s3_server.stop()
    try:
        def not_ready() -> dict[str, str] | None:
            r = a.get("/health/ready")
            return r.json() if r.status_code == 503 else None

        body = wait_until(not_ready, 10, "readiness to say the object store is down")
        assert body["code"] == "STORAGE_UNAVAILABLE" and body["reason"] == "unreachable"
        assert "object store" in body["error"]
        for _ in range(20):
            assert predict_version(a) == version
    finally:
        s3_server.restart()
    wait_until(lambda: a.get("/health/ready").status_code == 200, 10, "ready again")


def test_a_replica_started_while_redis_is_down_turns_ready_when_it_comes_back(
        cluster: Cluster, redis_server: RedisServer) -> None:
    redis_server.stop()
    try:
        late = cluster.api(ready=False)  # live, not ready
        with late.client() as c:
            r = c.get("/health/ready")
            assert r.status_code == 503 and r.json()["reason"] == "unreachable" and "Redis" in r.json()["error"]
    finally:
        redis_server.start()
    with late.client() as c:
        wait_until(lambda: c.get("/health/ready").status_code == 200, 20, "the late replica to turn ready")
        assert predict_version(c) >= 1
