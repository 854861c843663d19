"""Issue 9's API against the real server (``python -m service`` on 127.0.0.1): predict with
explain, a job's events and cost curve, evaluate, the page's files; and their 4xx.

One server for the module: two seeded versions (the course's np.savez files), a small
uploaded data set.
"""
from __future__ import annotations

import base64
import signal
import io
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from PIL import Image

from model_core import TrainConfig, build_metadata, image_to_vector, train
from service.api.errors import Code
from service.state.synthetic import make_synthetic

from .conftest import image_bytes, npz_bytes
from .realserver import Server, seed_models, store_of, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SVG = "{http://www.w3.org/2000/svg}"
SHORT_JOB = {"dataset": "synthetic", "layer_dims": [12288, 4, 1], "iterations": 400, "recipe": "course"}


TINY_CNN = [{"type": "input", "n_H": 64, "n_W": 64, "n_C": 3},
            {"type": "conv2d", "n_C": 4, "f": 3, "pad": 1, "activation": "relu"},
            {"type": "max_pool", "f": 4, "stride": 4},
            {"type": "global_avg_pool"},
            {"type": "dense", "n": 1, "activation": "sigmoid"}]


def add_cnn(data_dir: Path) -> int:
    """A small network of layers trained by model_core (per-image norm, test-time flip), stored
    as a version beside the seeded ones, not active."""
    X, Y = make_synthetic(16, seed=2)
    config = TrainConfig(architecture=TINY_CNN, input_norm="per_image", tta="flip", dtype="float32", init="he",
                         optimizer="adam", learning_rate=1e-3, epochs=1, batch_size=8)
    parameters, history = train(X, Y, config)
    return store_of(data_dir).add(parameters, build_metadata(config, history, recipe="photos"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("page-api")
    seed_models(root / "data", count=2)
    assert add_cnn(root / "data") == 3
    with Server(root / "data", root / "server.log", log_level="warning", max_explain_batch=3,
                max_event_streams=2).start() as s:
        yield s


@pytest.fixture(scope="module")
def c(server: Server) -> Iterator[httpx.Client]:
    with server.client(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def dataset_id(c: httpx.Client) -> str:
    r = c.post("/datasets", files={"file": ("small.npz", npz_bytes(*make_synthetic(30, seed=3)))})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def png(data: str) -> np.ndarray:
    img = Image.open(io.BytesIO(base64.b64decode(data)))
    assert img.format == "PNG"
    return np.asarray(img)


# -- POST /predict?explain=true
def test_explain_returns_the_picture_seen_and_a_saliency_map(c: httpx.Client, server: Server) -> None:
    photo = image_bytes("JPEG", size=(150, 90), seed=5)
    plain = c.post("/predict", files={"file": ("a.jpg", photo)})
    r = c.post("/predict?explain=true", files={"file": ("a.jpg", photo)})
    assert r.status_code == 200, r.text
    [p] = r.json()["predictions"]
    [q] = plain.json()["predictions"]
    assert set(q) == {"index", "filename", "label", "probability"}  # absent explain: the answer as before
    assert p["probability"] == pytest.approx(q["probability"], abs=1e-12) and p["label"] == q["label"]
    seen = png(p["image_png"])
    assert seen.shape == (64, 64, 3)
    np.testing.assert_array_equal(seen.reshape(-1), image_to_vector(photo))  # what the model saw, exactly
    heat = png(p["saliency_png"])
    assert heat.shape == (64, 64) and heat.max() == 255
    # the map is the model's own gradient (model_core's, checked against finite differences there)
    active = r.json()["version"]
    model = store_of(server.data_dir).load(active)
    G = np.abs(model.input_gradient(image_to_vector(photo)[:, None])).reshape(64, 64, 3).max(axis=2)
    assert np.unravel_index(heat.argmax(), heat.shape) == np.unravel_index(G.argmax(), G.shape)


def test_explain_of_a_network_of_layers_is_its_own_gradient(c: httpx.Client, server: Server) -> None:
    """The photos recipe's kind of model: per-image standardization, test-time flip, conv layers."""
    before = c.get("/models").json()["active"]
    assert c.post("/models/3/activate").status_code == 200
    try:
        photo = image_bytes("PNG", size=(90, 70), seed=8)
        r = c.post("/predict?explain=true", files={"file": ("b.png", photo)})
        assert r.status_code == 200 and r.json()["version"] == 3, r.text
        heat = png(r.json()["predictions"][0]["saliency_png"]).astype(int)
        model = store_of(server.data_dir).load(3)
        assert model.architecture is not None and model.tta == "flip" and model.input_norm == "per_image"
        G = np.abs(model.input_gradient(image_to_vector(photo)[:, None])).reshape(64, 64, 3).max(axis=2)
        expected = np.rint(G * 255 / G.max())
        assert np.abs(heat - expected).max() <= 1  # float32 model: a grey level of rounding at most
    finally:
        c.post(f"/models/{before}/activate")


def test_explain_works_for_json_instances_and_several_images(c: httpx.Client) -> None:
    X = make_synthetic(2, seed=1)[0]  # (12288, 2)
    r = c.post("/predict?explain=1", json={"instances": X.T.tolist()})
    assert r.status_code == 200, r.text
    for j, p in enumerate(r.json()["predictions"]):
        np.testing.assert_array_equal(png(p["image_png"]).reshape(-1), X[:, j])
    files = [("file", (f"{i}.png", image_bytes(seed=i))) for i in range(3)]
    assert len(c.post("/predict?explain=true", files=files).json()["predictions"]) == 3


def test_explain_over_its_batch_limit_is_413_naming_the_setting(c: httpx.Client) -> None:
    files = [("file", (f"{i}.png", image_bytes(seed=i))) for i in range(4)]
    r = c.post("/predict?explain=true", files=files)
    assert r.status_code == 413
    body = r.json()
    assert body["code"] == Code.BATCH_TOO_LARGE and body["limit"] == 3
    assert "CATSVC_MAX_EXPLAIN_BATCH" in body["error"]
    assert c.post("/predict", files=files).status_code == 200  # without explain, the usual limit


def test_a_bad_explain_value_is_422_naming_it(c: httpx.Client) -> None:
    r = c.post("/predict?explain=maybe", files={"file": ("a.png", image_bytes())})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, Code.VALIDATION_ERROR, "explain")


def test_explain_of_a_bad_file_is_the_usual_error(c: httpx.Client) -> None:
    r = c.post("/predict?explain=true", files={"file": ("notes.txt", b"hello, not an image")})
    assert (r.status_code, r.json()["code"]) == (415, Code.NOT_AN_IMAGE)


# -- a job: events, cost.svg
def parse_events(text: str) -> list[tuple[str, Any]]:
    out = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if not ln.startswith(":")]
        if not lines:
            continue
        name = next(ln[7:] for ln in lines if ln.startswith("event: "))
        data = next(ln[6:] for ln in lines if ln.startswith("data: "))
        out.append((name, orjson.loads(data)))
    return out


def test_events_stream_the_job_to_its_end_and_the_curve_draws(c: httpx.Client, dataset_id: str) -> None:
    r = c.post("/train", json={**SHORT_JOB, "activate": False})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    start = time.monotonic()
    with c.stream("GET", f"/train/{job_id}/events") as s:
        assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
        assert s.headers["cache-control"] == "no-store"
        text = "".join(s.iter_text())  # ends by itself when the job ends
    assert time.monotonic() - start < 120
    events = parse_events(text)
    names = [n for n, _ in events]
    assert names[-1] == "end" and names.count("end") == 1 and "progress" in names
    end = events[-1][1]
    assert end["status"] == "succeeded" and end["id"] == job_id
    points = [pt for n, d in events if n == "progress" for pt in d["costs"]]
    assert points == end["costs"] and len(points) == 5  # every point once, in order: 0, 100, 200, 300, 399
    percents = [d["percent"] for n, d in events if n == "progress"]
    assert percents == sorted(percents) and percents[-1] == 100.0

    svg = c.get(f"/train/{job_id}/cost.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    [line] = ET.fromstring(svg.text).findall(f"{SVG}polyline")
    assert len(line.get("points", "").split()) == 5
    version = end["model_version"]
    thumb = c.get(f"/models/{version}/cost.svg")
    assert thumb.status_code == 200 and "immutable" not in thumb.headers["cache-control"]
    assert len(ET.fromstring(thumb.text).find(f"{SVG}polyline").get("points", "").split()) == 5
    listed = {m["version"]: m for m in c.get("/models").json()["models"]}
    assert listed[version]["recipe"] == "course"


def test_events_of_a_finished_job_end_at_once(c: httpx.Client) -> None:
    job = c.get("/train").json()["jobs"][0]
    assert job["status"] == "succeeded"
    events = parse_events(c.get(f"/train/{job['id']}/events").text)
    assert [n for n, _ in events] == ["progress", "end"]


def test_events_streams_are_bounded_and_do_not_block(c: httpx.Client, server: Server) -> None:
    r = c.post("/train", json={**SHORT_JOB, "iterations": 200000, "activate": False})
    job_id = r.json()["id"]
    clients = [server.client(timeout=30) for _ in range(3)]
    streams = []
    try:
        # both workers take at most 2 each: 5 streams from one client cannot all be open
        statuses = []
        for k in range(5):
            cm = clients[k % 3].stream("GET", f"/train/{job_id}/events") if k < 3 else \
                server.client(timeout=30).stream("GET", f"/train/{job_id}/events")
            s = cm.__enter__()
            streams.append(cm)
            statuses.append(s.status_code)
            if s.status_code == 503:
                body = orjson.loads(s.read())
                assert body["code"] == Code.TOO_MANY_EVENT_STREAMS and body["limit"] == 2
                assert s.headers["retry-after"]
        assert statuses.count(200) <= 4 and 503 in statuses
        # the workers keep answering while the streams are open
        t = time.monotonic()
        assert c.get("/health/live").status_code == 200
        assert time.monotonic() - t < 1.0
    finally:
        c.delete(f"/train/{job_id}")
        for cm in streams:
            cm.__exit__(None, None, None)
        for cl in clients:
            cl.close()
    wait_until(lambda: c.get(f"/train/{job_id}").json()["status"] == "cancelled", 60, "the cancel")


def test_events_and_cost_of_an_unknown_job_are_404(c: httpx.Client) -> None:
    for path in ("/train/nope/events", "/train/nope/cost.svg"):
        r = c.get(path)
        assert (r.status_code, r.json()["code"]) == (404, Code.JOB_NOT_FOUND)
    r = c.get("/models/999/cost.svg")
    assert (r.status_code, r.json()["code"]) == (404, Code.MODEL_NOT_FOUND)


# -- POST /models/{v}/evaluate
def test_evaluate_reports_the_metrics_of_the_data_set(c: httpx.Client, server: Server, dataset_id: str) -> None:
    r = c.post("/models/1/evaluate", json={"dataset": dataset_id})
    assert r.status_code == 200, r.text
    body = r.json()
    X, Y = make_synthetic(30, seed=3)
    model = store_of(server.data_dir).load(1)
    pred = model.predict_proba(X) > 0.5
    y = Y.ravel().astype(bool)
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
    assert body["confusion"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert body["m"] == 30 and body["version"] == 1 and body["dataset"] == dataset_id
    assert body["accuracy"] == pytest.approx((tp + tn) / 30)
    assert body["precision"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
    assert body["recall"] == pytest.approx(tp / (tp + fn) if tp + fn else 0.0)
    assert c.post("/models/2/evaluate", json={"dataset": "synthetic"}).json()["m"] == 300


@pytest.mark.parametrize("path, kwargs, status, code", [
    ("/models/999/evaluate", {"json": {"dataset": "synthetic"}}, 404, Code.MODEL_NOT_FOUND),
    ("/models/1/evaluate", {"json": {"dataset": "no-such-set"}}, 422, Code.UNKNOWN_DATASET),
    ("/models/1/evaluate", {"json": {"data": "synthetic"}}, 422, Code.VALIDATION_ERROR),
    ("/models/1/evaluate", {"content": b"{", "headers": {"content-type": "application/json"}}, 422, Code.INVALID_JSON),
    ("/models/1/evaluate", {"content": b"dataset=synthetic", "headers": {"content-type": "text/plain"}}, 415,
     Code.UNSUPPORTED_MEDIA_TYPE),
    ("/models/0/evaluate", {"json": {"dataset": "synthetic"}}, 422, Code.VALIDATION_ERROR),
])
def test_evaluate_errors(c: httpx.Client, path: str, kwargs: dict, status: int, code: str) -> None:
    r = c.post(path, **kwargs)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text


def test_an_unknown_field_beside_the_data_set_is_not_blamed_on_it(c: httpx.Client) -> None:
    r = c.post("/models/1/evaluate", json={"dataset": "synthetic", "<b>x": 1})
    assert r.status_code == 422 and "field" not in r.json(), r.text
    assert "1 unknown field(s)" in r.json()["error"] and "<b>" not in r.text


def test_a_version_with_no_costs_says_it_has_none_not_yet(c: httpx.Client) -> None:
    texts = [t.text for t in ET.fromstring(c.get("/models/1/cost.svg").text).iter(f"{SVG}text")]
    assert "no cost history in this version" in texts and "no cost recorded yet" not in texts


def test_an_unknown_data_set_is_the_same_error_to_evaluate_and_to_train(c: httpx.Client) -> None:
    evaluate = c.post("/models/1/evaluate", json={"dataset": "no-such-set"}).json()
    train = c.post("/train", json={"dataset": "no-such-set"}).json()
    assert evaluate == train and evaluate["field"] == "dataset", (evaluate, train)


# -- the page's files
def test_the_page_and_its_files_come_from_the_service(c: httpx.Client) -> None:
    r = c.get("/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["cache-control"] == "no-cache" and r.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in r.text and "https://" not in r.text  # nothing from elsewhere
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        start = r.text.index(f"/static/{name}?v=")
        url = r.text[start:r.text.index('"', start)]
        a = c.get(url)
        assert a.status_code == 200 and a.headers["content-type"].startswith(kind)
        assert "immutable" in a.headers["cache-control"]
        assert "immutable" not in c.get(f"/static/{name}").headers["cache-control"]
    assert c.get("/static/../settings.py").status_code == 404
    assert c.get("/static/index.html").json()["code"] == Code.NOT_FOUND


def test_auth_says_which_tokens_are_asked_for(c: httpx.Client, tmp_path) -> None:
    assert c.get("/auth").json() == {"admin": "open", "predict": "open"}
    seed_models(tmp_path / "data")
    with Server(tmp_path / "data", tmp_path / "log", admin_token="admin-token-0123456789abcdef").start() as s:
        with s.client() as other:
            body = other.get("/auth").json()
            assert body == {"admin": "token", "predict": "open"}
            assert "0123456789" not in other.get("/auth").text
            r = other.post("/models/1/activate")
            assert (r.status_code, r.json()["code"]) == (401, Code.AUTH_REQUIRED)


def test_an_open_event_stream_does_not_hold_up_a_shutdown(tmp_path: Path) -> None:
    """SIGTERM with a stream open on a long job: the stream ends and the service exits
    cleanly, well within its shutdown timeout (the server closes the connection; the
    stream also watches the stopping file, for servers that would wait on it)."""
    seed_models(tmp_path / "data")
    server = Server(tmp_path / "data", tmp_path / "log", log_level="warning", shutdown_timeout=20).start()
    try:
        with server.client(timeout=30) as c:
            job_id = c.post("/train", json={**SHORT_JOB, "iterations": 10_000_000, "optimizer": "adam",
                                            "learning_rate": 1e-5}).json()["id"]
            with c.stream("GET", f"/train/{job_id}/events") as s:
                assert s.status_code == 200
                chunks = s.iter_bytes()
                assert b"event: progress" in next(chunks)
                start = time.monotonic()
                server.proc.send_signal(signal.SIGTERM)
                try:
                    for _ in chunks:  # until the server closes it
                        pass
                except httpx.HTTPError:
                    pass  # closed mid-chunk: ended all the same
                ended = time.monotonic() - start
        assert server.proc.wait(timeout=60) == 0
        assert ended < 15, ended  # 20 s would be the shutdown timeout cutting it off
    finally:
        server.kill()


def test_a_cost_curve_opened_as_a_document_can_run_nothing(c: httpx.Client) -> None:
    """An SVG opened at its URL is a document of the service's origin: its answer forbids
    script and sniffing, whatever text a future title may carry."""
    job_id = c.post("/train", json={**SHORT_JOB, "activate": False}).json()["id"]
    for path in (f"/train/{job_id}/cost.svg", "/models/1/cost.svg"):
        r = c.get(path)
        assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
