"""Under load: 16 concurrent clients predict for 20 s against the real server while a job
trains and the active version is switched 20 times. No request fails, and every answer
names a version that existed. (``pytest -k load``; about 30 s.)"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from .conftest import image_bytes
from .realserver import Server, seed_models, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CLIENTS = 16
DURATION = 20.0
SWITCHES = 20
LONG_JOB = {"dataset": "synthetic", "layer_dims": [12288, 8, 1], "iterations": 10_000_000}


def test_load_16_clients_while_training_and_switching(tmp_path: Path) -> None:
    data = tmp_path / "data"
    versions = seed_models(data, count=3)
    png = image_bytes("PNG", size=(64, 64))
    instance = {"instances": np.full((1, 12288), 100).tolist()}
    answers: list[list[tuple[int, int, int]]] = [[] for _ in range(CLIENTS)]  # (status, body version, header)
    failures: list[str] = []
    stop = threading.Event()

    with Server(data, tmp_path / "server.log", log_level="warning") as server, server.client() as admin:
        job = admin.post("/train", json=LONG_JOB).json()
        wait_until(lambda: admin.get(f"/train/{job['id']}").json()["status"] == "running", 60, "the job")

        def predict(i: int) -> None:
            with server.client(timeout=30) as c:
                n = 0
                while not stop.is_set():
                    try:
                        if n % 2:
                            r = c.post("/predict", json=instance)
                        else:
                            r = c.post("/predict", files={"file": (f"c{i}.png", png)})
                    except httpx.HTTPError as e:
                        failures.append(f"client {i}: {type(e).__name__}: {e}")
                        continue
                    n += 1
                    if r.status_code != 200:
                        failures.append(f"client {i}: {r.status_code} {r.text[:200]}")
                        continue
                    answers[i].append((r.status_code, r.json()["version"], int(r.headers["x-model-version"])))

        threads = [threading.Thread(target=predict, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        switched = []
        start = time.monotonic()
        for k in range(SWITCHES):  # evenly over the run
            time.sleep(max(0.0, start + (k + 0.5) * DURATION / SWITCHES - time.monotonic()))
            version = versions[k % len(versions)]
            r = admin.post(f"/models/{version}/activate")
            switched.append((r.status_code, r.json().get("active")))
        time.sleep(max(0.0, start + DURATION - time.monotonic()))
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)

        still = admin.get(f"/train/{job['id']}").json()
        assert still["status"] == "running" and still["progress"]["iteration"] > 0  # it trained throughout
        existed = {m["version"] for m in admin.get("/models").json()["models"]}
        admin.delete(f"/train/{job['id']}")

    assert not failures, failures[:10]
    assert switched == [(200, versions[k % len(versions)]) for k in range(SWITCHES)]
    flat = [a for per_client in answers for a in per_client]
    assert all(per_client for per_client in answers), "every client got answers"
    assert existed == set(versions)
    assert {body for _, body, _ in flat} <= existed
    assert all(body == header for _, body, header in flat)
    assert len({body for _, body, _ in flat}) > 1  # the switches showed in the answers
