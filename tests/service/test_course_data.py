"""The service on the course's own data (CATVNONCAT_DATA); skipped where it is absent."""
from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from model_core import image_to_vector
from service.api.app import create_app
from service.trainer.worker import Trainer

from .conftest import image_bytes


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
        # the photos recipe (the convolutional net): 0.82 to 0.86 on the course's test set
        assert job["metrics"]["train_accuracy"] > 0.9 and job["metrics"]["dev_accuracy"] >= 0.8, job["metrics"]
        params = c.get("/params").json()
        assert params["dataset"]["name"] == "train_catvnoncat" and params["dataset"]["synthetic"] is False
        assert params["recipe"] == "photos" and params["tta"] == "flip" and params["architecture"]
        # the shapes of a network of layers, from its architecture: W1 a 3x3 conv of 3 -> 16 channels
        assert params["shapes"]["W1"] == [3, 3, 3, 16] and params["shapes"]["W5"] == [1, 64]
        # it serves: an image and its pixels get the same answer, and it is model_core's
        png = image_bytes("PNG", (80, 60), seed=4)
        r = c.post("/predict", files={"file": ("a.png", png)})
        assert r.status_code == 200 and r.json()["version"] == params["version"]
        model = c.app.state.services.store.load(params["version"])  # type: ignore[attr-defined]  # the app's own
        expected = model.predict_proba(image_to_vector(png)[:, None])
        assert abs(r.json()["predictions"][0]["probability"] - float(expected[0])) < 1e-6
