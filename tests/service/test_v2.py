"""The V2 endpoints in-process (service/api/routers/v2.py): health, metadata, inference by
the active or a named version, and every native rule that holds there too: the limits,
the image decoding of uploads, the predict token, the browser guards, no 500 on any body.
(tests/service/test_v2_triton.py drives a real server with tritonclient.)"""
from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_core import Model
from service.api.app import create_app
from service.api.errors import Code
from service.api.v2.request import parse_request
from service.settings import Settings
from service.state.backend import open_state
from service.state.store import ModelStore

from .conftest import image_bytes
from .realserver import backend_settings, seed_models

N_X = 12288
INFER = "/v2/models/catvnoncat/infer"
TOKEN = "predict-token-0123456789abcdef"
PIXELS = np.random.RandomState(5).randint(0, 256, size=(2, N_X)).astype(np.uint8)  # (m, 12288)


def pixels_body(x: np.ndarray = PIXELS, **fields: object) -> dict:
    return {"inputs": [{"name": "pixels", "shape": list(x.shape), "datatype": "UINT8", "data": x.tolist()}], **fields}


def image_body(*files: bytes) -> dict:
    return {"inputs": [{"name": "image", "shape": [len(files)], "datatype": "BYTES",
                        "data": [base64.b64encode(f).decode() for f in files]}]}


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """A client of an app whose data directory holds versions 1 and 2 (2 active)."""
    clients: list[TestClient] = []

    def make(seed: bool = True, **overrides: object) -> TestClient:
        s = make_settings(**overrides)
        if seed:
            seed_models(s.data_dir, count=2, store=open_state(s).store)
        clients.append(TestClient(create_app(s)).__enter__())
        return clients[-1]

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def v2(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def store_of(c: TestClient) -> ModelStore:
    return c.app.state.services.store  # type: ignore[attr-defined]


def expected(c: TestClient, version: int, X: np.ndarray) -> np.ndarray:
    """model_core's P(cat) of columns X (12288, m), from the version's own file, as float32."""
    return Model.load(store_of(c).model_path(version)).predict_proba(X).astype(np.float32)


def outputs(r) -> dict[str, list]:  # type: ignore[no-untyped-def]
    return {o["name"]: o["data"] for o in r.json()["outputs"]}


# -- health: the status alone, an empty body
def test_health_is_a_status_and_an_empty_body(v2: TestClient) -> None:
    for path, status in [("/v2/health/live", 200), ("/v2/health/ready", 200), ("/v2/models/catvnoncat/ready", 200),
                         ("/v2/models/catvnoncat/versions/1/ready", 200), ("/v2/models/catvnoncat/versions/9/ready", 404),
                         ("/v2/models/catvnoncat/versions/01/ready", 404), ("/v2/models/dog/ready", 404),
                         ("/v2/models/dog/versions/1/ready", 404)]:
        r = v2.get(path)
        assert (r.status_code, r.content) == (status, b""), path


def test_a_version_s_ready_and_metadata_read_its_record_and_load_nothing(v2: TestClient) -> None:
    # open endpoints: they must not let anyone make a worker load version after version
    assert v2.get("/v2/models/catvnoncat/versions/1/ready").status_code == 200
    assert v2.get("/v2/models/catvnoncat/versions/1").status_code == 200
    versions = v2.app.state.model_versions  # type: ignore[attr-defined]
    assert versions.cached() == []
    assert v2.post("/v2/models/catvnoncat/versions/1/infer", json=pixels_body()).status_code == 200
    assert versions.cached() == [1]  # inference loads it


def test_not_ready_means_what_health_ready_means(make_client: Callable[..., TestClient]) -> None:
    c = make_client(seed=False)  # no model yet
    assert c.get("/health/ready").status_code == 503
    assert [c.get(p).status_code for p in ("/v2/health/ready", "/v2/models/catvnoncat/ready")] == [400, 400]
    assert c.get("/v2/health/live").status_code == 200


def test_not_ready_while_the_service_stops(v2: TestClient) -> None:
    settings: Settings = v2.app.state.services.settings  # type: ignore[attr-defined]
    settings.stopping_file.touch()
    assert v2.get("/health/ready").json()["code"] == Code.SHUTTING_DOWN
    r = v2.get("/v2/health/ready")
    assert (r.status_code, r.content) == (400, b"")


@pytest.mark.embedded_only  # writes the data directory's files by hand
def test_an_unreadable_version_is_not_ready_not_listed_and_409_to_infer(v2: TestClient) -> None:
    (store_of(v2).models_dir / "1" / "metadata.json").write_text("{}")
    assert v2.get("/v2/models/catvnoncat/versions/1/ready").status_code == 400
    assert v2.get("/v2/models/catvnoncat").json()["versions"] == ["2"]
    r = v2.post("/v2/models/catvnoncat/versions/1/infer", json=pixels_body())
    assert (r.status_code, r.json()["code"]) == (409, Code.MODEL_UNREADABLE)


# -- metadata
def test_server_and_model_metadata(v2: TestClient) -> None:
    assert v2.get("/v2").json() == {"name": "catvnoncat", "version": "0.1.0", "extensions": ["binary_tensor_data"]}
    meta = v2.get("/v2/models/catvnoncat").json()
    assert meta == v2.get("/v2/models/catvnoncat/versions/1").json()
    assert meta["versions"] == ["1", "2"] and meta["platform"] == "numpy_npz"
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("pixels", "UINT8", [-1, N_X]), ("image", "BYTES", [-1])]
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["outputs"]] == [
        ("probability", "FP32", [-1, 1]), ("label", "BYTES", [-1])]
    for path in ("/v2/models/dog", "/v2/models/catvnoncat/versions/3", "/v2/models/catvnoncat/versions/x"):
        r = v2.get(path)
        assert (r.status_code, r.json()["code"]) == (404, Code.MODEL_NOT_FOUND) and r.json()["error"], path


