"""service.trainer: the first job, recovery after a crash, shutdown, the synthetic first model."""
from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from model_core import TrainConfig
from service.state.jobs import JobQueue
from service.settings import Settings
from service.trainer.worker import Trainer

from .conftest import SMALL
from .test_params import course_npz, course_parameters
from .test_train import wait_for


def test_the_first_job_is_queued_once(trainer: Trainer) -> None:
    job = trainer.start_up()
    assert job is not None
    # the synthetic drawings get the course's net (a second), real data the photos recipe
    assert job.dataset == "synthetic" and job.config == TrainConfig().to_dict()
    assert job.options == {"activate": True, "bootstrap": True, "recipe": "course"}
    assert Trainer(trainer.settings).start_up() is None  # a second start (or process) adds nothing
    assert len(trainer.queue.list()) == 1


def test_no_first_job_when_a_model_exists(client: TestClient, trainer: Trainer, model_version: int) -> None:
    assert trainer.start_up() is None


def test_the_first_model_is_synthetic_labelled_and_clearly_better_than_chance(
    client: TestClient, trainer: Trainer
) -> None:
    job = trainer.start_up()
    finished = trainer.run_once()
    assert finished is not None and finished.id == job.id and finished.status == "succeeded", finished
    params = client.get("/params").json()
    assert params["dataset"]["name"] == "synthetic" and params["dataset"]["synthetic"] is True
    assert params["hyperparameters"] == TrainConfig().to_dict()
    # held-out drawings (another seed): chance is 0.5
    assert params["metrics"]["dev_accuracy"] >= 0.7, params["metrics"]
    assert client.get("/health/ready").json()["version"] == finished.model_version


def test_the_first_job_does_not_replace_a_model_uploaded_meanwhile(client: TestClient, trainer: Trainer) -> None:
    trainer.start_up()
    uploaded = client.put("/params", files={"file": ("p.npz", course_npz(**course_parameters()))}).json()["version"]
    trainer.run_once()
    assert client.get("/health/ready").json()["version"] == uploaded
    assert len(client.get("/models").json()["models"]) == 2


@pytest.mark.embedded_only  # writes the data directory's files by hand
def test_a_job_running_when_the_process_died_reads_interrupted(settings: Settings, client: TestClient,
                                                               dataset_id: str) -> None:
    job_id = client.post("/train", json={"dataset": dataset_id, **SMALL}).json()["id"]
    JobQueue(settings.jobs_db).claim()  # a trainer took it, then died
    assert client.get(f"/train/{job_id}").json()["status"] == "running"
    Trainer(settings).start_up()  # the next start
    job = client.get(f"/train/{job_id}").json()
    assert job["status"] == "failed" and job["reason"] == "interrupted"
    assert list(job["times"]) == ["queued", "running", "failed"]


def test_stop_cancels_the_running_job_with_reason_shutdown(client: TestClient, trainer: Trainer,
                                                           dataset_id: str) -> None:
    job_id = client.post("/train", json={"dataset": dataset_id, "layer_dims": [12288, 2, 1],
                                         "iterations": 10_000_000}).json()["id"]
    serving = threading.Thread(target=trainer.serve, daemon=True)
    serving.start()
    try:
        wait_for(lambda: client.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, what="progress")
    finally:
        trainer.stop()
        serving.join(timeout=60)
    assert not serving.is_alive()
    job = client.get(f"/train/{job_id}").json()
    assert (job["status"], job["reason"], job["model_version"]) == ("cancelled", "shutdown", None)


def test_jobs_run_one_at_a_time_in_order(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    ids = [client.post("/train", json={"dataset": dataset_id, "seed": s, **SMALL}).json()["id"] for s in (1, 2)]
    finished = trainer.run_pending()
    assert [j.id for j in finished] == ids
    assert [j.model_version for j in finished] == [1, 2]




@pytest.mark.embedded_only  # writes the data directory's files by hand
def test_with_no_pointer_the_newest_readable_version_is_activated(trainer: Trainer) -> None:
    """A crash between a version and its activation, the newest version unreadable: the
    start-up serves the newest one that can be served, and does not crash."""
    import json

    from .realserver import seed_models

    versions = seed_models(trainer.settings.data_dir, count=2)
    trainer.store.active_file.unlink()
    (trainer.store.models_dir / str(versions[-1]) / "metadata.json").write_text(json.dumps({"created_at": 1}))
    assert trainer.start_up() is None
    assert trainer.store.active_version() == versions[0]
