"""POST /predict: images and JSON instances, and every way they can be wrong."""
from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from model_core.data import image_to_vector
from service.api.app import create_app
from service.api.errors import Code
from service.settings import Settings
from service.trainer.worker import Trainer

from .conftest import FORMATS, SMALL, image_bytes, run_job

N = 12288


def instances(*rows: list) -> dict:
    return {"instances": list(rows)}


def test_one_png(client: TestClient, model_version: int) -> None:
    r = client.post("/predict", files={"file": ("cat.png", image_bytes("PNG"), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == model_version
    assert r.headers["x-model-version"] == str(model_version)
    [p] = body["predictions"]
    assert p["filename"] == "cat.png" and p["index"] == 0
    assert 0.0 <= p["probability"] <= 1.0
    assert p["label"] == ("cat" if p["probability"] > 0.5 else "non-cat")


def test_many_formats_and_sizes_in_one_request(client: TestClient, model_version: int) -> None:
    files = [("file", (f"img.{ext}", image_bytes(fmt, size=(500, 375), seed=i)))
             for i, (ext, fmt) in enumerate(FORMATS.items())]
    r = client.post("/predict", files=files)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["filename"] for p in preds] == [f"img.{ext}" for ext in FORMATS]
    assert [p["index"] for p in preds] == list(range(len(FORMATS)))


def test_an_image_and_its_pixels_as_an_instance_get_the_same_answer(client: TestClient, model_version: int) -> None:
    png = image_bytes("PNG", size=(64, 64), seed=3)
    pixels = image_to_vector(png).tolist()  # row, column, channel: the documented order
    by_file = client.post("/predict", files={"file": ("a.png", png)}).json()["predictions"][0]
    by_json = client.post("/predict", json=instances(pixels)).json()["predictions"][0]
    assert by_json["probability"] == pytest.approx(by_file["probability"], rel=1e-12)
    assert by_json["filename"] is None


def test_a_batch_of_instances(client: TestClient, model_version: int) -> None:
    rows = [[0] * N, [255] * N, [127.5] * N]
    r = client.post("/predict", json=instances(*rows))
    assert r.status_code == 200
    assert [p["index"] for p in r.json()["predictions"]] == [0, 1, 2]


# -- JSON instances that are wrong
@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[0] * N, [0] * (N - 1)], "instance 1: has 12287 values; expected 12288"),
        ([[0] * N, 5], "instance 1: must be a list"),
        ([[0] * (N - 1) + ["SECRET"]], "instance 0: element 12287 is not a number"),
        ([[0] * 5 + [True] + [0] * (N - 6)], "instance 0: element 5 is not a number"),
        ([[None] * N], "instance 0: element 0 is not a number"),
        ([[0] * N, [0] * 7 + [[1]] + [0] * (N - 8)], "instance 1: element 7 is not a number"),
        ([[0] * 3 + [-1] + [0] * (N - 4)], "instance 0: element 3 is out of range"),
        ([[0] * N, [0] * (N - 1) + [255.5]], "instance 1: element 12287 is out of range"),
    ],
    ids=["length", "not-a-list", "string", "bool", "null", "nested", "negative", "above-255"],
)
def test_bad_instances_are_422_naming_the_instance_and_reason(
    client: TestClient, model_version: int, rows: list, expected: str
) -> None:
    r = client.post("/predict", json=instances(*rows))
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == Code.INVALID_INSTANCES
    assert body["error"].startswith(expected)
    assert "SECRET" not in r.text


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", Code.INVALID_JSON),
        (b"[]", Code.INVALID_INSTANCES),
        (b'{"instances": []}', Code.INVALID_INSTANCES),
        (b'{"instances": [[0]], "extra": 1}', Code.INVALID_INSTANCES),
        (b'{"rows": [[0]]}', Code.INVALID_INSTANCES),
    ],
    ids=["not-json", "not-an-object", "empty", "extra-field", "no-instances"],
)
def test_bad_json_bodies_are_422(client: TestClient, model_version: int, content: bytes, code: str) -> None:
    r = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["code"] == code
    assert "instances" in r.json()["error"]


def test_one_instance_without_its_outer_brackets_is_told_to_wrap_it(client: TestClient, model_version: int) -> None:
    # image.reshape(-1).tolist() sent as the list of instances: once 413 BATCH_TOO_LARGE,
    # "12288 instances in one request"
    r = client.post("/predict", json={"instances": [7] * 12288})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == Code.INVALID_INSTANCES and "wrap it in brackets" in r.json()["error"]


def test_a_number_past_float64_is_said_to_be_one(client: TestClient, model_version: int) -> None:
    body = b'{"instances": [[1e400' + b", 0" * 12287 + b"]]}"
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == Code.INVALID_JSON
    assert "past float64's range" in r.json()["error"]