def test_the_model_name_is_a_setting(make_client: Callable[..., TestClient]) -> None:
    c = make_client(model_name="cats-v2")
    assert c.get("/v2/models/cats-v2").json()["name"] == "cats-v2"
    assert c.post("/v2/models/cats-v2/infer", json=pixels_body()).json()["model_name"] == "cats-v2"
    r = c.post(INFER, json=pixels_body())
    assert (r.status_code, r.json()["code"]) == (404, Code.MODEL_NOT_FOUND) and "cats-v2" in r.json()["error"]


# -- inference
def test_the_active_version_answers_and_says_so(v2: TestClient) -> None:
    r = v2.post(INFER, json=pixels_body())
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert (doc["model_name"], doc["model_version"], r.headers["x-model-version"]) == ("catvnoncat", "2", "2")
    assert doc["id"] == r.headers["x-request-id"]  # no id given: the service's request id
    assert doc["parameters"] == {"synthetic": False}
    np.testing.assert_array_equal(np.float32(outputs(r)["probability"]), expected(v2, 2, PIXELS.T))
    assert outputs(r)["label"] == ["cat" if p > 0.5 else "non-cat" for p in expected(v2, 2, PIXELS.T)]


def test_a_named_version_answers_and_the_request_id_comes_back(v2: TestClient) -> None:
    r = v2.post("/v2/models/catvnoncat/versions/1/infer", json=pixels_body(id="abc"))
    assert (r.json()["model_version"], r.json()["id"]) == ("1", "abc")
    np.testing.assert_array_equal(np.float32(outputs(r)["probability"]), expected(v2, 1, PIXELS.T))


@pytest.mark.parametrize("version", ["3", "0", "01", "-1", "v1", "1.0", "99999999999999999999"])
def test_versions_that_do_not_exist(v2: TestClient, version: str) -> None:
    r = v2.post(f"/v2/models/catvnoncat/versions/{version}/infer", json=pixels_body())
    assert (r.status_code, r.json()["code"]) == (404, Code.MODEL_NOT_FOUND)


def test_a_deleted_version_is_gone_even_from_the_cache(v2: TestClient) -> None:
    assert v2.post("/v2/models/catvnoncat/versions/1/infer", json=pixels_body()).status_code == 200
    assert v2.delete("/models/1").status_code == 204
    r = v2.post("/v2/models/catvnoncat/versions/1/infer", json=pixels_body())
    assert (r.status_code, r.json()["code"]) == (404, Code.MODEL_NOT_FOUND)


def test_no_model_yet_is_the_native_503(make_client: Callable[..., TestClient]) -> None:
    r = make_client(seed=False).post(INFER, json=pixels_body())
    assert (r.status_code, r.json()["code"]) == (503, Code.NO_MODEL) and r.headers["retry-after"]


def test_only_the_outputs_asked_for_as_asked(v2: TestClient) -> None:
    r = v2.post(INFER, json=pixels_body(outputs=[{"name": "label", "parameters": {"binary_data": True}}]))
    assert r.headers["content-type"] == "application/octet-stream"
    n = int(r.headers["inference-header-content-length"])
    doc = orjson.loads(r.content[:n])
    assert [o["name"] for o in doc["outputs"]] == ["label"] and "data" not in doc["outputs"][0]
    labels = ["cat" if p > 0.5 else "non-cat" for p in expected(v2, 2, PIXELS.T)]
    assert r.content[n:] == b"".join(len(x).to_bytes(4, "little") + x.encode() for x in labels)
    assert doc["outputs"][0]["parameters"]["binary_data_size"] == len(r.content) - n


