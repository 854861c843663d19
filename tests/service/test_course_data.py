"""The service on the course's own data (CATVNONCAT_DATA); skipped where it is absent."""
from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.trainer import Trainer


def test_the_course_files_are_the_default_with_test_as_dev(make_settings, course_dir: Path) -> None:
    settings = make_settings(datasets_dir=course_dir)
    with TestClient(create_app(settings)) as c:
        listed = {d["id"]: d for d in c.get("/datasets").json()["datasets"]}
        assert c.get("/datasets").json()["default"] == "train_catvnoncat"
        assert (listed["train_catvnoncat"]["m"], listed["train_catvnoncat"]["cats"]) == (209, 72)
        assert listed["train_catvnoncat"]["dev"] == "test_catvnoncat"
        # the first model: the recipe (the course's 4-layer network) on the course's data
        trainer = Trainer(settings)
        first = trainer.start_up()
        assert first is not None and first.dataset == "train_catvnoncat"
        trainer.run_once()
        job = c.get(f"/train/{first.id}").json()
        assert job["status"] == "succeeded", job
        assert job["metrics"]["dev_set"] == "test_catvnoncat"
        # the course reports 0.985 on train and 0.8 on test for this recipe
        assert job["metrics"]["train_accuracy"] > 0.9 and job["metrics"]["dev_accuracy"] > 0.7, job["metrics"]
        params = c.get("/params").json()
        assert params["dataset"]["name"] == "train_catvnoncat" and params["dataset"]["synthetic"] is False
