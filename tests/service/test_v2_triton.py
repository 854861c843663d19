"""The Open Inference Protocol against the real client: tritonclient[http], unmodified,
talking to ``python -m service`` on 127.0.0.1, and every answer compared with model_core
on the same inputs (the same parameter files, loaded and run here).

The server has a predict token, so every inference call passes it with ``headers=``;
health and metadata are called without it (they are open). tritonclient sends binary
tensors by default, and no Content-Type.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_core import image_to_vector

from ..conftest import photos_dir
from .conftest import image_bytes
from .realserver import Server, seed_models, store_of

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MODEL = "catvnoncat"
TOKEN = "predict-token-0123456789abcdef"
N_X = 12288


def auth() -> dict[str, str]:
    """The token's header, a new dict each call: tritonclient adds its own headers to the dict it is given."""
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("v2")
    seed_models(tmp / "data", count=2)  # versions 1 and 2, 2 active
    s = Server(tmp / "data", tmp / "server.log", predict_token=TOKEN)
    try:
        yield s.start()
    finally:
        s.kill()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpclient.InferenceServerClient]:
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield c
    c.close()


def model_core_proba(server: Server, version: int, X: np.ndarray) -> np.ndarray:
    """P(cat) of pixel columns X (12288, m) by model_core itself, from the version's own file."""
    return store_of(server.data_dir).load(version).predict_proba(X)


def pixels(n: int, seed: int = 0) -> np.ndarray:
    """n random 64x64x3 images, (n, 12288) uint8."""
    return np.random.RandomState(seed).randint(0, 256, size=(n, N_X)).astype(np.uint8)


def assert_answers(result: httpclient.InferResult, expected: np.ndarray) -> None:
    probability, label = result.as_numpy("probability"), result.as_numpy("label")
    assert probability.dtype == np.float32 and probability.shape == (len(expected), 1)
    np.testing.assert_allclose(probability[:, 0], expected.astype(np.float32), rtol=1e-6)
    assert [x.decode() if isinstance(x, bytes) else x for x in label] == [
        "cat" if p > 0.5 else "non-cat" for p in expected]


def test_health(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, "1") and client.is_model_ready(MODEL, "2")
    assert not client.is_model_ready(MODEL, "99")
    assert not client.is_model_ready("dog")


def test_metadata(client: httpclient.InferenceServerClient) -> None:
    server_meta = client.get_server_metadata()
    assert server_meta["name"] == "catvnoncat" and "binary_tensor_data" in server_meta["extensions"]
    meta = client.get_model_metadata(MODEL)
    assert meta["name"] == MODEL and meta["versions"] == ["1", "2"] and meta["platform"]
    assert {i["name"]: (i["datatype"], i["shape"]) for i in meta["inputs"]} == {
        "pixels": ("UINT8", [-1, N_X]), "image": ("BYTES", [-1])}
    assert {o["name"]: (o["datatype"], o["shape"]) for o in meta["outputs"]} == {
        "probability": ("FP32", [-1, 1]), "label": ("BYTES", [-1])}
    assert client.get_model_metadata(MODEL, "1")["name"] == MODEL
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata(MODEL, "99")
    assert e.value.status() == "404"


def test_binary_infer_by_the_active_version(server: Server, client: httpclient.InferenceServerClient) -> None:
    x = pixels(3)
    inp = httpclient.InferInput("pixels", list(x.shape), "UINT8").set_data_from_numpy(x)  # binary by default
    result = client.infer(MODEL, [inp], headers=auth())
    assert result.get_response()["model_version"] == "2"
    assert_answers(result, model_core_proba(server, 2, x.T))


def test_json_infer_by_a_named_version(server: Server, client: httpclient.InferenceServerClient) -> None:
    x = pixels(2, seed=1).astype(np.float32).reshape(2, 64, 64, 3)
    inp = httpclient.InferInput("pixels", list(x.shape), "FP32").set_data_from_numpy(x, binary_data=False)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=False) for name in ("probability", "label")]
    result = client.infer(MODEL, [inp], model_version="1", outputs=outputs, headers=auth(), request_id="42")
    response = result.get_response()
    assert (response["model_version"], response["id"]) == ("1", "42")
    assert all("data" in out for out in response["outputs"])  # JSON, as asked
    assert_answers(result, model_core_proba(server, 1, x.reshape(2, N_X).T))


