"""Pipelined requests, ``Expect: 100-continue`` and the protocol's own 500, against the
real server over raw sockets on 127.0.0.1 (the 500 and the disconnect, which no request
of the real app can cause, against the protocol in this process).

Each real-server test asserts what went over the wire, never how long it took.
"""
from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections import deque
from typing import Any

import pytest

from service.api.app import create_app
from service.api.errors import Code
from service.api.http.cycle import RequestResponseCycle
from service.api.http.protocol import GuardedHttpProtocol
from service.settings import Settings

from .realserver import RAW_BOUND, Server, connect, parse, read_to_eof, ready, rss_high_water_kb
from . import test_framing
from .test_framing import assert_quiet

pytestmark = pytest.mark.timeout(120)

# the framing tests' server fixture (module-scoped: this module gets its own server)
server = test_framing.server

LIVE = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
LIVE_BODY = b'{"status":"live"}'


def statuses(response: bytes) -> list[int]:
    """The status of every response in ``response``, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", response)]


# -- only a head's bytes count toward CATSVC_MAX_HEADER_BYTES


def test_pipelined_requests_behind_a_head_split_across_reads_are_not_431(server: Server) -> None:
    # the rest of the second head and 400 more requests came in one read: the whole read
    # used to be counted as the second request's head
    second = LIVE
    with connect(server) as sock:
        sock.sendall(LIVE + second[:10])
        time.sleep(0.2)  # two reads (not a timing: any pause that splits them works)
        sock.sendall(second[10:] + LIVE * 399 + b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = read_to_eof(sock)
    assert statuses(response) == [200] * 402, response[-300:]


def test_a_pipelined_post_split_across_reads_is_not_431_for_its_body(server: Server) -> None:
    body = json.dumps({"instances": [[0] * 9000]}).encode()  # over 16 KiB: the head limit's default
    post = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
    with connect(server) as sock:
        sock.sendall(LIVE + post[:20])
        time.sleep(0.2)
        sock.sendall(post[20:] + body)
        response = read_to_eof(sock)
    codes = statuses(response)
    assert codes[0] == 200 and codes[1] != 431, response[-300:]
    assert len(codes) == 2 and b'"code":"' + Code.INVALID_INSTANCES.encode() + b'"' in response


def test_a_pipelined_head_over_the_limit_split_across_reads_is_still_431(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(LIVE + b"GET /health/live HTTP/1.1\r\nX-Big: ")
        time.sleep(0.2)
        sock.sendall(b"a" * 20_000)
        response = read_to_eof(sock)
    first, _, rest = response.partition(LIVE_BODY)
    assert first.startswith(b"HTTP/1.1 200 ")
    status, headers, body = parse(rest)
    assert status == 431 and body["code"] == Code.HEADERS_TOO_LARGE and headers["connection"] == "close"


# -- the queue of pipelined requests is bounded: the server stops reading


def high_water_kb(server: Server) -> dict[int, int]:
    """The most resident memory each of the server's processes ever had, in kB."""
    out = {}
    for pid in server.pids():
        try:
            out[pid] = rss_high_water_kb(pid)
        except (FileNotFoundError, AssertionError):
            pass
    return out


def test_a_client_pipelining_without_reading_does_not_grow_the_server(server: Server) -> None:
    count = 40_000  # 1.8 MB of requests: 40,000 queued requests took about 100 MB before
    data = LIVE * (count - 1) + b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    before = high_water_kb(server)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)  # the answers pile up on the server
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    sent = 0
    with sock:
        # send without reading, until all is sent or the server takes nothing for a second
        stalled_since = time.monotonic()
        while sent < len(data) and time.monotonic() - stalled_since < 1.0:
            if ready(sock, 0.1, read=False, write=True)[1]:
                sent += sock.send(data[sent:sent + 65536])
                stalled_since = time.monotonic()
        time.sleep(1.0)  # the server parses what it read (not a timing: the bound below holds at any time)
        after = high_water_kb(server)
        grown = max(after[pid] - before.get(pid, after[pid]) for pid in after)
        assert grown < 30_000, f"a worker grew by {grown} kB for {count} pipelined requests"
        # now read: every request is answered, in order, and the connection closes
        received = bytearray()
        deadline = time.monotonic() + RAW_BOUND * 3
        while time.monotonic() < deadline:
            readable, writable = ready(sock, 0.5, write=sent < len(data))
            if writable:
                sent += sock.send(data[sent:sent + 65536])
            if readable:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                received += chunk
    assert sent == len(data)
    assert received.count(b"HTTP/1.1 200 OK\r\n") == count, bytes(received[-300:])
    assert received.count(LIVE_BODY) == count


