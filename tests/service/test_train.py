"""Training jobs: POST /train, GET /train[/{id}], DELETE /train/{id}."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model_core import ConfigError, TrainConfig, recipe
from service.api.app import create_app
from service.api.errors import Code
from service.trainer.worker import Trainer

from .conftest import SMALL, run_job


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll until ``predicate()`` holds; fail after ``timeout`` seconds (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_post_queues_a_job_with_location(client: TestClient, dataset_id: str) -> None:
    r = client.post("/train", json={"dataset": dataset_id, "learning_rate": 0.01})
    assert r.status_code == 202
    job = r.json()
    assert r.headers["location"] == f"/train/{job['id']}"
    assert job["status"] == "queued" and job["dataset"] == dataset_id
    assert set(job["times"]) == {"queued"}
    # without a recipe: the photos recipe, the fields given changing it (less what a
    # mini-batch run does not read: iterations)
    expected = recipe("photos", {"learning_rate": 0.01}).to_dict()
    assert job["config"] == {k: v for k, v in expected.items() if k != "iterations"}
    assert job["progress"] == {"iteration": 0, "total": recipe("photos").epochs, "unit": "epoch",
                               "percent": 0.0, "cost": None, "eta_seconds": None}
    # a body that describes a fully connected net starts from the course's recipe
    full_batch = ("epochs", "batch_size")  # what a full-batch job's view leaves out
    r = client.post("/train", json={"dataset": dataset_id, "layer_dims": [12288, 3, 1]})
    expected = TrainConfig(layer_dims=(12288, 3, 1)).to_dict()
    assert r.json()["config"] == {k: v for k, v in expected.items() if k not in full_batch}
    r = client.post("/train", json={"dataset": dataset_id, "recipe": "course"})
    assert r.json()["config"] == {k: v for k, v in TrainConfig().to_dict().items() if k not in full_batch}
    r = client.post("/train", json={"dataset": dataset_id, "recipe": "<b>x</b>"})
    assert r.status_code == 422 and r.json()["field"] == "recipe" and "<b>" not in r.text
    for no_name in (False, "", 0, {}, []):  # once the default recipe, silently
        r = client.post("/train", json={"dataset": dataset_id, "recipe": no_name})
        assert r.status_code == 422 and r.json()["field"] == "recipe", (no_name, r.text)
    assert client.post("/train", json={"dataset": dataset_id, "recipe": None}).status_code == 202  # null: the default


@pytest.mark.parametrize(("body", "field"), [
    ({"layer_dims": [100, 5, 1]}, "layer_dims"),  # n_x is not 12288
    ({"layer_dims": [12288, 5.5, 1]}, "layer_dims"),
    ({"activate": "yes"}, "activate"),
    ({"dataset": 7}, "dataset"),
])
def test_each_refusal_of_a_train_body_names_its_field(client: TestClient, body: dict, field: str) -> None:
    r = client.post("/train", json=body)
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_an_empty_body_is_the_recipe_on_the_default_data_set(client: TestClient) -> None:
    r = client.post("/train")
    assert r.status_code == 202
    assert r.json()["dataset"] == "synthetic"
    assert r.json()["config"] == {k: v for k, v in recipe("photos").to_dict().items() if k != "iterations"}


def expected_message(**fields: Any) -> str:
    """model_core's own message for these fields, without the echoed value."""
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(fields)
    return e.value.reason


@pytest.mark.parametrize(
    "fields",
    [
        {"learning_rate": -1},
        {"learning_rate": 0},
        {"iterations": 0},
        {"iterations": "many"},
        {"epochs": 0},
        {"batch_size": 0},
        {"beta1": 1.0},
        {"l2": -0.5},
        {"optimizer": "sgd-with-magic"},
        {"hidden_activation": "softmax"},
        {"dtype": "float16"},
        {"seed": -1},
        {"layer_dims": [12288, 5, 2]},
        {"no_such_field": 1},
    ],
    ids=lambda f: next(iter(f)),
)
def test_invalid_hyperparameters_are_422_naming_the_field_and_range(client: TestClient, fields: dict) -> None:
    r = client.post("/train", json=fields)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == Code.INVALID_CONFIG
    field = next(iter(fields))
    assert body["error"] in (expected_message(**fields), f"{field}: {expected_message(**fields)}")
    assert body["error"].startswith(field)


