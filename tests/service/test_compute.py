"""service.api.compute: the bounded pool /predict runs on, and which requests skip it."""
from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api import compute
from service.api.compute import INLINE_FORWARD_SECONDS, ComputePool, ForwardCosts
from service.api.errors import ApiError, Code

from tests.decoder_bombs import progressive, rle_bmp

from .conftest import image_bytes

N = 12288


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_the_work_runs_on_a_pool_thread() -> None:
    pool = ComputePool(threads=2, queue=0)
    assert run(pool.run(lambda: threading.current_thread().name)).startswith("predict")
    assert run(pool.run(pow, 2, 10)) == 1024


def test_an_error_in_the_work_reaches_the_caller_and_frees_its_slot() -> None:
    pool = ComputePool(threads=1, queue=0)

    def bad() -> None:
        raise ApiError(422, Code.INVALID_IMAGE, "file #0: broken")

    for _ in range(3):  # the slot came back each time
        with pytest.raises(ApiError) as e:
            run(pool.run(bad))
        assert e.value.code == Code.INVALID_IMAGE


def test_a_call_cancelled_while_it_waits_gives_its_slot_back() -> None:
    pool = ComputePool(threads=1, queue=1)
    release = threading.Event()

    async def scenario() -> list[int]:
        running = asyncio.ensure_future(pool.run(release.wait, 30))
        waiting = asyncio.ensure_future(pool.run(lambda: 2))
        await asyncio.sleep(0.05)
        waiting.cancel()  # e.g. uvicorn's forced cancel at shutdown: it never started
        await asyncio.sleep(0.05)
        release.set()
        await running
        # both slots are free again: two calls at once find room (one waits for the thread)
        return list(await asyncio.gather(pool.run(lambda: 3), pool.run(lambda: 4)))

    assert run(scenario()) == [3, 4]


def test_beyond_the_threads_and_the_queue_a_request_is_refused_at_once() -> None:
    pool = ComputePool(threads=1, queue=1)
    release = threading.Event()

    async def scenario() -> tuple[list[int], ApiError]:
        running = asyncio.ensure_future(pool.run(release.wait, 30))
        waiting = asyncio.ensure_future(pool.run(lambda: 2))
        await asyncio.sleep(0.05)  # both hold their slots now
        with pytest.raises(ApiError) as refused:
            await pool.run(lambda: 3)
        release.set()
        return [int(await running), await waiting, await pool.run(lambda: 4)], refused.value

    results, err = run(scenario())
    assert results == [1, 2, 4]  # the waiting one ran once the thread was free; then there was room again
    assert (err.status, err.code, err.extra["limit"], err.headers) == (503, Code.PREDICT_QUEUE_FULL, 1,
                                                                       {"Retry-After": "1"})
    assert "CATSVC_PREDICT_THREADS" in err.message and "CATSVC_PREDICT_QUEUE" in err.message


def test_a_request_that_gives_up_keeps_its_slot_until_its_work_ends() -> None:
    """A client that disconnects does not free a thread still decoding its images."""
    pool = ComputePool(threads=1, queue=0)
    release = threading.Event()

    async def scenario() -> None:
        task = asyncio.ensure_future(pool.run(release.wait, 30))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(ApiError):  # the work still runs: no room
            await pool.run(lambda: 0)
        release.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            try:
                assert await pool.run(lambda: 1) == 1
                return
            except ApiError:
                continue
        pytest.fail("the slot never came back")

    run(scenario())


class _Model:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        import time

        time.sleep(self.seconds * X.shape[1])
        return np.full(X.shape[1], 0.5)


def test_forward_costs_let_only_measured_fast_models_run_inline() -> None:
    costs = ForwardCosts()
    assert not costs.cheap(1, 1)  # not measured yet: the pool
    costs.observe(1, INLINE_FORWARD_SECONDS / 4)
    assert costs.cheap(1, 1) and costs.cheap(1, 4) and not costs.cheap(1, 5)
    costs.observe(1, INLINE_FORWARD_SECONDS * 3)  # a slow moment: the fastest pass counts
    assert costs.cheap(1, 1) and not costs.cheap(2, 1)


def test_a_slow_model_is_measured_slow() -> None:
    costs = ForwardCosts()
    proba = costs.predict_proba(2, _Model(INLINE_FORWARD_SECONDS * 3), np.zeros((N, 2)))  # type: ignore[arg-type]
    assert proba.shape == (2,) and not costs.cheap(2, 1)


