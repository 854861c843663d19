"""Slow, stalled and greedy clients against the real server, over raw sockets on 127.0.0.1.

Short limits make each cut-off come within a second or two; the tests wait for it with
generous bounds and assert what the client got, never how long it took.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.api.errors import Code

from .realserver import RAW_BOUND, Server, connect, parse, read_to_eof, ready, seed_models

pytestmark = pytest.mark.timeout(120)

TOKEN = "predict-token-0123456789"
LIMITS = {"workers": 1, "header_timeout": 1, "body_timeout": 2, "keep_alive_timeout": 1,
          "max_header_bytes": 4096, "predict_token": TOKEN}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("slow")
    seed_models(tmp / "data")
    with Server(tmp / "data", tmp / "server.log", **LIMITS) as s:
        yield s


def trickle(sock: socket.socket, data: bytes, pause: float = 0.1) -> bytes:
    """Send ``data`` one byte at a time, ``pause`` apart, until the server answers or closes;
    then everything it sent until it closed."""
    received = b""
    deadline = time.monotonic() + RAW_BOUND
    for byte in data:
        if ready(sock, pause)[0]:
            break
        try:
            sock.send(bytes([byte]))
        except OSError:  # the server closed while we were sending
            break
        if time.monotonic() > deadline:
            break
    return received + read_to_eof(sock)


def test_headers_sent_byte_by_byte_are_cut_off_with_a_408(server: Server) -> None:
    with connect(server) as sock:
        request = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000 + b"\r\n\r\n"
        status, headers, body = parse(trickle(sock, request))
    assert status == 408
    assert headers["connection"] == "close"
    assert body["code"] == Code.REQUEST_TIMEOUT
    assert "CATSVC_HEADER_TIMEOUT" in body["error"] and body["limit"] == 1


def test_a_body_sent_slowly_is_cut_off_with_a_408(server: Server) -> None:
    with connect(server) as sock:
        head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n").encode()
        sock.sendall(head)
        status, headers, body = parse(trickle(sock, b"--b\r\n" + b"x" * 99_000))
    assert status == 408
    assert headers["connection"] == "close"
    assert body["code"] == Code.REQUEST_TIMEOUT
    assert "CATSVC_BODY_TIMEOUT" in body["error"] and body["limit"] == 2


def test_a_silent_connection_is_closed_without_an_answer(server: Server) -> None:
    with connect(server) as sock:
        assert read_to_eof(sock) == b""


def test_an_idle_keep_alive_connection_is_closed(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        response = read_to_eof(sock)  # the answer, then the close once idle
    assert response.startswith(b"HTTP/1.1 200")
    assert response.count(b"HTTP/1.1") == 1


def test_while_slow_clients_hang_on_others_are_served(server: Server) -> None:
    slow = [connect(server) for _ in range(3)]
    try:
        for sock in slow:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        with server.client() as client:
            assert client.get("/health/live").status_code == 200
            assert client.get("/health/ready").json()["status"] == "ready"
    finally:
        for sock in slow:
            sock.close()


def test_headers_over_the_limit_are_431_naming_it(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        status, _, body = parse(read_to_eof(sock))
    assert status == 431
    assert body == {"error": "the request line and headers exceed 4096 bytes (CATSVC_MAX_HEADER_BYTES)",
                    "code": Code.HEADERS_TOO_LARGE, "limit": 4096}


def test_incomplete_headers_over_the_limit_are_431_too(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000)  # no end of headers
        status, _, body = parse(read_to_eof(sock))
    assert status == 431
    assert body["code"] == Code.HEADERS_TOO_LARGE and body["limit"] == 4096


def test_a_request_that_is_not_http_is_400_in_the_error_shape(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"HELLO THERE\r\n\r\n")
        status, _, body = parse(read_to_eof(sock))
    assert status == 400
    assert body["code"] == Code.BAD_REQUEST


def test_the_server_logged_the_cut_offs(server: Server) -> None:
    messages = [line["msg"] for line in server.log_lines()]
    assert any("CATSVC_HEADER_TIMEOUT" in m for m in messages)


def test_predictions_still_work_with_the_token(server: Server) -> None:
    with server.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        r = client.post("/predict", json={"instances": [[0] * 12288]})
    assert r.status_code == 200, r.text
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/predict", json={"instances": [[0] * 12288]}).status_code == 401


def test_no_line_of_the_log_holds_the_token(server: Server, tmp_path: Path) -> None:
    assert TOKEN not in server.log.read_text()