def test_pipelined_requests_are_still_answered_in_order(server: Server) -> None:
    requests = [LIVE, b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"] * 50
    with connect(server) as sock:
        sock.sendall(b"".join(requests) + b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = read_to_eof(sock)
    assert statuses(response) == [200, 404] * 50 + [200]


# -- Expect: 100-continue answered before the body: the connection cannot be reused


def test_an_expect_100_answered_before_its_body_closes_the_connection(server: Server) -> None:
    before = len(server.log_lines())
    with connect(server) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                     b"Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        # the client skips the body (RFC 9110 10.1.1) and would reuse the connection: the
        # server must not read this as the body
        time.sleep(0.2)
        sock.sendall(LIVE)
        response = read_to_eof(sock)
    assert not response.startswith(b"HTTP/1.1 100"), response[:200]
    status, headers, body = parse(response)
    assert status == 415 and body["code"] == Code.UNSUPPORTED_MEDIA_TYPE
    assert headers["connection"] == "close"
    assert_quiet(server.log_lines()[before:])


def test_an_expect_100_whose_body_is_read_keeps_the_connection(server: Server) -> None:
    body = json.dumps({"instances": [[0] * 3]}).encode()
    with connect(server) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        interim = sock.recv(100)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        sock.sendall(body + b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = interim + read_to_eof(sock)
    assert statuses(response) == [100, 422, 200]


# -- against the protocol in this process: its own 500, a lost connection


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class FakeFlow:
    write_paused = False

    def resume_reading(self) -> None:
        pass


def make_cycle(transport: FakeTransport) -> RequestResponseCycle:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    return RequestResponseCycle(scope, transport, FakeFlow(), [], keep_alive=True,  # type: ignore[arg-type]  # a stand-in
                                expect_100_continue=False, on_response=lambda: None)


@pytest.mark.parametrize("fails", ["raises", "returns-without-answering"])
def test_the_protocols_own_500_is_the_services_error_shape(fails: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if fails == "raises":
            raise RuntimeError("boom")

    transport = FakeTransport()
    asyncio.run(make_cycle(transport).run_asgi(app))
    status, headers, body = parse(bytes(transport.written))
    assert status == 500 and headers["content-type"] == "application/json"
    assert body == {"error": "internal error", "code": Code.INTERNAL}
    assert headers["connection"] == "close" and transport.closed


def test_the_apps_500_says_close_and_the_connection_closes(settings: Settings) -> None:
    # the app's handler answers a 500 with Connection: close (service.api.errors); Starlette's
    # ServerErrorMiddleware then re-raises the exception, which the cycle catches and logs
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    transport = FakeTransport()
    cycle = make_cycle(transport)
    cycle.scope.update(path="/boom", raw_path=b"/boom", query_string=b"", scheme="http", http_version="1.1",
                       headers=[(b"host", b"testserver")],
                       server=("127.0.0.1", 8000), client=("127.0.0.1", 5000), root_path="")
    asyncio.run(cycle.run_asgi(app))
    status, headers, body = parse(bytes(transport.written))
    assert status == 500 and body["code"] == Code.INTERNAL
    assert headers["connection"] == "close" and transport.closed


def test_a_lost_connection_reaches_the_running_request_and_every_queued_one() -> None:
    async def main() -> list[RequestResponseCycle]:
        protocol = object.__new__(GuardedHttpProtocol)
        transport = FakeTransport()
        protocol.connections, protocol.transport, protocol.flow = set(), transport, None  # type: ignore[assignment]  # stand-ins
        protocol._host, protocol._timer, protocol._send_timer = None, None, None
        # the app has ``running``; ``queued`` and then ``newest`` wait behind it
        running, queued, newest = make_cycle(transport), make_cycle(transport), make_cycle(transport)
        protocol._running, protocol.cycle, protocol.pipeline = running, newest, deque([newest, queued])
        protocol.connection_lost(None)
        return [running, queued, newest]

    for cycle in asyncio.run(main()):
        assert cycle.disconnected and cycle.message_event.is_set()
