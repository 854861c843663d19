"""The answers the HTTP protocol writes itself, past the app: complete responses that
close the connection, each in the service's one error shape ``{"error", "code"}``.

Messages are fixed strings and setting names: they never echo the request.
"""
from __future__ import annotations

from typing import Any

import orjson

from ..errors import Code


def raw_response(status: int, reason: str, body: dict, extra_headers: str = "") -> bytes:
    """A complete HTTP/1.1 response that closes the connection, for errors outside the app."""
    data = orjson.dumps(body)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
        f"connection: close\r\n{extra_headers}\r\n"
    )
    return head.encode("ascii") + data


def client_cap(per_client: int) -> bytes:
    return raw_response(
        429, "Too Many Requests",
        {"error": f"this address has {per_client} connections open to this worker, its limit "
                  "(CATSVC_MAX_CONNECTIONS_PER_CLIENT); reuse connections (keep-alive) or close some",
         "code": Code.TOO_MANY_CLIENT_CONNECTIONS, "limit": per_client},
        "retry-after: 1\r\n",
    )


def connection_cap(limit: int) -> bytes:
    return raw_response(
        503, "Service Unavailable",
        {"error": f"the server has {limit} connections open, its limit (CATSVC_MAX_CONNECTIONS); "
                  "retry shortly", "code": Code.TOO_MANY_CONNECTIONS, "limit": limit},
        "retry-after: 1\r\n",
    )


def header_timeout(seconds: float) -> bytes:
    return raw_response(
        408, "Request Timeout",
        {"error": f"the request line and headers did not arrive within {seconds:g} s "
                  "(CATSVC_HEADER_TIMEOUT)", "code": Code.REQUEST_TIMEOUT, "limit": seconds},
    )


# the refusals of a request: (status, body)
Answer = tuple[int, dict[str, Any]]
NOT_HTTP = {"error": "the request is not valid HTTP/1.1", "code": Code.BAD_REQUEST}


def not_http() -> Answer:
    return 400, NOT_HTTP


def framing(message: str) -> Answer:
    return 400, {"error": message, "code": Code.INVALID_FRAMING}


def headers_too_large(limit: int) -> Answer:
    return 431, {"error": f"the request line and headers exceed {limit} bytes (CATSVC_MAX_HEADER_BYTES)",
                 "code": Code.HEADERS_TOO_LARGE, "limit": limit}


class Refusal(Exception):
    """Raised in a parser callback: answer ``status`` with ``body`` (the parser stops there)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer[0])
        self.answer = answer