def test_binary_in_and_out_without_a_content_type(v2: TestClient) -> None:
    header = orjson.dumps({"inputs": [{"name": "pixels", "shape": [2, 64, 64, 3], "datatype": "UINT8",
                                       "parameters": {"binary_data_size": PIXELS.size}}],
                           "parameters": {"binary_data_output": True}})
    r = v2.post(INFER, content=header + PIXELS.tobytes(), headers={"Inference-Header-Content-Length": str(len(header))})
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    sizes = [o["parameters"]["binary_data_size"] for o in orjson.loads(r.content[:n])["outputs"]]
    np.testing.assert_array_equal(np.frombuffer(r.content[n:n + sizes[0]], "<f4"), expected(v2, 2, PIXELS.T))


def test_images_are_decoded_as_uploads_with_the_same_answer(v2: TestClient) -> None:
    files = [image_bytes("PNG", seed=1), image_bytes("JPEG", (300, 200), seed=2), image_bytes("GIF", seed=3)]
    r = v2.post(INFER, json=image_body(*files))
    assert r.status_code == 200, r.text
    native = v2.post("/predict", files=[("file", (f"{i}", f)) for i, f in enumerate(files)]).json()["predictions"]
    np.testing.assert_array_equal(np.float32(outputs(r)["probability"]), np.float32([p["probability"] for p in native]))
    assert outputs(r)["label"] == [p["label"] for p in native]


@pytest.mark.parametrize("file, overrides, status, code", [
    (b"not an image at all", {}, 415, Code.NOT_AN_IMAGE),
    (image_bytes("PNG")[:60], {}, 422, Code.INVALID_IMAGE),
    (image_bytes("PNG", (4, 4)), {}, 422, Code.IMAGE_TOO_SMALL),
    (image_bytes("PNG", (100, 100)), {"max_image_pixels": 5000}, 413, Code.IMAGE_TOO_LARGE),
], ids=["not-an-image", "truncated", "too-small", "too-many-pixels"])
def test_image_errors_are_the_uploads_own(make_client: Callable[..., TestClient], file: bytes, overrides: dict,
                                          status: int, code: str) -> None:
    r = make_client(**overrides).post(INFER, json=image_body(image_bytes("PNG"), file))
    assert (r.status_code, r.json()["code"], r.json()["index"]) == (status, code, 1)
    assert r.json()["error"].startswith("input 'image' element #1"), r.json()  # a tensor element, not a file


def test_images_over_the_request_pixel_budget_are_the_uploads_413(make_client: Callable[..., TestClient]) -> None:
    c = make_client(max_image_pixels=100 * 100, max_request_pixels=15_000)
    r = c.post(INFER, json=image_body(image_bytes("PNG", (100, 100), seed=1), image_bytes("PNG", (100, 100), seed=2)))
    assert r.status_code == 413, r.text
    assert (r.json()["code"], r.json()["limit"], r.json()["pixels"]) == (Code.REQUEST_PIXELS_TOO_LARGE, 15_000, 20_000)
    assert c.post(INFER, json=image_body(image_bytes("PNG", (100, 100)))).status_code == 200


def test_the_body_and_batch_limits(make_client: Callable[..., TestClient]) -> None:
    c = make_client(max_upload_bytes=4096, max_batch=1)
    r = c.post(INFER, json=pixels_body())
    assert (r.status_code, r.json()["code"], r.json()["limit"]) == (413, Code.BODY_TOO_LARGE, 4096)
    assert "CATSVC_MAX_UPLOAD_BYTES" in r.json()["error"]
    r = c.post(INFER, json={"inputs": [{"name": "pixels", "shape": [2, N_X], "datatype": "UINT8", "data": [0]}]})
    assert (r.status_code, r.json()["code"], r.json()["limit"]) == (413, Code.BATCH_TOO_LARGE, 1)


@pytest.mark.parametrize("headers, status", [
    ({"Content-Type": "text/plain"}, 415), ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ({"Content-Type": "multipart/form-data; boundary=x"}, 415), ({"Content-Encoding": "gzip"}, 415),
    ({"Content-Type": "application/json"}, 200), ({"Content-Type": "application/octet-stream"}, 200), ({}, 200),
])
def test_body_types(v2: TestClient, headers: dict, status: int) -> None:
    r = v2.post(INFER, content=orjson.dumps(pixels_body()), headers=headers)
    assert r.status_code == status
    if status == 415:
        assert r.json()["code"] == Code.UNSUPPORTED_MEDIA_TYPE