def test_a_range_error_states_the_range_and_not_the_value(client: TestClient) -> None:
    r = client.post("/train", json={"learning_rate": 12345.678})
    assert r.json()["error"] == "learning_rate must be a number in (0.0, 100.0]"
    assert "12345" not in r.text


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"layer_dims": [100, 4, 1]}, Code.INVALID_CONFIG, "layer_dims"),
        ({"layer_dims": "12288,4,1"}, Code.INVALID_CONFIG, "layer_dims"),
        ({"layer_dims": [12288, 4.5, 1]}, Code.INVALID_CONFIG, "layer_dims"),
        ({"activate": "yes"}, Code.VALIDATION_ERROR, "activate"),
        ({"dataset": 3}, Code.VALIDATION_ERROR, "dataset"),
        ({"dataset": "no-such-set"}, Code.UNKNOWN_DATASET, "dataset"),
        ([1, 2], Code.VALIDATION_ERROR, "JSON object"),
    ],
    ids=["n_x", "dims-string", "dims-float", "activate", "dataset-type", "dataset-unknown", "array"],
)
def test_other_bad_requests_are_422(client: TestClient, body: Any, code: str, field: str) -> None:
    r = client.post("/train", json=body)
    assert r.status_code == 422
    assert r.json()["code"] == code
    assert field in r.json()["error"]
    assert "no-such-set" not in r.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=b", "application/jsonx", None])
def test_a_body_that_is_not_declared_json_is_415_and_queues_nothing(client: TestClient,
                                                                    content_type: str | None) -> None:
    # text/plain and forms are what another site's page may send without a CORS preflight
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/train", content=b'{"iterations": 1}', headers=headers)
    assert r.status_code == 415
    assert r.json()["code"] == Code.UNSUPPORTED_MEDIA_TYPE and "application/json" in r.json()["error"]
    assert client.get("/train").json()["jobs"] == []


@pytest.mark.parametrize("content_type", ["Application/JSON", "application/json; charset=utf-8",
                                          " application/json ;charset=UTF-8"])
def test_json_is_recognised_in_any_case_and_with_parameters(client: TestClient, content_type: str) -> None:
    r = client.post("/train", content=b'{"recipe": "course", "iterations": 1}', headers={"content-type": content_type})
    assert r.status_code == 202, r.text
    assert r.json()["config"]["iterations"] == 1