def test_two_versions_compared_on_the_same_inputs(server: Server, client: httpclient.InferenceServerClient) -> None:
    x = pixels(4, seed=2)
    inp = httpclient.InferInput("pixels", list(x.shape), "UINT8").set_data_from_numpy(x)
    for version in (1, 2):
        result = client.infer(MODEL, [inp], model_version=str(version), headers=auth())
        assert result.get_response()["model_version"] == str(version)
        assert_answers(result, model_core_proba(server, version, x.T))
    assert not np.allclose(model_core_proba(server, 1, x.T), model_core_proba(server, 2, x.T))


def generated_photos() -> list[bytes]:
    """A JPEG of a camera's size and a PNG with transparency, made here."""
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(image_bytes("PNG", seed=3))).resize((500, 375)).save(jpeg, "JPEG", quality=90)
    png = io.BytesIO()
    Image.open(io.BytesIO(image_bytes("PNG", size=(80, 60), seed=4))).convert("RGBA").save(png, "PNG")
    return [jpeg.getvalue(), png.getvalue()]


def real_photos() -> list[bytes]:
    root = photos_dir()
    if root is None:
        return []
    return [sorted((root / "images" / kind).iterdir())[0].read_bytes() for kind in ("cat", "non-cat")]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json-base64"])
def test_a_bytes_tensor_of_photos_is_decoded_as_an_upload(server: Server, client: httpclient.InferenceServerClient,
                                                          binary: bool) -> None:
    files = generated_photos() + real_photos()
    inp = httpclient.InferInput("image", [len(files)], "BYTES")
    if binary:
        inp.set_data_from_numpy(np.array(files, dtype=np.object_))
    else:  # a JSON string holds no file's bytes: base64, as KServe's image examples send them
        import base64

        inp.set_data_from_numpy(np.array([base64.b64encode(f) for f in files], dtype=np.object_),
                                binary_data=False)
    result = client.infer(MODEL, [inp], headers=auth())
    X = np.stack([image_to_vector(f) for f in files], axis=1)  # (12288, m), as /predict decodes
    assert_answers(result, model_core_proba(server, 2, X))


def test_one_photo_of_the_shared_set(server: Server, client: httpclient.InferenceServerClient) -> None:
    root = photos_dir()
    if root is None:
        pytest.skip("the photos are absent: $CATVNONCAT_DATA/photos/images/{cat,non-cat}")
    path: Path = sorted((root / "images" / "cat").iterdir())[-1]
    inp = httpclient.InferInput("image", [1], "BYTES").set_data_from_numpy(
        np.array([path.read_bytes()], dtype=np.object_))
    result = client.infer(MODEL, [inp], headers=auth())
    assert_answers(result, model_core_proba(server, 2, image_to_vector(path)[:, None]))


def test_errors(client: httpclient.InferenceServerClient) -> None:
    x = pixels(1)
    wrong = httpclient.InferInput("pixels", [1, 100], "UINT8").set_data_from_numpy(x[:, :100])
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [wrong], headers=auth())
    assert e.value.status() == "400" and "shape" in e.value.message()
    inp = httpclient.InferInput("pixels", [1, N_X], "UINT8").set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [inp], model_version="99", headers=auth())
    assert e.value.status() == "404" and "version" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        client.infer("dog", [inp], headers=auth())
    assert e.value.status() == "404"


def test_the_predict_token_guards_inference_only(client: httpclient.InferenceServerClient) -> None:
    inp = httpclient.InferInput("pixels", [1, N_X], "UINT8").set_data_from_numpy(pixels(1))
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [inp])
    assert e.value.status() == "401" and "CATSVC_PREDICT_TOKEN" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [inp], headers={"Authorization": "Bearer not-the-token-0123456789"})
    assert e.value.status() == "403"
    assert client.is_server_ready() and client.get_model_metadata(MODEL)["name"] == MODEL  # open, no headers