# -- through the app: what runs inline, what goes to the pool, and that both answer alike
@pytest.fixture
def pool_calls(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    pool: ComputePool = client.app.state.services.pool  # type: ignore[attr-defined]
    real = pool.run

    async def counted(fn: Any, *args: Any) -> Any:
        calls.append(fn.__name__)
        return await real(fn, *args)

    monkeypatch.setattr(pool, "run", counted)
    return calls


def measure(client: TestClient, pool_calls: list[str]) -> None:
    """Predict until a request runs inline: the model's fastest pass is then known (one
    request usually; a few on a busy machine, where a pass can take longer than it costs)."""
    for _ in range(50):
        pool_calls.clear()
        client.post("/predict", json={"instances": [[0] * N]})
        if not pool_calls:
            return
    pytest.fail("no request ran inline")


def test_small_requests_run_inline_once_the_model_is_measured(client: TestClient, model_version: int,
                                                               pool_calls: list[str]) -> None:
    png = {"file": ("a.png", image_bytes("PNG"))}
    first = client.post("/predict", files=png)
    assert pool_calls == ["_off_loop"]  # the model's first pass: measured on the pool
    measure(client, pool_calls)
    again, by_json = client.post("/predict", files=png), client.post("/predict", json={"instances": [[7] * N]})
    assert pool_calls == []  # then inline
    assert first.json() == again.json() and by_json.status_code == 200


def test_large_requests_go_to_the_pool_and_answer_as_inline_ones(client: TestClient, model_version: int,
                                                                 pool_calls: list[str]) -> None:
    measure(client, pool_calls)
    small, large = image_bytes("PNG", size=(64, 64), seed=3), image_bytes("PNG", size=(256, 256), seed=3)
    inline = client.post("/predict", files={"file": ("a.png", small)}).json()["predictions"]
    assert pool_calls == []
    pooled = client.post("/predict", files=[("file", ("a.png", small)), ("file", ("b.png", large))]).json()
    assert pool_calls == ["_off_loop"]
    assert pooled["predictions"][0]["probability"] == inline[0]["probability"]
    client.post("/predict", files={"file": ("b.png", large)})  # over INLINE_PIXELS: only its header was read
    many = client.post("/predict", json={"instances": [[0] * N] * 8})  # over INLINE_BODY_BYTES
    assert pool_calls == ["_off_loop"] * 3 and many.status_code == 200
    assert 256 * 256 > compute.INLINE_PIXELS


def test_a_photo_sized_jpeg_runs_inline_since_it_decodes_at_a_quarter_scale(
        client: TestClient, model_version: int, pool_calls: list[str]) -> None:
    measure(client, pool_calls)
    photo = image_bytes("JPEG", size=(500, 375), seed=4)  # decodes 125x94, within INLINE_PIXELS
    big = image_bytes("JPEG", size=(1200, 1200), seed=4)  # decodes 150x150 at 1/8: to the pool
    assert len(photo) <= compute.INLINE_BODY_BYTES and len(big) <= compute.INLINE_BODY_BYTES
    inline = client.post("/predict", files={"file": ("a.jpg", photo)})
    assert pool_calls == [] and inline.status_code == 200
    pooled = client.post("/predict", files=[("file", ("a.jpg", photo)), ("file", ("b.jpg", big))])
    client.post("/predict", files={"file": ("b.jpg", big)})
    assert pool_calls == ["_off_loop"] * 2
    assert pooled.json()["predictions"][0]["probability"] == inline.json()["predictions"][0]["probability"]


def test_a_small_jpeg_of_many_scans_and_a_python_decoded_image_go_to_the_pool(
        client: TestClient, model_version: int, pool_calls: list[str]) -> None:
    # each within INLINE_BODY_BYTES and decoding to at most INLINE_PIXELS, yet their decoder's
    # work is not tiny: 40 passes over 1024x1024 (a 62 KB file of 4600 took 1.2 s of the loop),
    # or a decoder written in Python
    measure(client, pool_calls)
    scans, rle = progressive((1024, 1024), 40), rle_bmp(100, 100)
    assert len(scans) <= compute.INLINE_BODY_BYTES and len(rle) <= compute.INLINE_BODY_BYTES
    for name, data in (("s.jpg", scans), ("r.bmp", rle)):
        assert client.post("/predict", files={"file": (name, data)}).status_code == 200
    assert pool_calls == ["_off_loop"] * 2


def test_errors_found_inline_and_on_the_pool_are_the_same(client: TestClient, model_version: int) -> None:
    broken = image_bytes("PNG", size=(300, 200))[:500]
    inline = client.post("/predict", files={"file": ("cut.png", broken)})
    pooled = client.post("/predict", files={"file": ("cut.png", broken + b"\0" * 70_000)})  # a large body
    assert inline.status_code == pooled.status_code == 422
    assert inline.json()["code"] == pooled.json()["code"] == Code.INVALID_IMAGE
