"""Nothing blocks the event loop (issue 7, point 3): against the real server, one API worker.

While one request decodes images for seconds on the worker's pool, the same worker answers
/health/live within 100 ms and a one-PNG /predict within 250 ms. A request over the pixel
budget is refused from the image headers, and a request that finds the pool and its queue
full gets a 503 at once.
"""
from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from service.api.errors import Code

from ..timing import collector_paused
from .conftest import image_bytes
from .realserver import Server, seed_models
from .test_predict import png_declaring

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SIDE = 6320  # 39.9 Mpx: just under CATSVC_MAX_IMAGE_PIXELS's default
SLOW_IMAGES = 5  # about 1 s of decoding each on an idle core of this machine
BUDGET = SLOW_IMAGES * SIDE * SIDE  # CATSVC_MAX_REQUEST_PIXELS raised to let the slow batch in
LIVE_WITHIN, PREDICT_WITHIN = 0.100, 0.250  # seconds: the bounds
SLOW_AT_LEAST = 2.0


@pytest.fixture(scope="module")
def large_png() -> bytes:
    """A real 40 Mpx RGBA PNG of noise blocks: about 1 s to decode (RGBA is the slowest kind
    here per pixel), 0.7 MiB to send."""
    blocks = np.random.default_rng(0).integers(0, 256, size=(SIDE // 80, SIDE // 80, 4), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(blocks).resize((SIDE, SIDE), Image.Resampling.NEAREST).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("offload")
    seed_models(tmp / "data")
    with Server(tmp / "data", tmp / "server.log", workers=1, max_request_pixels=BUDGET) as s:
        yield s


def one_png(client: httpx.Client) -> httpx.Response:
    return client.post("/predict", files={"file": ("small.png", image_bytes("PNG"))})


class Slow(threading.Thread):
    """One POST /predict of ``count`` large PNGs, in the background; its answer and its times."""

    def __init__(self, server: Server, png: bytes, count: int) -> None:
        super().__init__(daemon=True)
        self.server, self.files = server, [("file", (f"large{i}.png", png)) for i in range(count)]
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.started = self.ended = 0.0

    def run(self) -> None:
        try:
            with self.server.client(timeout=120) as c:
                self.started = time.monotonic()
                self.response = c.post("/predict", files=self.files)
                self.ended = time.monotonic()
        except Exception as e:  # noqa: BLE001  (reported by finish)
            self.error = e

    def finish(self) -> httpx.Response:
        self.join(timeout=150)
        assert self.response is not None, f"the slow request did not come back: {self.error!r}"
        return self.response


def timed(call: Any) -> tuple[httpx.Response, float, float]:
    start = time.monotonic()
    response = call()
    end = time.monotonic()
    return response, end - start, end


def test_the_worker_answers_while_it_decodes_for_seconds(server: Server, large_png: bytes) -> None:
    with server.client() as c, collector_paused():
        assert one_png(c).status_code == 200  # the connection is open and the model measured
        slow = Slow(server, large_png, SLOW_IMAGES)
        slow.start()
        time.sleep(0.5)  # the body (3.7 MiB over loopback) is in: the pool is decoding
        live: list[tuple[httpx.Response, float, float]] = []
        predict: list[tuple[httpx.Response, float, float]] = []
        while slow.is_alive() and len(live) < 20:
            live.append(timed(lambda: c.get("/health/live")))
            predict.append(timed(lambda: one_png(c)))
            time.sleep(0.05)
        answer = slow.finish()
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == SLOW_IMAGES
    took = slow.ended - slow.started
    assert took >= SLOW_AT_LEAST, f"the slow request took only {took:.2f} s: send more images"
    assert all(r.status_code == 200 for r, *_ in live + predict)
    live_seconds = [round(s, 3) for _, s, _ in live]
    predict_seconds = [round(s, 3) for _, s, _ in predict]
    assert max(live_seconds) < LIVE_WITHIN, live_seconds
    assert max(predict_seconds) < PREDICT_WITHIN, predict_seconds
    # and they were answered while the slow request was still decoding, several of them
    assert len(live) >= 3 and max(end for *_, end in predict) < slow.ended, (len(live), took)


def test_a_request_over_the_pixel_budget_is_413_from_the_headers(server: Server) -> None:
    # six PNG headers of 36 Mpx each, over the budget together; their data is one pixel,
    # so decoding any of them would answer 422 INVALID_IMAGE instead
    over = BUDGET // (6000 * 6000) + 1
    files = [("file", (f"{i}.png", png_declaring(6000, 6000))) for i in range(over)]
    with server.client() as c:
        r = c.post("/predict", files=files)
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["code"] == Code.REQUEST_PIXELS_TOO_LARGE
    assert body["limit"] == BUDGET and body["pixels"] == over * 6000 * 6000
    assert "CATSVC_MAX_REQUEST_PIXELS" in body["error"] and str(BUDGET) in body["error"]


def test_a_full_pool_answers_503_and_small_requests_still_pass(tmp_path: Path, large_png: bytes) -> None:
    """One thread, one waiting place: a slow request runs, a second waits, and the next one
    that needs the pool is refused at once; a one-PNG request (inline) is still answered.
    (The order of the three rests on pauses of 0.5 s: each body is in well within that.)"""
    seed_models(tmp_path / "data")
    with Server(tmp_path / "data", tmp_path / "server.log", workers=1, predict_threads=1, predict_queue=1,
                max_request_pixels=4 * SIDE * SIDE) as server, server.client() as c:
        assert one_png(c).status_code == 200
        mid = [("file", ("mid.png", image_bytes("PNG", size=(300, 300))))]  # over the inline size: the pool
        assert c.post("/predict", files=mid).status_code == 200
        running, waiting = Slow(server, large_png, 4), Slow(server, large_png, 1)  # about 4 s, then 1 s
        running.start()
        time.sleep(0.5)
        waiting.start()
        time.sleep(0.5)
        refused = c.post("/predict", files=mid)
        assert one_png(c).status_code == 200
        assert c.get("/health/live").status_code == 200
        assert running.finish().status_code == 200 and waiting.finish().status_code == 200
        assert waiting.ended > running.ended  # it waited its turn
        assert c.post("/predict", files=mid).status_code == 200
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["code"] == Code.PREDICT_QUEUE_FULL and body["limit"] == 1
    assert refused.headers["retry-after"] == "1"
    assert "CATSVC_PREDICT_THREADS" in body["error"] and "CATSVC_PREDICT_QUEUE" in body["error"]
