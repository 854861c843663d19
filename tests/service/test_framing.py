"""Request framing against the real server, over raw sockets: ``Content-Length`` and
``Transfer-Encoding`` that two parsers could read differently (request smuggling behind
a proxy), malformed chunked bodies, and clients that leave mid-body.

Every case asserts what goes over the wire (status line, the error body's ``code``, the
close) and what the server logged for it (no error line, no traceback, no 500), never
which HTTP parser did the work: the same tests hold for any parser behind the service.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from service.api.errors import Code

from .realserver import INSTANCE_JSON, Server, connect, parse, read_to_eof, seed_models, wait_until

pytestmark = pytest.mark.timeout(120)

BOUND = 20.0  # seconds a test waits for a log line (a bound, not a timing)
JSON_HEAD = "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("framing")
    seed_models(tmp / "data")
    with Server(tmp / "data", tmp / "server.log", workers=1, header_timeout=2, body_timeout=5) as s:
        yield s


def exchange(server: Server, raw: bytes) -> tuple[bytes, list[dict[str, Any]]]:
    """Send ``raw`` on a new connection; what came back until the server closed it, and
    the log lines written meanwhile."""
    before = len(server.log_lines())
    with connect(server) as sock:
        sock.sendall(raw)
        response = read_to_eof(sock)
    return response, server.log_lines()[before:]


def assert_quiet(lines: list[dict[str, Any]]) -> None:
    """No error, no traceback, no 500 among ``lines``."""
    for line in lines:
        assert line["level"] in ("debug", "info", "warning"), line
        assert "exc" not in line and "Traceback" not in line["msg"], line
        assert line.get("status") != 500, line


def refused(server: Server, raw: bytes, code: str = Code.INVALID_FRAMING) -> list[dict[str, Any]]:
    """Assert that ``raw`` gets a 400 with ``code`` and a close, quietly; the log lines."""
    response, lines = exchange(server, raw)
    status, headers, body = parse(response)
    assert status == 400, response[:300]
    assert headers["connection"] == "close"
    assert body["code"] == code and body["error"], body
    assert_quiet(lines)
    return lines


def request_line(server: Server, rid: str) -> dict[str, Any]:
    """The request's log line (it is written once the app is done with the request)."""
    def find() -> dict[str, Any] | None:
        return next((line for line in server.log_lines()
                     if line["msg"] == "request" and line.get("request_id") == rid), None)

    return wait_until(find, BOUND, f"the log line of request {rid}")


# -- heads whose body framing is ambiguous or malformed: refused before the app sees them

BOTH = {
    "length-then-chunked": ["Content-Length: 5", "Transfer-Encoding: chunked"],
    "chunked-then-length": ["Transfer-Encoding: chunked", "Content-Length: 5"],
    "length-then-gzip-chunked": ["Content-Length: 5", "Transfer-Encoding: gzip, chunked"],
    "gzip-chunked-then-length": ["Transfer-Encoding: gzip, chunked", "Content-Length: 5"],
    "length-zero-and-chunked": ["Content-Length: 0", "Transfer-Encoding: chunked"],
}
BAD_LENGTHS = {
    "two-different": ["Content-Length: 2", "Content-Length: 3"],
    # equal values too: RFC 9110 8.6 lets a recipient refuse them, no honest client sends them
    "two-equal": ["Content-Length: 2", "Content-Length: 2"],
    "a-list": ["Content-Length: 2, 2"],
    "digits-then-letters": ["Content-Length: 12abc"],
    "negative": ["Content-Length: -1"],
    "with-a-plus": ["Content-Length: +5"],
    "hex": ["Content-Length: 0x2"],
    "empty": ["Content-Length: "],
    "inner-space": ["Content-Length: 1 2"],
    "vertical-tab": ["Content-Length: 2\x0b"],
    "form-feed": ["Content-Length: \x0c2"],
    "folded-onto-the-next-line": ["Content-Length:", " 2"],
    "30-digits": ["Content-Length: " + "9" * 30],
    "over-64-bits": ["Content-Length: 18446744073709551616"],
}
BAD_CODINGS = {
    "gzip": ["Transfer-Encoding: gzip"],
    "chunked-then-gzip": ["Transfer-Encoding: chunked, gzip"],
    "gzip-then-chunked": ["Transfer-Encoding: gzip, chunked"],
    "identity": ["Transfer-Encoding: identity"],
    "two-headers": ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
    "with-a-parameter": ["Transfer-Encoding: chunked;q=1"],
}


@pytest.mark.parametrize("headers", [*BOTH.values(), *BAD_LENGTHS.values(), *BAD_CODINGS.values()],
                         ids=[*BOTH, *BAD_LENGTHS, *BAD_CODINGS])
def test_a_head_that_frames_its_body_ambiguously_is_400(server: Server, headers: list[str]) -> None:
    head = JSON_HEAD + "".join(f"{h}\r\n" for h in headers) + "\r\n"
    lines = refused(server, head.encode("latin-1") + b"2\r\n{}\r\n0\r\n\r\n")
    assert not [line for line in lines if line.get("path") == "/predict"]  # the app never saw it


def test_transfer_encoding_in_http_1_0_is_400(server: Server) -> None:
    refused(server, b"POST /predict HTTP/1.0\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")


