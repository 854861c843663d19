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

from model_core import image_to_vector

from ..conftest import photos_dir
from .realserver import Server, store_of, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

PHOTOS = photos_dir()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, course_dir: Path) -> Iterator[Server]:
    if PHOTOS is None:
        pytest.skip("the photos are absent: $CATVNONCAT_DATA/photos/images/{cat,non-cat}")
    tmp = tmp_path_factory.mktemp("photos")
    # the first model: the course's recipe on the course's data, as a fresh service trains it
    s = Server(tmp / "data", tmp / "server.log", datasets_dir=course_dir)
    try:
        yield s.start(ready=False)  # the first model is awaited, longer, by the test
    finally:
        s.kill()


def test_every_photo_gets_model_cores_answer(server: Server) -> None:
    assert PHOTOS is not None
    files = sorted((PHOTOS / "images").glob("*/*"))
    assert len(files) == 147
    with server.client() as c:
        # the first model on the course's data: the photos recipe, 20-30 s of training here
        version = wait_until(lambda: c.get("/health/ready").json().get("version"), 240, "the first model")
        answers = {}
        for f in files:
            r = c.post("/predict", files={"file": (f.name, f.read_bytes())})
            assert r.status_code == 200, (f.name, r.text)
            [answer] = r.json()["predictions"]
            assert answer["label"] in ("cat", "non-cat") and 0.0 <= answer["probability"] <= 1.0
            answers[f] = answer["probability"]
    model = store_of(server.data_dir).load(version)
    # one image at a time, as they were sent; a float32 network (the photos recipe) rounds its
    # last bits by batch and by BLAS threads (the server's worker has one): equal to float32's eps
    expected = np.array([model.predict_proba(image_to_vector(f)[:, None])[0] for f in files])
    tolerance = 1e-12 if model.parameters["W1"].dtype == np.float64 else 1e-5
    np.testing.assert_allclose([answers[f] for f in files], expected, rtol=tolerance, atol=tolerance)
    labels = np.array([f.parent.name == "cat" for f in files])
    print(f"\naccuracy of version {version} on the 147 photos: {((expected > 0.5) == labels).mean():.3f}")