def test_not_json_is_422(client: TestClient) -> None:
    r = client.post("/train", content=b"learning_rate=0.1", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["code"] == Code.INVALID_JSON


def test_a_finished_job_shows_everything(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    job = run_job(client, trainer, dataset=dataset_id, **SMALL)
    assert job["status"] == "succeeded"
    assert list(job["times"]) == ["queued", "running", "succeeded"]
    assert job["times"]["queued"] <= job["times"]["running"] <= job["times"]["succeeded"]
    assert job["progress"]["iteration"] == job["progress"]["total"] == SMALL["iterations"]
    assert job["progress"]["percent"] == 100.0 and job["progress"]["eta_seconds"] == 0.0
    steps = [step for step, _ in job["costs"]]
    assert steps[0] == 0 and steps[-1] == SMALL["iterations"] - 1
    assert job["progress"]["cost"] == pytest.approx(job["costs"][-1][1])
    assert 0.0 <= job["metrics"]["train_accuracy"] <= 1.0
    assert job["model_version"] == 1
    assert job["reason"] is None and not job["cancel_requested"]
    assert client.get("/models").json()["active"] == 1


def test_mini_batch_fields(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    job = run_job(client, trainer, dataset=dataset_id, layer_dims=[12288, 4, 1], optimizer="adam",
                  learning_rate=0.001, epochs=3, batch_size=8)
    assert job["status"] == "succeeded"
    assert job["config"]["epochs"] == 3 and job["config"]["batch_size"] == 8
    assert "iterations" not in job["config"]  # a mini-batch run does not read it
    assert job["progress"] == {**job["progress"], "iteration": 3, "total": 3, "unit": "epoch"}
    assert [step for step, _ in job["costs"]] == [0, 1, 2]


def test_activate_false_keeps_the_active_version(client: TestClient, trainer: Trainer, model_version: int,
                                                 dataset_id: str) -> None:
    job = run_job(client, trainer, dataset=dataset_id, activate=False, **SMALL)
    assert job["model_version"] == model_version + 1
    assert client.get("/health/ready").json()["version"] == model_version


def test_list_is_newest_first(client: TestClient, dataset_id: str) -> None:
    ids = [client.post("/train", json={"dataset": dataset_id}).json()["id"] for _ in range(3)]
    listed = [j["id"] for j in client.get("/train").json()["jobs"]]
    assert listed == ids[::-1]
    assert [j["id"] for j in client.get("/train", params={"limit": 1, "offset": 1}).json()["jobs"]] == [ids[1]]
    assert client.get("/train", params={"limit": 0}).status_code == 422


def test_unknown_job_is_404(client: TestClient) -> None:
    for r in (client.get("/train/nope"), client.delete("/train/nope")):
        assert r.status_code == 404
        assert r.json()["code"] == Code.JOB_NOT_FOUND


def test_cancel_a_queued_job(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    job_id = client.post("/train", json={"dataset": dataset_id}).json()["id"]
    r = client.delete(f"/train/{job_id}")
    assert r.status_code == 200
    job = r.json()
    assert job["status"] == "cancelled" and job["reason"] == "cancelled"
    assert list(job["times"]) == ["queued", "cancelled"]
    assert trainer.run_once() is None  # nothing left to run


def test_cancel_a_finished_job_is_409(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    job = run_job(client, trainer, dataset=dataset_id, **SMALL)
    r = client.delete(f"/train/{job['id']}")
    assert r.status_code == 409
    assert r.json()["code"] == Code.JOB_FINISHED and r.json()["status"] == "succeeded"
    assert r.json()["error"] == "the job has already succeeded; only queued or running jobs can be cancelled"
    cancelled = client.post("/train", json={"dataset": dataset_id}).json()["id"]
    client.delete(f"/train/{cancelled}")
    r = client.delete(f"/train/{cancelled}")
    assert r.status_code == 409 and r.json()["error"].startswith("the job has already been cancelled;")


def test_cancel_a_running_job_stops_it_without_a_model(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    # far more iterations than the test will let it run
    job_id = client.post("/train", json={"dataset": dataset_id, "layer_dims": [12288, 2, 1],
                                         "iterations": 10_000_000}).json()["id"]
    worker = threading.Thread(target=trainer.run_once, daemon=True)
    worker.start()
    try:
        wait_for(lambda: client.get(f"/train/{job_id}").json()["progress"]["eta_seconds"] is not None,
                 what="an ETA")
        running = client.get(f"/train/{job_id}").json()
        assert running["status"] == "running" and running["progress"]["iteration"] > 0
        r = client.delete(f"/train/{job_id}")
        assert r.status_code == 202 and r.json()["cancel_requested"]
    finally:
        worker.join(timeout=60)
    assert not worker.is_alive()
    job = client.get(f"/train/{job_id}").json()
    assert job["status"] == "cancelled" and job["reason"] == "cancelled"
    assert job["model_version"] is None
    assert client.get("/models").json()["models"] == []


def test_the_queue_is_bounded(make_settings, dataset_id: str) -> None:
    settings = make_settings(max_queued_jobs=2)
    with TestClient(create_app(settings)) as c:
        assert [c.post("/train", json={"dataset": dataset_id}).status_code for _ in range(2)] == [202, 202]
        r = c.post("/train", json={"dataset": dataset_id})
        assert r.status_code == 429
        body = r.json()
        assert body["code"] == Code.QUEUE_FULL and body["limit"] == 2
        assert "CATSVC_MAX_QUEUED_JOBS" in body["error"]
        assert r.headers["retry-after"]


@pytest.mark.embedded_only  # removes the upload's directory by hand
def test_a_job_whose_data_set_vanished_fails_with_the_reason(client: TestClient, trainer: Trainer,
                                                             settings, dataset_id: str) -> None:
    import shutil

    job_id = client.post("/train", json={"dataset": dataset_id, **SMALL}).json()["id"]
    shutil.rmtree(settings.uploads_dir / dataset_id)
    trainer.run_once()
    job = client.get(f"/train/{job_id}").json()
    assert job["status"] == "failed" and job["reason"] == "unknown_dataset"
    assert list(job["times"]) == ["queued", "running", "failed"]


def test_a_run_that_saturated_fails_as_diverged(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    # the newcomer run: it used to succeed, every answer "non-cat", cost stuck at 8
    job = run_job(client, trainer, dataset=dataset_id, layer_dims=[12288, 4, 1], learning_rate=50, iterations=300)
    assert job["status"] == "failed" and job["reason"] == "diverged", job
    assert "try a smaller learning_rate (got 50" in job["message"]
    assert job["model_version"] is None
    assert client.get("/models").json()["models"] == []


def test_a_job_that_ended_without_a_cost_says_none_was_recorded_not_yet(client: TestClient) -> None:
    job_id = client.post("/train", json={"dataset": "synthetic", "recipe": "course"}).json()["id"]
    queued = client.get(f"/train/{job_id}/cost.svg").text
    assert client.delete(f"/train/{job_id}").status_code == 200  # queued: cancelled at once
    ended = client.get(f"/train/{job_id}/cost.svg").text
    assert ">no cost recorded yet<" in queued and ">no cost recorded<" in ended