def test_the_predict_token_guards_inference_and_nothing_else(make_client: Callable[..., TestClient]) -> None:
    admin = "admin-token-0123456789abcdef"
    c = make_client(predict_token=TOKEN, admin_token=admin)
    for path in (INFER, "/v2/models/catvnoncat/versions/1/infer"):
        r = c.post(path, json=pixels_body())
        assert (r.status_code, r.json()["code"]) == (401, Code.AUTH_REQUIRED) and "error" in r.json()
        r = c.post(path, json=pixels_body(), headers={"Authorization": "Bearer wrong-token-0123456789"})
        assert (r.status_code, r.json()["code"]) == (403, Code.AUTH_INVALID)
        for token in (TOKEN, admin):
            assert c.post(path, json=pixels_body(), headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for path in ("/v2", "/v2/models/catvnoncat", "/v2/models/catvnoncat/versions/1", "/v2/health/live",
                 "/v2/health/ready", "/v2/models/catvnoncat/ready", "/v2/models/catvnoncat/versions/2/ready"):
        assert c.get(path).status_code == 200, path


def test_the_browser_guards_hold(v2: TestClient) -> None:
    r = v2.post(INFER, json=pixels_body(), headers={"Origin": "http://evil.example"})
    assert (r.status_code, r.json()["code"]) == (403, Code.ORIGIN_NOT_ALLOWED)
    r = v2.post(INFER, content=orjson.dumps(pixels_body()), headers={"Sec-Fetch-Site": "cross-site"})
    assert (r.status_code, r.json()["code"]) == (403, Code.ORIGIN_NOT_ALLOWED)
    for path in ("/v2", "/v2/models/catvnoncat"):
        r = v2.get(path, headers={"Host": "evil.example"})
        assert (r.status_code, r.json()["code"]) == (400, Code.HOST_NOT_ALLOWED)
    assert v2.post(INFER, json=pixels_body(), headers={"Origin": "http://testserver"}).status_code == 200


def test_health_answers_any_host_as_the_native_health_does(v2: TestClient) -> None:
    # orchestrators' probes send the pod's address as Host; a 400 would read "not ready"
    for path in ("/health/ready", "/v2/health/live", "/v2/health/ready"):
        assert v2.get(path, headers={"Host": "10.0.3.7:8000"}).status_code == 200, path
    r = v2.get("/v2/models/catvnoncat/ready", headers={"Host": "10.0.3.7:8000"})  # names the versions: guarded
    assert (r.status_code, r.json()["code"]) == (400, Code.HOST_NOT_ALLOWED)


# -- whatever the body, never a 500
JSON = st.recursive(st.none() | st.booleans() | st.integers(-300, 300) | st.floats() | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                        max_size=4), max_leaves=20)
FIELD = st.sampled_from(["pixels", "image", "x"])
TENSOR = st.fixed_dictionaries({"name": FIELD, "shape": JSON | st.sampled_from([[1, N_X], [1], [2, 64, 64, 3]]),
                                "datatype": st.sampled_from(["UINT8", "FP32", "BYTES", "INT32", "BOOL"]) | JSON,
                                "data": JSON, "parameters": JSON})
REQUEST = st.fixed_dictionaries({"inputs": st.lists(TENSOR, max_size=2) | JSON}, optional={
    "outputs": JSON, "parameters": JSON, "id": JSON})


HEADER = st.none() | st.integers(-5, 20000).map(str) | st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                                                 max_size=6)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the whole fuzz run (hypothesis calls the test many times with one set of fixtures)."""
    data = tmp_path_factory.mktemp("v2-fuzz") / "data"
    seed_models(data, count=1)
    s = Settings(**backend_settings(data), data_dir=data, datasets_dir=None, workers=1, access_log=False,
                 allowed_hosts=("testserver",))
    with TestClient(create_app(s)) as c:
        yield c


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(doc=REQUEST | JSON, tail=st.binary(max_size=64), header=HEADER)
def test_no_body_gets_a_500(fuzzed: TestClient, doc: object, tail: bytes, header: str | None) -> None:
    text = json.dumps(doc).encode()
    headers = {} if header is None else {"Inference-Header-Content-Length": header}
    for body in (text, text + tail):
        r = fuzzed.post(INFER, content=body, headers=headers)
        assert r.status_code < 500, r.text
        if r.status_code != 200:
            assert isinstance(r.json()["error"], str) and r.json()["code"]


def test_a_large_body_is_parsed_off_the_event_loop(v2: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.api.routers import v2 as router

    threads: list[str] = []

    def recording(body: bytes, header_lengths: list[str]):  # type: ignore[no-untyped-def]  # a test spy
        threads.append(threading.current_thread().name)
        return parse_request(body, header_lengths)

    monkeypatch.setattr(router, "parse_request", recording)
    small = {"inputs": [{"name": "pixels", "shape": [1, N_X], "datatype": "UINT8", "data": [0] * N_X}]}
    assert v2.post(INFER, json=small).status_code == 200  # 24 KiB: inline, on the loop's thread
    assert v2.post(INFER, json=pixels_body(np.full((2, N_X), 200, np.uint8))).status_code == 200  # 98 KiB
    assert not threads[0].startswith("predict") and threads[1].startswith("predict"), threads
