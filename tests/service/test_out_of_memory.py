"""A request within every limit that the worker's memory cannot hold: 503 OUT_OF_MEMORY
with Retry-After, not a 500, nothing stored, and the worker serves on.

Caged: the real server's one API worker gets an address-space cap (RLIMIT_AS, set on the
running process) 400 MB above what it maps once started, and a PUT /params file within
CATSVC_MAX_PARAMS_BYTES whose one array takes 800 MB (zeros: 0.8 MB deflated) cannot be
allocated inside it.
"""
from __future__ import annotations

import io
import resource
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.api.errors import Code

from .realserver import Server, api_process, course_npz, seed_models

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MB = 1 << 20
HEADROOM = 400 * MB  # above the worker's mapped size: every ordinary request fits in it
ARRAY_BYTES = 800 * MB


def mapped_bytes(pid: int) -> int:
    """VmSize: what the process has mapped, which RLIMIT_AS bounds."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmSize for {pid}")


def too_big_for_the_cage() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, W1=np.zeros((1, ARRAY_BYTES // 8)), b1=np.zeros((1, 1)))
    return buf.getvalue()


@pytest.fixture
def caged(tmp_path: Path) -> Iterator[Server]:
    seed_models(tmp_path / "data")
    with Server(tmp_path / "data", tmp_path / "server.log", workers=1, max_params_bytes=2 * ARRAY_BYTES) as server:
        pid = api_process(server)
        assert pid is not None
        cap = mapped_bytes(pid) + HEADROOM
        resource.prlimit(pid, resource.RLIMIT_AS, (cap, cap))
        yield server


def test_a_request_the_worker_cannot_allocate_is_503_and_nothing_is_stored(caged: Server) -> None:
    body = too_big_for_the_cage()
    with caged.client() as c:
        models = c.get("/models").json()
        r = c.put("/params", files={"file": ("big.npz", body)})
        assert r.status_code == 503, r.text
        assert r.json()["code"] == Code.OUT_OF_MEMORY and r.headers["Retry-After"] == "10"
        assert "ran out of memory" in r.json()["error"]
        assert c.get("/models").json() == models  # nothing half-stored
        # the worker lives on and serves what fits
        assert c.get("/health/ready").status_code == 200
        r = c.put("/params", files={"file": ("course.npz", course_npz())})
        assert r.status_code in (200, 201), r.text
    lines = caged.log_lines()
    assert not [line for line in lines if str(line.get("msg", "")).startswith("internal error")]
    assert any(str(line.get("msg", "")).startswith("out of memory on PUT /params") for line in lines)
