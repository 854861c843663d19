"""The real server's log (stderr of every process): JSON lines, one per request and per
job transition, with request ids; no image data and no tokens."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from .conftest import SMALL
from .realserver import Server, seed_models, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ADMIN, PREDICT = "admin-SECRET-token-0123456789", "predict-SECRET-token-0123456789"
IMAGE_MARKER = "IMAGE-DATA-MARKER-7f3a"


def marked_png() -> bytes:
    """A PNG whose bytes carry a text marker (in a tEXt chunk) and a recognisable pixel run."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", IMAGE_MARKER)
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 77, dtype=np.uint8)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_the_log_is_json_with_a_line_per_request_and_job_and_no_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    server = Server(data, tmp_path / "server.log", admin_token=ADMIN, predict_token=PREDICT)
    png = marked_png()
    with server:
        with server.client(headers={"Authorization": f"Bearer {PREDICT}"}) as c:
            r = c.post("/predict", files={"file": ("cat.png", png)}, headers={"X-Request-ID": "log-test-1"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "log-test-1"
            r = c.post("/predict", files={"file": ("broken.png", png[: len(png) // 2])})
            assert r.status_code == 422
            predict_broken_id = r.headers["x-request-id"]
            r = c.post("/predict", files={"file": ("x.png", png)},
                       headers={"Authorization": "Bearer WRONG-SECRET-token-0123456789"})
            assert r.status_code == 403
        with server.client(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            r = c.post("/train", json={"dataset": "synthetic", **SMALL}, headers={"X-Request-ID": "log-test-job"})
            job_id = r.json()["id"]
            wait_until(lambda: c.get(f"/train/{job_id}").json()["status"] == "succeeded", 60, "the job")
        assert server.terminate() == 0

    text = server.log.read_text()
    for secret in (ADMIN, PREDICT, "WRONG-SECRET", IMAGE_MARKER, "Bearer"):
        assert secret not in text, secret
    lines = server.log_lines()  # fails if any line is not JSON
    assert all({"ts", "level", "logger", "pid", "msg"} <= set(line) for line in lines)

    requests = [line for line in lines if line["msg"] == "request"]
    assert all({"method", "path", "status", "duration_ms", "request_id", "client"} <= set(line) for line in requests)
    by_id = {line["request_id"]: line for line in requests}
    first = by_id["log-test-1"]
    assert (first["method"], first["path"], first["status"], first["client"]) == ("POST", "/predict", 200, "127.0.0.1")
    assert by_id[predict_broken_id]["status"] == 422
    assert sorted(line["status"] for line in requests if line["path"] == "/predict") == [200, 403, 422]

    job_lines = [line for line in lines if line.get("job_id") == job_id]
    assert [line["status"] for line in job_lines] == ["queued", "running", "succeeded"]
    assert all(line["request_id"] == "log-test-job" for line in job_lines)
    assert job_lines[-1]["model_version"] == 2
    assert not any(line["msg"].startswith("no CATSVC_") for line in lines)  # both tokens are set