# -- files that are wrong
def png_declaring(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_not_an_image_is_415(client: TestClient, model_version: int) -> None:
    files = [("file", ("ok.png", image_bytes())), ("file", ("notes.txt", b"hello, this is text"))]
    r = client.post("/predict", files=files)
    assert r.status_code == 415
    body = r.json()
    assert body["code"] == Code.NOT_AN_IMAGE and body["index"] == 1
    assert body["error"].startswith("file #1 is not an image")


def test_an_empty_file_is_422_missing_file_naming_it(client: TestClient, model_version: int) -> None:
    # as POST /datasets answers an empty upload: nothing was sent, not an image that is bad
    good = image_bytes("PNG", size=(64, 64))
    for files, index in [({"file": ("empty.png", b"")}, 0), ([("file", ("a.png", good)), ("file", ("b.png", b""))], 1)]:
        r = client.post("/predict", files=files)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == Code.MISSING_FILE and r.json()["index"] == index
        assert r.json()["error"] == f"file #{index} is empty (0 bytes); send the image's bytes"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_image_is_422(client: TestClient, model_version: int, fmt: str) -> None:
    data = image_bytes(fmt, size=(300, 200))
    r = client.post("/predict", files={"file": ("cut", data[: len(data) // 2])})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == Code.INVALID_IMAGE
    assert body["error"].startswith("file #0: truncated or corrupt image")


def test_a_decompression_bomb_is_413_naming_the_limit(
    client: TestClient, model_version: int, settings: Settings
) -> None:
    r = client.post("/predict", files={"file": ("bomb.png", png_declaring(30000, 30000))})
    assert r.status_code == 413
    body = r.json()
    assert body["code"] == Code.IMAGE_TOO_LARGE
    assert str(settings.max_image_pixels) in body["error"] and "CATSVC_MAX_IMAGE_PIXELS" in body["error"]
    assert body["limit"] == settings.max_image_pixels


def test_a_tiny_image_is_422_naming_the_minimum(
    client: TestClient, model_version: int, settings: Settings
) -> None:
    r = client.post("/predict", files=[("file", ("ok.png", image_bytes())), ("file", ("dot.png", image_bytes(size=(1, 1))))])
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == Code.IMAGE_TOO_SMALL and body["index"] == 1
    assert "CATSVC_MIN_IMAGE_SIDE" in body["error"] and body["limit"] == settings.min_image_side == 8


def test_no_file_part_is_422(client: TestClient, model_version: int) -> None:
    r = client.post("/predict", files={"image": ("a.png", image_bytes())})
    assert r.status_code == 422
    assert r.json()["code"] == Code.MISSING_FILE
    assert "'file'" in r.json()["error"]


def test_a_malformed_multipart_body_is_422(client: TestClient, model_version: int) -> None:
    headers = {"content-type": "multipart/form-data; boundary=XYZ"}
    body = b'--XYZ\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'
    r = client.post("/predict", content=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["code"] == Code.VALIDATION_ERROR
    assert "truncated" in r.json()["error"]


def test_another_media_type_is_415(client: TestClient, model_version: int) -> None:
    r = client.post("/predict", content=image_bytes(), headers={"content-type": "image/png"})
    assert r.status_code == 415
    assert r.json()["code"] == Code.UNSUPPORTED_MEDIA_TYPE


# -- limits
@pytest.fixture
def limited(make_settings, tmp_path) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings(max_upload_bytes=128 * 1024, max_batch=2, max_image_pixels=100 * 100)
    with TestClient(create_app(settings)) as c:
        trainer = Trainer(settings)
        from .conftest import npz_bytes
        from service.state.synthetic import make_synthetic

        ds = c.post("/datasets", files={"file": ("d.npz", npz_bytes(*make_synthetic(8, seed=1)))}).json()["id"]
        assert run_job(c, trainer, dataset=ds, **SMALL)["status"] == "succeeded"
        yield c, settings


def test_a_body_over_the_limit_is_413_naming_it(limited) -> None:
    c, settings = limited
    r = c.post("/predict", files={"file": ("big.bmp", b"x" * 140_000)})
    assert r.status_code == 413
    body = r.json()
    assert body["code"] == Code.BODY_TOO_LARGE
    assert "131072 bytes" in body["error"] and "CATSVC_MAX_UPLOAD_BYTES" in body["error"]


def test_the_body_limit_holds_without_a_content_length(limited) -> None:
    c, _ = limited

    def chunks() -> Iterator[bytes]:  # chunked transfer: the size is only known by reading
        yield b'{"instances": [['
        for _ in range(40):
            yield b"0," * 2000

    r = c.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == Code.BODY_TOO_LARGE


def test_too_many_images_is_413_naming_the_limit(limited) -> None:
    c, _ = limited
    files = [("file", (f"{i}.png", image_bytes(seed=i))) for i in range(3)]
    r = c.post("/predict", files=files)
    assert r.status_code == 413
    body = r.json()
    assert body["code"] == Code.BATCH_TOO_LARGE and body["limit"] == 2
    assert "CATSVC_MAX_BATCH" in body["error"]


def test_too_many_instances_is_413(limited) -> None:
    c, _ = limited
    r = c.post("/predict", content=orjson.dumps(instances([0] * N, [0] * N, [0] * N)),
               headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == Code.BATCH_TOO_LARGE


def test_an_image_over_the_pixel_limit_is_413(limited) -> None:
    c, _ = limited
    r = c.post("/predict", files={"file": ("wide.png", image_bytes(size=(101, 100)))})
    assert r.status_code == 413
    assert r.json()["code"] == Code.IMAGE_TOO_LARGE
    assert "10000 pixels" in r.json()["error"]


# -- the pixel budget of a request (CATSVC_MAX_REQUEST_PIXELS), counted from the headers
@pytest.fixture
def budgeted(make_settings) -> Iterator[TestClient]:
    settings = make_settings(max_image_pixels=100 * 100, max_request_pixels=15_000)
    with TestClient(create_app(settings)) as c:
        from .conftest import npz_bytes
        from service.state.synthetic import make_synthetic

        ds = c.post("/datasets", files={"file": ("d.npz", npz_bytes(*make_synthetic(8, seed=1)))}).json()["id"]
        assert run_job(c, Trainer(settings), dataset=ds, **SMALL)["status"] == "succeeded"
        yield c


def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make decoding an image fail the test; a call with a one-pixel limit stops at the
    header (how an image the size reader cannot open is named), and is let through."""
    def header_only(data: bytes, max_pixels: int, min_side: int) -> np.ndarray:
        assert max_pixels == 1, "an image was decoded"
        return image_to_vector(data, max_pixels=max_pixels, min_side=min_side)

    monkeypatch.setattr("service.api.inference.image_to_vector", header_only)


def test_images_over_the_request_budget_are_413_before_any_decoding(budgeted, monkeypatch) -> None:
    _no_decoding(monkeypatch)
    files = [("file", (f"{i}.png", image_bytes(size=(100, 100), seed=i))) for i in range(2)]
    r = budgeted.post("/predict", files=files)
    assert r.status_code == 413
    body = r.json()
    assert body["code"] == Code.REQUEST_PIXELS_TOO_LARGE
    assert (body["limit"], body["pixels"]) == (15_000, 20_000)
    assert "15000 pixels" in body["error"] and "CATSVC_MAX_REQUEST_PIXELS" in body["error"]


def test_images_within_the_request_budget_are_answered(budgeted) -> None:
    files = [("file", ("a.png", image_bytes(size=(100, 100)))), ("file", ("b.png", image_bytes(size=(50, 50))))]
    r = budgeted.post("/predict", files=files)
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2


def test_the_headers_name_a_bad_image_before_any_is_decoded(budgeted, monkeypatch) -> None:
    ok = ("file", ("ok.png", image_bytes(size=(100, 100))))
    r = budgeted.post("/predict", files=[ok, ("file", ("notes.txt", b"hello, this is text"))])
    assert (r.status_code, r.json()["code"], r.json()["index"]) == (415, Code.NOT_AN_IMAGE, 1)
    _no_decoding(monkeypatch)
    r = budgeted.post("/predict", files=[ok, ("file", ("bomb.png", png_declaring(30000, 30000)))])
    assert (r.status_code, r.json()["code"], r.json()["index"]) == (413, Code.IMAGE_TOO_LARGE, 1)
    r = budgeted.post("/predict", files=[ok, ("file", ("dot.png", image_bytes(size=(4, 4))))])
    assert (r.status_code, r.json()["code"], r.json()["index"]) == (422, Code.IMAGE_TOO_SMALL, 1)


def test_one_image_over_a_budget_below_the_image_limit_is_413(make_settings) -> None:
    settings = make_settings(max_image_pixels=100 * 100, max_request_pixels=5_000)
    with TestClient(create_app(settings)) as c:
        c.put("/params", files={"file": ("m.npz", _course_npz())})
        r = c.post("/predict", files={"file": ("a.png", image_bytes(size=(80, 80)))})
        assert r.status_code == 413 and r.json()["code"] == Code.REQUEST_PIXELS_TOO_LARGE
        assert c.post("/predict", files={"file": ("b.png", image_bytes(size=(64, 64)))}).status_code == 200


def _course_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, W1=np.zeros((3, N)), b1=np.zeros((3, 1)), W2=np.zeros((1, 3)), b2=np.zeros((1, 1)))
    return buf.getvalue()


# -- no model
def test_no_model_is_503_saying_why_and_what_to_do(client: TestClient) -> None:
    r = client.post("/predict", files={"file": ("a.png", image_bytes())})
    assert r.status_code == 503
    body = r.json()
    assert body["code"] == Code.NO_MODEL
    assert "no model yet" in body["error"] and "PUT /params" in body["error"]


def test_no_model_while_the_first_job_runs_names_the_job(client: TestClient, trainer: Trainer) -> None:
    job = trainer.start_up()
    r = client.post("/predict", json=instances([0] * N))
    assert r.status_code == 503
    assert job is not None and job.id in r.json()["error"]
    assert "retry" in r.json()["error"]


def test_a_new_active_version_answers_the_next_request(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    first = run_job(client, trainer, dataset=dataset_id, **SMALL)["model_version"]
    assert client.post("/predict", json=instances([9] * N)).json()["version"] == first
    second = run_job(client, trainer, dataset=dataset_id, seed=2, **SMALL)["model_version"]
    assert client.post("/predict", json=instances([9] * N)).json()["version"] == second != first


@pytest.mark.embedded_only  # reads the version's file in the data directory
def test_probabilities_match_the_model(client: TestClient, model_version: int, settings: Settings) -> None:
    from model_core import Model

    model = Model.load(settings.models_dir / str(model_version) / "model.npz")
    X = np.random.RandomState(0).randint(0, 256, size=(N, 4))
    r = client.post("/predict", json={"instances": X.T.tolist()})
    got = [p["probability"] for p in r.json()["predictions"]]
    np.testing.assert_allclose(got, model.predict_proba(X), rtol=1e-12)


def test_a_zero_model_answers_non_cat_at_exactly_one_half(client: TestClient) -> None:
    """P(cat) = 0.5 is not a cat (the label needs P > 0.5), through the whole service."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, W1=np.zeros((3, 12288)), b1=np.zeros((3, 1)), W2=np.zeros((1, 3)), b2=np.zeros((1, 1)))
    assert client.put("/params", files={"file": ("zero.npz", buf.getvalue())}).status_code == 201
    for r in (client.post("/predict", files={"file": ("a.png", image_bytes())}),
              client.post("/predict", json={"instances": [[255] * 12288, [0] * 12288]})):
        assert r.status_code == 200, r.text
        for answer in r.json()["predictions"]:
            assert answer["probability"] == 0.5 and answer["label"] == "non-cat"


def test_every_answer_says_what_the_model_was_trained_on(client: TestClient, trainer: Trainer,
                                                          dataset_id: str) -> None:
    """The first model on a machine without the course's data knows drawings: it says so."""
    first = trainer.start_up()
    assert first is not None and first.dataset == "synthetic"
    trainer.run_once()
    for r in (client.post("/predict", files={"file": ("bird.jpg", image_bytes("JPEG"))}), client.get("/health/ready")):
        assert r.json()["dataset"] == "synthetic" and r.json()["synthetic"] is True, r.json()
    job = run_job(client, trainer, dataset=dataset_id, **SMALL)
    r = client.post("/predict", json={"instances": [[0] * 12288]})
    assert r.json()["version"] == job["model_version"]
    assert r.json()["dataset"] == dataset_id and r.json()["synthetic"] is False


@pytest.mark.parametrize("method, path, content_type", [
    ("POST", "/predict", "application/json"), ("POST", "/train", "application/json"),
    ("POST", "/datasets", "multipart/form-data; boundary=b"), ("PUT", "/params", "multipart/form-data; boundary=b"),
    ("POST", "/v2/models/catvnoncat/infer", "application/json"),
])
def test_a_compressed_body_is_415_on_every_endpoint(client: TestClient, model_version: int, method: str, path: str,
                                                    content_type: str) -> None:
    # read as it is, a gzip would be taken for the image or the JSON itself
    body = gzip.compress(b'{"instances": []}')
    r = client.request(method, path, content=body, headers={"Content-Encoding": "gzip", "Content-Type": content_type})
    assert r.status_code == 415, r.text
    assert r.json()["code"] == Code.UNSUPPORTED_MEDIA_TYPE and "uncompressed" in r.json()["error"]


def test_every_content_encoding_header_counts_and_identity_is_fine(client: TestClient, model_version: int) -> None:
    body = orjson.dumps({"instances": [[0] * 12288]})
    refused = [("content-type", "application/json"), ("content-encoding", "identity"), ("content-encoding", "gzip")]
    assert client.post("/predict", content=body, headers=refused).status_code == 415
    for coding in ("Identity", " identity , identity ", ""):
        headers = {"Content-Type": "application/json", "Content-Encoding": coding}
        assert client.post("/predict", content=body, headers=headers).status_code == 200, coding
