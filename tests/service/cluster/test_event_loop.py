"""An object store that accepts connections and never answers (a stalled MinIO, a network
that drops replies) must not stall an API worker's event loop: the calls that reach it
(readiness's probe, the no-model message's queue read, the V2 metadata's listing) run on
the thread pool. A real replica on one worker, its S3 endpoint a socket that listens and
never replies."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.state.storage import PROBE_TTL

from ...timing import collector_paused
from ..conftest import image_bytes
from ..realserver import free_port
from .cluster import Cluster

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def silent_s3() -> Iterator[str]:
    """An endpoint whose kernel completes every TCP handshake (the backlog) while nothing
    ever reads or answers: each S3 call waits for its read timeout."""
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen(128)
        yield f"http://127.0.0.1:{port}"


def answered_within(client: httpx.Client, method: str, path: str, bound: float, **kwargs: Any) -> httpx.Response:
    start = time.monotonic()
    r = client.request(method, path, **kwargs)
    elapsed = time.monotonic() - start
    assert elapsed < bound, f"{method} {path} took {elapsed * 1000:.0f} ms while the object store stalls"
    return r


def _wait_ready(client: httpx.Client) -> None:
    try:
        client.get("/health/ready")
    except httpx.HTTPError:  # the client closed under it at the end of the test
        pass


def test_a_stalled_object_store_does_not_block_the_event_loop(tmp_path: Path, cluster_env: dict[str, str],
                                                               silent_s3: str) -> None:
    cluster = Cluster(tmp_path, cluster_env)
    try:
        api = cluster.api(ready=False, s3_url=silent_s3)  # one worker (Cluster's nodes)
        with api.client(timeout=120) as hung, api.client(timeout=10) as c, collector_paused():
            # readiness's probe waits on the object store: in a thread, while the rest is checked
            stuck = threading.Thread(target=_wait_ready, args=(hung,), daemon=True)
            stuck.start()
            # the probe is now waiting for the silent socket's reply, and (past PROBE_TTL from when
            # it started, which a loaded machine may reach well after stuck.start()) readiness
            # says so; at 1.0 s exactly, a CI run once found no reason in its answer yet
            time.sleep(PROBE_TTL + 0.5)
            assert stuck.is_alive(), "readiness answered: the object store was not reached"
            r = answered_within(c, "GET", "/health/live", 0.1)
            assert r.status_code == 200
            # no model is loaded (it lives in the stalled store): the 503 names the way out
            r = answered_within(c, "POST", "/predict", 0.25, files={"file": ("a.png", image_bytes())})
            assert r.status_code == 503 and r.json()["code"] == "NO_MODEL", r.text
            assert answered_within(c, "GET", "/v2/health/live", 0.1).status_code == 200
            # readiness itself does not queue behind the probe in flight: it says what it waits on
            r = answered_within(c, "GET", "/health/ready", 0.25)
            assert r.status_code == 503 and r.json()["reason"] == "unreachable", r.text
            assert "has not answered for" in r.json()["error"], r.text
    finally:
        cluster.stop()
