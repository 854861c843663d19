"""GET /health/live and /health/ready."""
from __future__ import annotations

from fastapi.testclient import TestClient

from service.api.errors import Code
from service.trainer.worker import Trainer

from .conftest import SMALL


def test_live_answers_even_without_a_model(client: TestClient) -> None:
    r = client.get("/health/live")
    assert r.status_code == 200
    assert r.json() == {"status": "live"}


def test_ready_is_503_with_what_to_do_while_there_is_no_model(client: TestClient) -> None:
    r = client.get("/health/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["code"] == Code.NOT_READY
    assert "no model yet" in body["error"]
    assert "POST /train" in body["error"] and "PUT /params" in body["error"]
    assert r.headers["retry-after"]


def test_ready_names_the_job_that_will_bring_the_first_model(client: TestClient, trainer: Trainer) -> None:
    job = trainer.start_up()
    assert job is not None
    body = client.get("/health/ready").json()
    assert body["code"] == Code.NOT_READY
    assert job.id in body["error"] and "queued" in body["error"]
    assert body["job_id"] == job.id


def test_ready_once_a_model_is_loaded(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    r = client.post("/train", json={"dataset": dataset_id, **SMALL})
    trainer.run_once()
    version = client.get(r.headers["location"]).json()["model_version"]
    r = client.get("/health/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "version": version, "dataset": dataset_id, "synthetic": False}
