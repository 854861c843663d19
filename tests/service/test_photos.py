"""All 147 real photographs ($CATVNONCAT_DATA/photos, never committed) through a real
server's /predict: every file, whatever its format, size, orientation or transparency,
gets an answer, and the answers are model_core's own for the decoded file.

The accuracy itself is not asserted (the course's model scores about 0.53 here, chance
is 0.51): it is measured by bench/photos_accuracy.py and reported in the README.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from model_core import Model, image_to_vector
from service.store import ModelStore

from ..conftest import photos_dir
from .realserver import Server, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PHOTOS = photos_dir()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, course_dir: Path) -> Iterator[Server]:
    if PHOTOS is None:
        pytest.skip("the photos are absent: $CATVNONCAT_DATA/photos/images/{cat,non-cat}")
    tmp = tmp_path_factory.mktemp("photos")
    # the first model: the course's recipe on the course's data, as a fresh service trains it
    with Server(tmp / "data", tmp / "server.log", datasets_dir=course_dir) as s:
        yield s


def test_every_photo_gets_model_cores_answer(server: Server) -> None:
    assert PHOTOS is not None
    files = sorted((PHOTOS / "images").glob("*/*"))
    assert len(files) == 147
    with server.client() as c:
        version = wait_until(lambda: c.get("/health/ready").json().get("version"), 60, "the first model")
        answers = {}
        for f in files:
            r = c.post("/predict", files={"file": (f.name, f.read_bytes())})
            assert r.status_code == 200, (f.name, r.text)
            [answer] = r.json()["predictions"]
            assert answer["label"] in ("cat", "non-cat") and 0.0 <= answer["probability"] <= 1.0
            answers[f] = answer["probability"]
    model = Model.load(ModelStore(server.data_dir).model_path(version))
    expected = model.predict_proba(np.stack([image_to_vector(f) for f in files], axis=1))
    np.testing.assert_allclose([answers[f] for f in files], expected, rtol=1e-12)
    labels = np.array([f.parent.name == "cat" for f in files])
    print(f"\naccuracy of version {version} on the 147 photos: {((expected > 0.5) == labels).mean():.3f}")
