"""GET /params, GET /params/download, PUT /params."""
from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient

from model_core import ParameterFileError, TrainConfig, load_parameters
from service.api.app import create_app
from service.api.errors import Code
from service.trainer.worker import Trainer

from .conftest import SMALL, run_job

N = 12288


def course_npz(**parameters: np.ndarray) -> bytes:
    """What the course's code writes: np.savez(f, **parameters), no metadata."""
    buf = io.BytesIO()
    np.savez(buf, **parameters)
    return buf.getvalue()


def course_parameters(n_x: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    return {"W1": rng.randn(3, n_x) * 0.01, "b1": np.zeros((3, 1)), "W2": rng.randn(1, 3), "b2": np.zeros((1, 1))}


def test_no_model_is_503(client: TestClient) -> None:
    for path in ("/params", "/params/download"):
        r = client.get(path)
        assert r.status_code == 503
        assert r.json()["code"] == Code.NO_MODEL


def test_get_shows_the_active_model(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    job = run_job(client, trainer, dataset=dataset_id, **SMALL)
    body = client.get("/params").json()
    assert body["version"] == job["model_version"] and body["active"] is True
    assert body["layer_dims"] == SMALL["layer_dims"]
    assert (body["hidden_activation"], body["output_activation"], body["input_norm"]) == ("relu", "sigmoid", "scale")
    # the job shows what a full-batch run reads; the model keeps the whole TrainConfig
    assert body["hyperparameters"] == {**job["config"], "epochs": None, "batch_size": TrainConfig().batch_size}
    assert body["metrics"] == job["metrics"]
    assert body["created_at"]
    assert body["data_sha256"] == client.get(f"/datasets/{dataset_id}").json()["sha256"]
    assert body["dataset"]["name"] == dataset_id and body["source"] == {"kind": "job", "job_id": job["id"]}
    assert body["shapes"] == {"W1": [4, N], "b1": [4, 1], "W2": [1, 4], "b2": [1, 1]}
    assert "values" not in body


def test_include_values_and_download_agree(client: TestClient, model_version: int) -> None:
    values = client.get("/params", params={"include": "values"}).json()["values"]
    r = client.get("/params/download")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert f'filename="catvnoncat-v{model_version}.npz"' in r.headers["content-disposition"]
    parameters, metadata = load_parameters(r.content)
    assert list(values) == list(parameters) == ["W1", "b1", "W2", "b2"]
    for key, array in parameters.items():
        np.testing.assert_array_equal(np.array(values[key]), array)
    assert metadata["layer_dims"] == SMALL["layer_dims"]
    assert client.get("/params", params={"include": "everything"}).status_code == 422


def test_another_version_and_unknown_versions(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    run_job(client, trainer, dataset=dataset_id, **SMALL)
    run_job(client, trainer, dataset=dataset_id, seed=5, **SMALL)
    old = client.get("/params", params={"version": 1}).json()
    assert old["version"] == 1 and old["active"] is False
    assert client.get("/params/download", params={"version": 1}).content != client.get("/params/download").content
    for path in ("/params", "/params/download"):
        r = client.get(path, params={"version": 99})
        assert r.status_code == 404 and r.json()["code"] == Code.MODEL_NOT_FOUND
        for bad in ("0", "two"):
            r = client.get(path, params={"version": bad})
            assert r.status_code == 422 and r.json()["code"] == Code.VALIDATION_ERROR
            assert r.json()["error"].startswith("version: ")


def test_put_our_own_file_back(client: TestClient, model_version: int) -> None:
    data = client.get("/params/download").content
    before = client.post("/predict", json={"instances": [[50] * N]}).json()["predictions"]
    # re-uploading a download stores it beside the active version and switches nothing
    r = client.put("/params", files={"file": ("p.npz", data)})
    assert r.status_code == 201 and r.json()["active"] is False, r.text
    assert client.get("/health/ready").json()["version"] == model_version
    r = client.put("/params", params={"activate": "true"}, files={"file": ("p.npz", data)})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["version"] == model_version + 2 and body["active"] is True
    assert r.headers["location"] == f"/params?version={body['version']}"
    assert body["hyperparameters"] == client.get("/params", params={"version": model_version}).json()["hyperparameters"]
    assert body["source"]["kind"] == "upload"
    after = client.post("/predict", json={"instances": [[50] * N]}).json()
    assert after["version"] == body["version"]
    assert after["predictions"] == before


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain",
                                          "application/x-www-form-urlencoded"])
def test_a_raw_body_is_415_and_makes_no_version(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = client.put("/params", content=course_npz(**course_parameters()), headers=headers)
    assert r.status_code == 415
    assert r.json()["code"] == Code.UNSUPPORTED_MEDIA_TYPE and "multipart/form-data" in r.json()["error"]
    assert client.get("/models").json()["models"] == []


def test_put_a_course_file(client: TestClient) -> None:
    parameters = course_parameters()
    r = client.put("/params", files={"file": ("p.npz", course_npz(**parameters))})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["version"] == 1 and body["layer_dims"] == [N, 3, 1]
    assert body["hyperparameters"] is None
    assert client.get("/health/ready").json()["version"] == 1
    values = client.get("/params", params={"include": "values"}).json()["values"]
    np.testing.assert_array_equal(np.array(values["W1"]), parameters["W1"])


def model_core_message(data: bytes) -> str:
    with pytest.raises(ParameterFileError) as e:
        load_parameters(data)
    return str(e.value)


@pytest.mark.parametrize(
    "data",
    [
        b"not an npz at all",
        course_npz(**{k: v for k, v in course_parameters().items() if k != "b2"}),
        course_npz(**{**course_parameters(), "W2": np.ones((1, 5))}),
        course_npz(**{**course_parameters(), "W1": np.full((3, N), np.nan)}),
        course_npz(**{**course_parameters(), "W1": np.array([{"pickled": 1}], dtype=object)}),
    ],
    ids=["garbage", "missing-b2", "bad-shape", "nan", "pickle"],
)
def test_put_invalid_files_is_422_with_model_core_s_message(
    client: TestClient, model_version: int, data: bytes
) -> None:
    r = client.put("/params", files={"file": ("bad.npz", data)})
    assert r.status_code == 422
    assert r.json() == {"error": model_core_message(data), "code": Code.INVALID_PARAMS}
    assert client.get("/health/ready").json()["version"] == model_version  # unchanged
    assert [m["version"] for m in client.get("/models").json()["models"]] == [model_version]


def test_put_parameters_for_other_images_is_422(client: TestClient) -> None:
    r = client.put("/params", files={"file": ("small.npz", course_npz(**course_parameters(n_x=100)))})
    assert r.status_code == 422
    assert r.json()["code"] == Code.INCOMPATIBLE_PARAMS
    assert "12288" in r.json()["error"]


def test_put_without_a_file_part_is_422(client: TestClient) -> None:
    r = client.put("/params", files={"params": ("p.npz", course_npz(**course_parameters()))})
    assert r.status_code == 422 and r.json()["code"] == Code.MISSING_FILE


def test_put_over_the_limit_is_413(make_settings) -> None:
    with TestClient(create_app(make_settings(max_upload_bytes=4096))) as c:
        r = c.put("/params", files={"file": ("p.npz", course_npz(**course_parameters()))})
        assert r.status_code == 413
        assert r.json()["code"] == Code.BODY_TOO_LARGE and r.json()["limit"] == 4096


# -- hostile parameter files (the real server gets them too: test_hostile.py)
def test_a_file_declaring_arrays_larger_than_it_holds_is_refused_unread(client: TestClient) -> None:
    from .hostile import npz_lying_about_its_shape

    r = client.put("/params", files={"file": ("p.npz", npz_lying_about_its_shape())})
    assert r.status_code == 422  # without the check: numpy's MemoryError, a 500
    assert r.json()["code"] == Code.INVALID_PARAMS
    assert "declares more data than its file holds" in r.json()["error"]


def test_a_deflate_bomb_is_413_naming_the_limit(make_settings) -> None:
    from .hostile import params_bomb

    with TestClient(create_app(make_settings(max_params_bytes=2**20))) as c:
        r = c.put("/params", files={"file": ("p.npz", params_bomb(8))})
        assert r.status_code == 413
        assert r.json() == {
            "error": "the parameter file's arrays hold more than the limit of 1048576 bytes uncompressed "
                     "(CATSVC_MAX_PARAMS_BYTES); send a smaller model",
            "code": Code.PARAMS_TOO_LARGE, "limit": 2**20,
        }
        assert c.get("/models").json()["models"] == []


def test_a_pickled_object_array_is_422(client: TestClient) -> None:
    from .hostile import npz_with_pickle

    r = client.put("/params", files={"file": ("p.npz", npz_with_pickle())})
    assert r.status_code == 422
    assert r.json()["code"] == Code.INVALID_PARAMS and "pickle" in r.json()["error"]


def test_an_encrypted_member_is_422(client: TestClient) -> None:
    data = bytearray(course_npz(**course_parameters()))
    # set the "encrypted" flag of the first member, in its local and central headers
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature) + offset
        data[at] |= 1
    r = client.put("/params", files={"file": ("p.npz", bytes(data))})
    assert r.status_code == 422
    assert r.json()["code"] == Code.INVALID_PARAMS


def test_an_image_for_params_is_named_as_an_image(client: TestClient) -> None:
    from .conftest import image_bytes

    r = client.put("/params", files={"file": ("cat.jpg", image_bytes("JPEG"))})
    assert r.status_code == 422 and r.json()["code"] == Code.INVALID_PARAMS
    assert "not an .npz parameter file: it is a JPEG image" in r.json()["error"]


@pytest.mark.parametrize("shape", [(7,), (3, N), (20, N), (3, 3, 16, 32), (70_000, 1), (1, 70_000)],
                         ids=["1d", "small", "rows", "conv", "column", "one-row"])
def test_values_are_serialized_in_pieces_as_one_call_would(shape: tuple[int, ...]) -> None:
    """include=values serializes a few rows per orjson call (each call holds the GIL); the
    JSON is the one a single call gives."""
    import orjson

    from service.api.routers.params import values_json

    a = np.random.RandomState(0).randn(*shape)
    whole = orjson.dumps({"W1": a}, option=orjson.OPT_SERIALIZE_NUMPY)
    assert orjson.dumps(values_json({"W1": a})) == whole
