"""Request framing against the real server, over raw sockets: clients that leave mid-body.

Every case asserts what goes over the wire and what the server logged for it (no error
line, no traceback, no 500), never which HTTP parser did the work.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from .realserver import Server, connect, seed_models, wait_until

pytestmark = pytest.mark.timeout(120)

BOUND = 20.0  # seconds a test waits for a log line (a bound, not a timing)
INSTANCE = b'{"instances": [[' + b",".join([b"0"] * 12288) + b"]]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("framing")
    seed_models(tmp / "data")
    with Server(tmp / "data", tmp / "server.log", workers=1, header_timeout=2, body_timeout=5) as s:
        yield s


def assert_quiet(lines: list[dict[str, Any]]) -> None:
    """No error, no traceback, no 500 among ``lines``."""
    for line in lines:
        assert line["level"] in ("debug", "info", "warning"), line
        assert "exc" not in line and "Traceback" not in line["msg"], line
        assert line.get("status") != 500, line


def request_line(server: Server, rid: str) -> dict[str, Any]:
    """The request's log line (it is written once the app is done with the request)."""
    def find() -> dict[str, Any] | None:
        return next((line for line in server.log_lines()
                     if line["msg"] == "request" and line.get("request_id") == rid), None)

    return wait_until(find, BOUND, f"the log line of request {rid}")


# -- a client that leaves mid-body


@pytest.mark.parametrize(("path", "content_type"), [
    ("/predict", "application/json"),  # read by its fast path
    ("/train", "application/json"),  # through FastAPI's routing
    ("/datasets", "multipart/form-data; boundary=b"),  # streamed to a file
])
def test_a_client_that_leaves_mid_body_is_an_info_line_with_status_null(
    server: Server, path: str, content_type: str
) -> None:
    rid = f"leaves-{path.strip('/')}"
    before = len(server.log_lines())
    with connect(server) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                      f"X-Request-ID: {rid}\r\nContent-Length: 1000\r\n\r\n").encode()
                     + b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.npz\"\r\n\r\n{{{{")
        time.sleep(0.2)  # the app is now waiting for the rest of the body (not a timing: any delay works)
    line = request_line(server, rid)
    assert line["status"] is None and line["level"] == "info"
    lines = server.log_lines()[before:]
    assert any(x.get("request_id") == rid and x["level"] == "info" and "client disconnected" in x["msg"]
               for x in lines), lines
    assert_quiet(lines)


def test_the_server_is_fine_afterwards_and_its_log_is_quiet(server: Server) -> None:
    with server.client() as client:
        assert client.get("/health/ready").status_code == 200
        assert client.post("/predict", content=INSTANCE, headers={"Content-Type": "application/json"}).status_code == 200
    assert_quiet(server.log_lines())
