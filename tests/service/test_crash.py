"""kill -9 of every process of the real server while it writes a model version and while
a job runs; after a restart the store loads, the active version is intact and the job
reads failed / interrupted.

"While it writes a model version" is made exact by the store's test-only hook
(service.store.TEST_PAUSE_ENV): the writer stops after the version's files are written
and synced, before they are published, and creates a marker file; the test kills then.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
import pytest

from service.state.store import TEST_PAUSE_ENV

from .conftest import SMALL
from .realserver import Server, course_npz, gone, seed_models, wait_until

# the half-written files of the data directory (cluster mode's store: tests/service/cluster)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), pytest.mark.embedded_only]

LONG_JOB = {"dataset": "synthetic", "layer_dims": [12288, 4, 1], "iterations": 10_000_000}


def kill_everything(server: Server) -> None:
    pids = server.pids()
    assert len(pids) >= 4  # supervisor, API, its workers, trainer
    server.kill()  # SIGKILL to the process group
    wait_until(lambda: all(gone(pid) for pid in pids), 30, "every process to die")


def check_recovered(server: Server, data: Path, job_id: str, versions: list[int]) -> None:
    """After the restart: the same versions, the same active one, the job interrupted."""
    with server, server.client() as client:
        ready = client.get("/health/ready").json()
        assert (ready["status"], ready["version"]) == ("ready", versions[-1])
        models = client.get("/models").json()
        assert [m["version"] for m in models["models"]] == versions[::-1]
        assert models["active"] == versions[-1]
        assert client.get("/params").json()["version"] == versions[-1]
        assert client.get("/params/download").status_code == 200
        r = client.post("/predict", json={"instances": [[7] * 12288]})
        assert r.status_code == 200 and r.json()["version"] == versions[-1]
        job = client.get(f"/train/{job_id}").json()
        assert (job["status"], job["reason"], job["model_version"]) == ("failed", "interrupted", None)
        assert "POST /train" in job["message"]
        assert client.get("/train").json()["jobs"][0]["id"] == job_id  # no new job was queued
    assert not list((data / "models").glob(".tmp-*"))  # the half-published version is gone


def test_kill_9_while_the_api_writes_a_version_and_a_job_runs(tmp_path: Path) -> None:
    data, marker = tmp_path / "data", tmp_path / "paused"
    versions = seed_models(data)
    server = Server(data, tmp_path / "server.log", **{TEST_PAUSE_ENV: marker})
    with server, server.client() as client:
        r = client.post("/train", json=LONG_JOB)
        job_id = r.json()["id"]
        wait_until(lambda: client.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, 60, "the job to run")

        def upload() -> None:  # blocks in the store until the server dies
            with pytest.raises(httpx.TransportError), server.client(timeout=120) as c:
                c.put("/params", files={"file": ("params.npz", course_npz(seed=9))})

        uploader = threading.Thread(target=upload)
        uploader.start()
        wait_until(marker.exists, 60, "the API to be writing the new version")
        assert list((data / "models").glob(".tmp-*/model.npz"))  # written, not yet published
        kill_everything(server)
        uploader.join(timeout=60)

    server.env.pop(TEST_PAUSE_ENV)
    check_recovered(server, data, job_id, versions)


def test_kill_9_while_the_trainer_writes_the_version_of_its_job(tmp_path: Path) -> None:
    data, marker = tmp_path / "data", tmp_path / "paused"
    versions = seed_models(data, count=2)
    server = Server(data, tmp_path / "server.log", **{TEST_PAUSE_ENV: marker})
    with server, server.client() as client:
        r = client.post("/train", json={"dataset": "synthetic", **SMALL})
        job_id = r.json()["id"]
        wait_until(marker.exists, 60, "the trainer to be writing the job's version")
        assert client.get(f"/train/{job_id}").json()["status"] == "running"
        kill_everything(server)

    server.env.pop(TEST_PAUSE_ENV)
    check_recovered(server, data, job_id, versions)
    assert os.path.exists(data / "jobs.sqlite")
