"""End to end: the real server (``python -m service``) on a free 127.0.0.1 port, over HTTP.

Upload a data set, train, predict real image files of several formats, download the
parameters and upload them back, restart, and find the job history and active version.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.state.synthetic import make_synthetic

from .conftest import FORMATS, SMALL, image_bytes, npz_bytes
from .realserver import START_TIMEOUT, Server, free_port, wait_until

JOB_TIMEOUT = 120.0


@contextmanager
def running_server(data_dir: Path, port: int, log: Path) -> Iterator[httpx.Client]:
    server = Server(data_dir, log, port, log_level="warning").start(ready=False)
    try:
        with server.client() as client:
            yield client
        assert server.terminate() == 0, log.read_text()
    finally:
        server.kill()


def wait_for_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job = client.get(f"/train/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(finished, JOB_TIMEOUT, f"job {job_id}")


@pytest.mark.timeout(300)
def test_the_real_server_end_to_end(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    images = {}
    for i, (ext, fmt) in enumerate(FORMATS.items()):
        path = tmp_path / f"picture.{ext}"
        path.write_bytes(image_bytes(fmt, size=(120 + 10 * i, 90), seed=i))
        images[path.name] = path
    port = free_port()

    with running_server(data_dir, port, log) as client:
        # a fresh machine: the trainer queues a first job (on the synthetic set) as it starts,
        # which may be after the API answers (in cluster mode it is a process of its own)
        first_jobs = wait_until(lambda: client.get("/train").json()["jobs"], START_TIMEOUT, "the first job")
        assert [j["dataset"] for j in first_jobs] == ["synthetic"]

        r = client.post("/datasets", files={"file": ("small.npz", npz_bytes(*make_synthetic(24, seed=4)))})
        assert r.status_code == 201, r.text
        r = client.post("/train", json={"dataset": r.json()["id"], **SMALL})
        assert r.status_code == 202, r.text
        job = wait_for_job(client, r.json()["id"])
        assert job["status"] == "succeeded", job
        assert wait_for_job(client, first_jobs[0]["id"])["status"] == "succeeded"
        version = job["model_version"]
        dataset_id = job["dataset"]
        assert client.get("/health/ready").json() == {"status": "ready", "version": version, "dataset": dataset_id,
                                                       "synthetic": False}

        handles = [open(path, "rb") for path in images.values()]
        try:
            r = client.post("/predict", files=[("file", (name, f)) for name, f in zip(images, handles)])
        finally:
            for f in handles:
                f.close()
        assert r.status_code == 200, r.text
        assert r.json()["version"] == version
        assert [p["filename"] for p in r.json()["predictions"]] == list(images)
        assert all(p["label"] in ("cat", "non-cat") for p in r.json()["predictions"])
        r = client.post("/predict", json={"instances": np.full((2, 12288), 200).tolist()})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2

        params = client.get("/params/download")
        assert params.status_code == 200
        r = client.put("/params", params={"activate": "true"}, files={"file": ("params.npz", params.content)})
        assert r.status_code == 201, r.text
        uploaded = r.json()["version"]
        assert uploaded == version + 1
        # both API workers switch: each answers with the new version from its next request
        answers = {client.post("/predict", files={"file": ("a.png", image_bytes())}).json()["version"]
                   for _ in range(8)}
        assert answers == {uploaded}
        jobs_before = client.get("/train").json()["jobs"]

    with running_server(data_dir, port, log) as client:
        ready = wait_until(lambda: client.get("/health/ready").status_code == 200 and client.get("/health/ready"),
                           START_TIMEOUT, "/health/ready")
        assert ready.json()["version"] == uploaded
        jobs_after = client.get("/train").json()["jobs"]
        assert [(j["id"], j["status"], j["model_version"]) for j in jobs_after] == [
            (j["id"], j["status"], j["model_version"]) for j in jobs_before
        ]
        assert [m["version"] for m in client.get("/models").json()["models"]] == [uploaded, version, version - 1]
        r = client.post("/predict", files={"file": ("b.webp", images["picture.webp"].read_bytes())})
        assert r.json()["version"] == uploaded
