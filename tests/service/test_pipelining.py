"""Pipelined requests, ``Expect: 100-continue`` and the protocol's own 500, against the
real server over raw sockets on 127.0.0.1 (the 500 and the disconnect, which no request
of the real app can cause, against the protocol in this process).

Each real-server test asserts what went over the wire, never how long it took.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from service.api.errors import Code

from .realserver import Server, connect, parse, read_to_eof
from . import test_framing

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