def test_a_bad_length_before_a_large_body_is_400_not_431(server: Server) -> None:
    # the 16 KiB behind the head used to be counted as headers
    refused(server, JSON_HEAD.encode() + b"Content-Length: 12abc\r\n\r\n" + b"x" * 40_000)


def test_a_malformed_head_before_a_large_body_is_400_not_431(server: Server) -> None:
    refused(server, JSON_HEAD.encode() + b"Content-Length: 40000\r\nBad Header\r\n\r\n" + b"x" * 40_000,
            code=Code.BAD_REQUEST)


def test_the_second_of_two_pipelined_requests_is_refused_alone(server: Server) -> None:
    response, lines = exchange(server, b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                       + JSON_HEAD.encode() + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}")
    first, _, second = response.partition(b'{"status":"live"}')
    assert first.startswith(b"HTTP/1.1 200 ")
    status, headers, body = parse(second)
    assert status == 400 and headers["connection"] == "close" and body["code"] == Code.INVALID_FRAMING
    assert_quiet(lines)


# -- heads that are fine, as RFC 9110 and 9112 define them


@pytest.mark.parametrize("length", [" 2", "2 ", "\t 2 \t", "  2\t"], ids=["sp-before", "sp-after", "tabs", "mixed"])
def test_a_length_with_spaces_or_tabs_around_it_is_fine(server: Server, length: str) -> None:
    response, lines = exchange(server, (JSON_HEAD + f"Content-Length:{length}\r\nConnection: close\r\n\r\n{{}}").encode())
    status, _, body = parse(response)
    assert status == 422 and body["code"] == Code.INVALID_INSTANCES  # the body "{}" was read: framed right
    assert_quiet(lines)


def test_a_well_formed_chunked_prediction_is_answered(server: Server) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(INSTANCE_JSON[i:i + 5000]), INSTANCE_JSON[i:i + 5000])
                      for i in range(0, len(INSTANCE_JSON), 5000))
    head = JSON_HEAD + "Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n"
    response, lines = exchange(server, head.encode() + chunks + b"0\r\n\r\n")
    status, _, body = parse(response)
    assert status == 200 and len(body["predictions"]) == 1
    assert_quiet(lines)


def test_a_length_of_18_digits_is_413_and_closes(server: Server) -> None:
    response, lines = exchange(server, JSON_HEAD.encode() + b"Content-Length: 999999999999999999\r\n\r\n{}")
    status, headers, body = parse(response)
    assert status == 413 and body["code"] == Code.BODY_TOO_LARGE
    assert headers["connection"] == "close"  # the server will not read the rest
    assert_quiet(lines)


# -- chunked bodies that turn out malformed while they are read: the app has the request

BAD_CHUNKS = {
    "size-not-hex": b"zz\r\n{}\r\n0\r\n\r\n",
    "size-negative": b"-2\r\n{}\r\n0\r\n\r\n",
    "size-overflows": b"f" * 40 + b"\r\n{}\r\n0\r\n\r\n",
    "size-missing": b"\r\n{}\r\n0\r\n\r\n",
    "data-not-followed-by-crlf": b"2\r\n{}XX0\r\n\r\n",
    "data-longer-than-its-size": b"1\r\n{}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("path", ["/predict", "/train"])
@pytest.mark.parametrize("body", list(BAD_CHUNKS.values()), ids=list(BAD_CHUNKS))
def test_a_malformed_chunked_body_is_400_and_logged_as_such(server: Server, body: bytes, path: str) -> None:
    rid = f"chunks-{path.strip('/')}-{list(BAD_CHUNKS.values()).index(body)}"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Request-ID: {rid}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    refused(server, head.encode() + body)
    assert request_line(server, rid)["status"] == 400
    assert_quiet(server.log_lines())


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
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
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
        assert client.post("/predict", content=INSTANCE_JSON, headers={"Content-Type": "application/json"}).status_code == 200
    assert_quiet(server.log_lines())


# -- a target in absolute-form: its authority is the request's host (RFC 9112 3.2.2)
@pytest.mark.parametrize("target, host, status", [
    ("http://evil.example/params", "127.0.0.1", 400),  # the Host header beside it does not count
    ("http://evil.example:80/params", "127.0.0.1", 400),
    ("http://127.0.0.1/params", "evil.example", 200),  # nor does it here: the target names us
    ("http://localhost:8000/params", "evil.example", 200),
    ("http://[::1]:8000/params", "evil.example", 200),  # an IPv6 literal keeps its brackets
])
def test_a_target_in_absolute_form_is_checked_by_its_own_host(server: Server, target: str, host: str,
                                                              status: int) -> None:
    raw = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    got, headers, body = parse(exchange(server, raw)[0])
    assert got == status, body
    if status == 400:
        assert body["code"] == Code.HOST_NOT_ALLOWED
    else:
        assert body["version"] == 1  # /params answered


def test_a_target_in_absolute_form_still_needs_one_host_header_and_may_have_no_path(server: Server) -> None:
    for heads in ("", "Host: 127.0.0.1\r\nHost: 127.0.0.1\r\n"):
        raw = f"GET http://127.0.0.1/params HTTP/1.1\r\n{heads}Connection: close\r\n\r\n".encode()
        status, _, body = parse(exchange(server, raw)[0])
        assert (status, body["code"]) == (400, Code.HOST_NOT_ALLOWED), body
    raw = b"GET http://127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    response = exchange(server, raw)[0]
    assert response.startswith(b"HTTP/1.1 200 "), response[:200]  # the page at /
