"""Issue 13 §3's runaway training jobs, against the real service (``python -m service``)
caged under RLIMIT_AS, so that a regression fails here and not on the machine:

* the requests that grew the trainer to 9.2 GB, stored a 938 MB version or asked the
  kernel for 91.6 GiB are refused at once, and nothing is queued;
* a job that passes every check and runs out of memory all the same fails alone,
  recorded ``out_of_memory``, and the trainer runs the next one;
* a DELETE, or a shutdown, ends a job in the middle of one long BLAS call.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest

from service.api.errors import Code
from service.state.procs import descendants

from .conftest import SMALL
from .realserver import Server, queue_of, rss_high_water_kb, seed_models, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MiB = 1 << 20
CAGE = 3 << 30  # RLIMIT_AS of every process of the service
FINISHED = ("succeeded", "failed", "cancelled")


def trainer_pid(server: Server) -> int:
    (pid,) = [p for p in server.pids() if b"service.trainer" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return pid


def finished(c, job_id: str, timeout: float = 120) -> dict:
    return wait_until(lambda: (j := c.get(f"/train/{job_id}").json())["status"] in FINISHED and j, timeout,
                      f"job {job_id} to finish")


def test_the_issues_requests_are_refused_at_once(tmp_path: Path) -> None:
    seed_models(tmp_path / "data")
    with Server(tmp_path / "data", tmp_path / "server.log", address_space=CAGE) as server, \
            server.client() as c:
        before = {pid: rss_high_water_kb(pid) for pid in server.pids()}
        requests = [
            ([12288] + [1] * 4_000_000, Code.TOO_MANY_LAYERS, "CATSVC_MAX_LAYERS"),  # an 8 MB body
            ([12288, 10_000, 1], Code.TOO_MANY_PARAMETERS, "CATSVC_MAX_PARAMETERS"),
            ([12288, 1_000_000, 1], Code.TOO_MANY_PARAMETERS, "CATSVC_MAX_PARAMETERS"),
        ]
        for dims, code, setting in requests:
            r = c.post("/train", content=orjson.dumps({"layer_dims": dims}),
                       headers={"content-type": "application/json"})
            assert r.status_code == 422, r.text
            assert r.json()["code"] == code and setting in r.json()["error"]
        assert c.get("/train").json()["jobs"] == []
        growth = {pid: rss_high_water_kb(pid) - kb for pid, kb in before.items()}
    # the API worker that parsed 4 million numbers holds them as one list for a moment
    assert max(growth.values()) < 150 * 1024, growth


def test_a_job_that_runs_out_of_memory_fails_alone_and_the_next_one_runs(tmp_path: Path) -> None:
    # every job is promised 2 GiB, but the service runs under 768 MiB of address space: the
    # largest model within the bounds (16M parameters, Adam's two moments, about 900 MB)
    # passes every check and runs away all the same
    seed_models(tmp_path / "data")
    server = Server(tmp_path / "data", tmp_path / "server.log", address_space=768 * MiB,
                    trainer_memory=2048 * MiB)
    with server, server.client() as c:
        trainer = trainer_pid(server)
        r = c.post("/train", json={"dataset": "synthetic", "layer_dims": [12288, 1300, 1], "optimizer": "adam",
                                   "iterations": 3})
        assert r.status_code == 202, r.text
        job = finished(c, r.json()["id"])
        assert (job["status"], job["reason"], job["model_version"]) == ("failed", "out_of_memory", None)
        assert "CATSVC_TRAINER_MEMORY" in job["message"]
        r = c.post("/train", json={"dataset": "synthetic", **SMALL})
        assert finished(c, r.json()["id"])["status"] == "succeeded"
        assert trainer_pid(server) == trainer  # the same trainer: it neither died nor was restarted


@pytest.fixture
def large_set(tmp_path: Path) -> Iterator[Path]:
    """A data set directory with 6000 random images (74 MB): the course's recipe on it starts
    with the 6000 x 6000 Gram matrix, one BLAS call of about 15 s of one core here."""
    sets = tmp_path / "sets"
    sets.mkdir()
    rng = np.random.default_rng(0)
    np.savez(sets / "large.npz", X=rng.integers(0, 256, size=(12288, 6000), dtype=np.uint8),
             Y=rng.integers(0, 2, size=(1, 6000)))
    yield sets


def test_delete_and_shutdown_end_a_job_in_the_middle_of_a_long_step(tmp_path: Path, large_set: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    server = Server(data, tmp_path / "server.log", address_space=CAGE, datasets_dir=large_set, shutdown_drain=0)
    with server, server.client() as c:
        trainer = trainer_pid(server)
        job_id = c.post("/train", json={"dataset": "large"}).json()["id"]
        wait_until(lambda: descendants(trainer), 30, "the job's process")
        r = c.delete(f"/train/{job_id}")
        assert r.status_code == 202 and r.json()["status"] == "running"
        # the loop's own check came only after the Gram matrix: 15 s and more
        wait_until(lambda: c.get(f"/train/{job_id}").json()["status"] == "cancelled", 5,
                   "the job to be cancelled")
        assert c.get(f"/train/{job_id}").json()["reason"] == "cancelled"
        assert descendants(trainer) == []

        # the same at shutdown: the job is recorded cancelled, not left running for the
        # supervisor to kill after CATSVC_SHUTDOWN_TIMEOUT
        again = c.post("/train", json={"dataset": "large"}).json()["id"]
        wait_until(lambda: descendants(trainer), 30, "the job's process")
        assert server.terminate() == 0
    job = queue_of(data).get(again)
    assert (job.status, job.reason) == ("cancelled", "shutdown")
    assert not os.path.exists(f"/proc/{trainer}")
