"""The V2 protocol's raw details over real HTTP, with plain httpx and raw sockets against
``python -m service`` on 127.0.0.1: nested data, binary outputs read byte by byte, the
Inference-Header-Content-Length rules, the body and batch limits, and the guards that sit
below the app (framing, Host, Origin) on the V2 paths too. Every answer is model_core's."""
from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import orjson
import pytest

from service.api.errors import Code

from .realserver import Server, connect, parse, read_to_eof, seed_models, store_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

N_X = 12288
INFER = "/v2/models/catvnoncat/infer"
LIMIT = 65536  # CATSVC_MAX_UPLOAD_BYTES here: one JSON instance fits, two do not
X = np.random.RandomState(9).randint(0, 256, size=(2, N_X)).astype(np.uint8)  # (m, 12288)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("v2-http")
    seed_models(tmp / "data", count=2)
    s = Server(tmp / "data", tmp / "server.log", max_upload_bytes=LIMIT, max_batch=4)
    try:
        yield s.start()
    finally:
        s.kill()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def expected(server: Server, version: int, X: np.ndarray) -> np.ndarray:
    """model_core's P(cat) of pixel rows X (m, 12288), as float32."""
    return store_of(server.data_dir).load(version).predict_proba(X.T).astype(np.float32)


def binary_request(x: np.ndarray, **fields: object) -> tuple[bytes, dict[str, str]]:
    header = orjson.dumps({"inputs": [{"name": "pixels", "shape": list(x.shape), "datatype": "UINT8",
                                       "parameters": {"binary_data_size": x.nbytes}}], **fields})
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def test_nested_json_data(server: Server, client: httpx.Client) -> None:
    x = X[:1].reshape(1, 64, 64, 3)
    r = client.post(INFER, json={"inputs": [{"name": "pixels", "shape": [1, 64, 64, 3], "datatype": "UINT8",
                                             "data": x.tolist()}]})
    assert r.status_code == 200, r.text
    [probability] = [o for o in r.json()["outputs"] if o["name"] == "probability"]
    assert probability["shape"] == [1, 1]
    np.testing.assert_array_equal(np.float32(probability["data"]), expected(server, 2, X[:1]))


def test_binary_outputs_byte_by_byte(server: Server, client: httpx.Client) -> None:
    body, headers = binary_request(X, parameters={"binary_data_output": True})
    r = client.post("/v2/models/catvnoncat/versions/1/infer", content=body, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    n = int(r.headers["inference-header-content-length"])
    assert int(r.headers["content-length"]) == len(r.content) > n
    doc = orjson.loads(r.content[:n])
    assert doc["model_version"] == "1"
    (p_out, l_out), tail = doc["outputs"], r.content[n:]
    assert p_out["parameters"]["binary_data_size"] == 2 * 4  # two little-endian float32
    probability = np.frombuffer(tail[:8], dtype="<f4")
    np.testing.assert_array_equal(probability, expected(server, 1, X))
    labels, at = [], 8
    while at < len(tail):  # BYTES: a 4-byte little-endian length, then the bytes
        size = int.from_bytes(tail[at:at + 4], "little")
        labels.append(tail[at + 4:at + 4 + size].decode())
        at += 4 + size
    assert at == len(tail) == 8 + l_out["parameters"]["binary_data_size"]
    assert labels == ["cat" if p > 0.5 else "non-cat" for p in probability]


@pytest.mark.parametrize("value, code", [
    ("twelve", Code.INVALID_BINARY_DATA), ("0", Code.INVALID_BINARY_DATA), ("99999999", Code.INVALID_BINARY_DATA),
    ("-3", Code.INVALID_BINARY_DATA), ("10", Code.INVALID_INFERENCE_REQUEST),
])
def test_inference_header_content_length_errors(client: httpx.Client, value: str, code: str) -> None:
    body, _ = binary_request(X[:1])
    r = client.post(INFER, content=body, headers={"Inference-Header-Content-Length": value})
    assert (r.status_code, r.json()["code"]) == (400, code) and "Inference-Header-Content-Length" in r.json()["error"]


def test_two_header_lengths_and_binary_data_without_one(client: httpx.Client) -> None:
    body, headers = binary_request(X[:1])
    twice = [("Inference-Header-Content-Length", headers["Inference-Header-Content-Length"])] * 2
    r = client.post(INFER, content=body, headers=twice)
    assert (r.status_code, r.json()["code"]) == (400, Code.INVALID_BINARY_DATA)
    r = client.post(INFER, content=body)
    assert (r.status_code, r.json()["code"]) == (400, Code.INVALID_INFERENCE_REQUEST)
    body, headers = binary_request(X[:1])
    r = client.post(INFER, content=body + b"extra", headers=headers)
    assert (r.status_code, r.json()["code"]) == (400, Code.INVALID_BINARY_DATA)


def test_a_body_over_the_limit_is_413_and_closes(client: httpx.Client) -> None:
    r = client.post(INFER, json={"inputs": [{"name": "pixels", "shape": [2, N_X], "datatype": "UINT8",
                                             "data": X.tolist()}]})
    assert (r.status_code, r.json()["code"], r.json()["limit"]) == (413, Code.BODY_TOO_LARGE, LIMIT)
    assert r.headers["connection"] == "close"


def test_a_batch_over_the_limit_is_413(client: httpx.Client) -> None:
    x = np.zeros((5, N_X), dtype=np.uint8)  # 61 kB in binary: under the body limit
    body, headers = binary_request(x)
    r = client.post(INFER, content=body, headers=headers)
    assert (r.status_code, r.json()["code"], r.json()["limit"]) == (413, Code.BATCH_TOO_LARGE, 4)


def test_ambiguous_framing_is_refused_below_the_app(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(f"POST {INFER} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode())
        status, headers, body = parse(read_to_eof(sock))
    assert (status, body["code"], headers["connection"]) == (400, Code.INVALID_FRAMING, "close")


def test_the_host_and_origin_guards(client: httpx.Client) -> None:
    r = client.get("/v2/models/catvnoncat", headers={"Host": "rebound.example"})
    assert (r.status_code, r.json()["code"]) == (400, Code.HOST_NOT_ALLOWED)
    body, headers = binary_request(X[:1])
    r = client.post(INFER, content=body, headers={**headers, "Origin": "http://evil.example"})
    assert (r.status_code, r.json()["code"]) == (403, Code.ORIGIN_NOT_ALLOWED)
