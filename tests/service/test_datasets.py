"""Data sets: GET /datasets, GET /datasets/{id}, POST /datasets; and training on files."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from fastapi.testclient import TestClient

from model_core.data import dataset_sha256
from service.api.app import create_app
from service.api.errors import Code
from service.settings import Settings
from service.state.synthetic import make_synthetic
from service.trainer.worker import Trainer

from .conftest import SMALL, image_bytes, leftovers, npz_bytes, run_job


def write_course_h5(path: Path, prefix: str, X: np.ndarray, Y: np.ndarray) -> None:
    """The course's layout: <prefix>_x (m, 64, 64, 3) uint8 and <prefix>_y (m,)."""
    m = X.shape[1]
    with h5py.File(path, "w") as f:
        f[f"{prefix}_x"] = X.T.reshape(m, 64, 64, 3)
        f[f"{prefix}_y"] = Y.reshape(m)
        f["list_classes"] = np.array([b"non-cat", b"cat"])


def zip_of_folders(cats: int, others: int, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(cats):
            z.writestr(f"pets/cat/{i}.png", image_bytes("PNG", seed=i))
        for i in range(others):
            z.writestr(f"pets/non-cat/{i}.jpg", image_bytes("JPEG", size=(80, 60), seed=100 + i))
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def test_the_synthetic_set_is_listed_and_default(client: TestClient) -> None:
    body = client.get("/datasets").json()
    assert body["default"] == "synthetic"
    [synthetic] = body["datasets"]
    assert synthetic["id"] == "synthetic" and synthetic["kind"] == "synthetic"
    assert synthetic["m"] == 300 and synthetic["cats"] == 150 and len(synthetic["sha256"]) == 64


def test_upload_npz(client: TestClient, small_data) -> None:
    X, Y = small_data
    r = client.post("/datasets", files={"file": ("mine.npz", npz_bytes(X, Y))})
    assert r.status_code == 201
    body = r.json()
    assert body["m"] == X.shape[1] and body["cats"] == int(Y.sum())
    assert body["sha256"] == dataset_sha256(X, Y)
    assert body["kind"] == "upload" and body["filename"] == "mine.npz"
    assert r.headers["location"] == f"/datasets/{body['id']}"
    assert client.get(f"/datasets/{body['id']}").json() == body
    assert body in client.get("/datasets").json()["datasets"]
    # the same data again: the same id, 200
    again = client.post("/datasets", files={"file": ("other-name.npz", npz_bytes(X, Y))})
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_upload_course_h5(client: TestClient, tmp_path: Path) -> None:
    X, Y = make_synthetic(10, seed=3)
    write_course_h5(tmp_path / "t.h5", "train_set", X, Y)
    r = client.post("/datasets", files={"file": ("t.h5", (tmp_path / "t.h5").read_bytes())})
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == dataset_sha256(X, Y)


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain",
                                          "application/x-www-form-urlencoded", "multipart/mixed; boundary=b"])
def test_a_raw_body_is_415_and_stores_nothing(client: TestClient, small_data: tuple, content_type: str | None,
                                             settings: Settings) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/datasets", content=npz_bytes(*small_data), headers=headers)
    assert r.status_code == 415
    assert r.json()["code"] == Code.UNSUPPORTED_MEDIA_TYPE and "multipart/form-data" in r.json()["error"]
    assert [d["kind"] for d in client.get("/datasets").json()["datasets"]] == ["synthetic"]
    assert not list(settings.tmp_dir.glob("upload-*"))


def test_upload_zip_of_cat_and_non_cat_folders(client: TestClient, trainer: Trainer) -> None:
    r = client.post("/datasets", files={"file": ("pets.zip", zip_of_folders(3, 4))})
    assert r.status_code == 201, r.text
    assert (r.json()["m"], r.json()["cats"]) == (7, 3)
    job = run_job(client, trainer, dataset=r.json()["id"], **SMALL)
    assert job["status"] == "succeeded"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"just some text, not a data set", "unknown data set format"),
        (npz_bytes(np.zeros((12288, 2), np.uint8), np.array([1, 0])).replace(b"Y.npy", b"Z.npy"), "'X' and 'Y'"),
        (npz_bytes(np.zeros((100, 2), np.uint8), np.array([1, 0])), "expected (12288, m)"),
        (zip_of_folders(1, 1, {"../evil.png": b"x"}), "unsafe path"),
        (zip_of_folders(0, 0, {"readme.txt": b"x"}), "cat/ and non-cat/"),
        (npz_bytes(np.zeros((12288, 2), np.uint8), np.array([1, 0, 1])),
         "the uploaded file: Y: labels have shape (3,); expected 2 labels"),
        (zip_of_folders(1, 1, {"pets/cat/broken.png": b"not an image"}), "the uploaded file: member #"),
        (b"PK\x03\x04" + b"\0" * 40, "the uploaded file: "),
    ],
    ids=["text", "no-Y", "wrong-shape", "zip-slip", "no-folders", "labels-of-a-member", "bad-member", "bad-zip"],
)
def test_invalid_uploads_are_422_with_model_core_s_reason(
    client: TestClient, settings: Settings, data: bytes, fragment: str
) -> None:
    r = client.post("/datasets", files={"file": ("bad.bin", data)})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == Code.INVALID_DATASET
    assert fragment in body["error"] and "  " not in body["error"], body["error"]
    assert str(settings.data_dir) not in body["error"]  # no server paths
    assert leftovers(settings.tmp_dir) == []  # the temporary file is gone


