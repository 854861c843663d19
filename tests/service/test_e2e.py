"""End to end: the real server (``python -m service``) on a free 127.0.0.1 port, over HTTP.

Upload a data set, train, predict real image files of several formats, download the
parameters and upload them back, restart, and find the job history and active version.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.synthetic import make_synthetic

from .conftest import FORMATS, SMALL, image_bytes, npz_bytes

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
JOB_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str) -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except httpx.TransportError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@contextmanager
def running_server(data_dir: Path, port: int, log: Path) -> Iterator[httpx.Client]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATSVC_")}
    env.update(CATSVC_PORT=str(port), CATSVC_DATA_DIR=str(data_dir), CATSVC_WORKERS="2",
               CATSVC_LOG_LEVEL="warning", CATSVC_PROGRESS_INTERVAL="0.05", CATSVC_POLL_INTERVAL="0.1")
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_until(lambda: proc.poll() is not None or client.get("/health/live").status_code == 200,
                       START_TIMEOUT, "/health/live")
            assert proc.poll() is None, log.read_text()
            yield client
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


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
        # a fresh machine: the first job (on the synthetic set) is already queued or running
        first_jobs = client.get("/train").json()["jobs"]
        assert [j["dataset"] for j in first_jobs] == ["synthetic"]

        r = client.post("/datasets", files={"file": ("small.npz", npz_bytes(*make_synthetic(24, seed=4)))})
        assert r.status_code == 201, r.text
        r = client.post("/train", json={"dataset": r.json()["id"], **SMALL})
        assert r.status_code == 202, r.text
        job = wait_for_job(client, r.json()["id"])
        assert job["status"] == "succeeded", job
        assert wait_for_job(client, first_jobs[0]["id"])["status"] == "succeeded"
        version = job["model_version"]
        assert client.get("/health/ready").json() == {"status": "ready", "version": version}

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
        r = client.put("/params", files={"file": ("params.npz", params.content)})
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
