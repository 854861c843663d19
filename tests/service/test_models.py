"""GET /models, GET /models/{version}, POST /models/{version}/activate."""
from __future__ import annotations

from fastapi.testclient import TestClient

from service.api.errors import Code
from service.trainer.worker import Trainer

from .conftest import SMALL, run_job

N = 12288


def test_no_versions_yet(client: TestClient) -> None:
    assert client.get("/models").json() == {"active": None, "models": []}


def test_list_newest_first_and_activate_an_older_one(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    first = run_job(client, trainer, dataset=dataset_id, **SMALL)
    second = run_job(client, trainer, dataset=dataset_id, seed=3, **SMALL)
    body = client.get("/models").json()
    assert body["active"] == 2
    assert [(m["version"], m["active"]) for m in body["models"]] == [(2, True), (1, False)]
    assert body["models"][1]["source"] == {"kind": "job", "job_id": first["id"]}
    assert body["models"][0]["metrics"] == second["metrics"]
    assert body["models"][0]["layer_dims"] == SMALL["layer_dims"]

    r = client.post("/models/1/activate")
    assert r.status_code == 200
    assert r.json() == {"active": 1, "previous": 2}
    assert client.get("/health/ready").json()["version"] == 1
    assert client.post("/predict", json={"instances": [[0] * N]}).json()["version"] == 1
    assert client.get("/models/1").json()["active"] is True
    assert client.get("/models/2").json()["active"] is False


def test_unknown_versions(client: TestClient, model_version: int) -> None:
    for r in (client.get("/models/42"), client.post("/models/42/activate")):
        assert r.status_code == 404
        assert r.json()["code"] == Code.MODEL_NOT_FOUND
    r = client.post("/models/latest/activate")
    assert r.status_code == 422
    assert r.json()["code"] == Code.VALIDATION_ERROR and r.json()["error"].startswith("version: ")
    assert client.get("/health/ready").json()["version"] == model_version


def test_activate_needs_post(client: TestClient, model_version: int) -> None:
    r = client.get(f"/models/{model_version}/activate")
    assert r.status_code == 405
    assert r.json()["code"] == Code.METHOD_NOT_ALLOWED
    assert r.headers["allow"] == "POST"