def test_an_empty_or_missing_file_is_422(client: TestClient) -> None:
    r = client.post("/datasets", files={"file": ("empty.npz", b"")})
    assert r.status_code == 422 and r.json()["code"] == Code.MISSING_FILE
    r = client.post("/datasets", files={"data": ("x.npz", b"123")})
    assert r.status_code == 422 and r.json()["code"] == Code.MISSING_FILE
    assert "'file'" in r.json()["error"]


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(make_settings, small_data) -> None:
    settings = make_settings(max_dataset_bytes=100_000)
    with TestClient(create_app(settings)) as c:
        r = c.post("/datasets", files={"file": ("big.npz", npz_bytes(*small_data))})  # ~300 KB
        assert r.status_code == 413
        body = r.json()
        assert body["code"] == Code.BODY_TOO_LARGE and body["limit"] == 100_000
        assert "CATSVC_MAX_DATASET_BYTES" in body["error"]
        assert leftovers(settings.tmp_dir) == []
        assert [d["id"] for d in c.get("/datasets").json()["datasets"]] == ["synthetic"]


def test_unknown_dataset_is_404(client: TestClient) -> None:
    r = client.get("/datasets/0123456789abcdef")
    assert r.status_code == 404
    assert r.json()["code"] == Code.DATASET_NOT_FOUND


@pytest.fixture
def datasets_dir(tmp_path: Path) -> Path:
    """A read-only data set directory like compose's /data: a course-style train/test pair."""
    d = tmp_path / "sets"
    d.mkdir()
    write_course_h5(d / "train_catvnoncat.h5", "train_set", *make_synthetic(30, seed=11))
    write_course_h5(d / "test_catvnoncat.h5", "test_set", *make_synthetic(12, seed=12))
    (d / "notes.txt").write_text("not a data set")
    return d


def test_files_in_the_datasets_dir_are_listed_with_their_dev_set(make_settings, datasets_dir: Path) -> None:
    settings = make_settings(datasets_dir=datasets_dir)
    with TestClient(create_app(settings)) as c:
        body = c.get("/datasets").json()
        assert body["default"] == "train_catvnoncat"
        by_id = {d["id"]: d for d in body["datasets"]}
        assert set(by_id) == {"synthetic", "train_catvnoncat", "test_catvnoncat"}
        assert by_id["train_catvnoncat"]["m"] == 30 and by_id["train_catvnoncat"]["dev"] == "test_catvnoncat"
        assert by_id["train_catvnoncat"]["filename"] == "train_catvnoncat.h5"
        assert by_id["test_catvnoncat"]["dev"] is None


def test_training_on_a_train_file_reports_dev_accuracy_on_its_test_file(make_settings, datasets_dir: Path) -> None:
    settings = make_settings(datasets_dir=datasets_dir)
    with TestClient(create_app(settings)) as c:
        job = run_job(c, Trainer(settings), dataset="train_catvnoncat", **SMALL)
        assert job["status"] == "succeeded"
        assert job["metrics"]["dev_set"] == "test_catvnoncat"
        assert 0.0 <= job["metrics"]["dev_accuracy"] <= 1.0
        params = c.get("/params").json()
        assert params["dataset"]["name"] == "train_catvnoncat" and params["dataset"]["synthetic"] is False
        assert params["data_sha256"] == dataset_sha256(*make_synthetic(30, seed=11))


def test_the_first_job_uses_the_course_file_when_present(make_settings, datasets_dir: Path) -> None:
    job = Trainer(make_settings(datasets_dir=datasets_dir)).start_up()
    assert job is not None and job.dataset == "train_catvnoncat"


# -- limits of unpacked uploads: 413 naming the setting
def test_a_zip_bomb_is_413_naming_the_data_set_limit(make_settings) -> None:
    from .hostile import dataset_bomb

    with TestClient(create_app(make_settings(max_dataset_bytes=8 * 2**20))) as c:
        r = c.post("/datasets", files={"file": ("bomb.npz", dataset_bomb(64))})
        assert r.status_code == 413
        body = r.json()
        assert body["code"] == Code.DATASET_TOO_LARGE and body["limit"] == 8 * 2**20
        assert "CATSVC_MAX_DATASET_BYTES" in body["error"] and "/tmp" not in body["error"]
        assert [d["id"] for d in c.get("/datasets").json()["datasets"]] == ["synthetic"]


def test_too_many_files_in_a_zip_is_413_naming_the_limit(make_settings) -> None:
    with TestClient(create_app(make_settings(max_dataset_members=3))) as c:
        r = c.post("/datasets", files={"file": ("many.zip", zip_of_folders(2, 2))})
        assert r.status_code == 413
        assert r.json()["code"] == Code.DATASET_TOO_LARGE and r.json()["limit"] == 3
        assert "CATSVC_MAX_DATASET_MEMBERS" in r.json()["error"]


def test_an_image_over_the_pixel_limit_is_413_naming_the_limit(make_settings) -> None:
    # the JPEGs are 80 x 60 = 4800 pixels
    with TestClient(create_app(make_settings(max_image_pixels=4799))) as c:
        r = c.post("/datasets", files={"file": ("big.zip", zip_of_folders(2, 2))})
        assert r.status_code == 413
        body = r.json()
        assert body["code"] == Code.DATASET_TOO_LARGE and body["limit"] == 4799
        assert "above the limit of 4799 pixels (CATSVC_MAX_IMAGE_PIXELS)" in body["error"]
        assert "max_pixels" not in body["error"] and "/tmp" not in body["error"]


def test_a_zip_with_parent_paths_is_422(client: TestClient) -> None:
    from .hostile import zip_with_parent_paths

    r = client.post("/datasets", files={"file": ("evil.zip", zip_with_parent_paths())})
    assert r.status_code == 422
    assert r.json()["code"] == Code.INVALID_DATASET and "unsafe path" in r.json()["error"]
