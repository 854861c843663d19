"""One request and its response, as the ASGI app sees them: ``receive`` and ``send``.

uvicorn's httptools cycle, cut to what this service needs (no access log of its own, no
concurrency limit, no WebSocket), with one difference: the response head is held back
until the first body message and written together with it, so that a response the app
sends as start + body (every Starlette ``Response``) is one ``send`` system call (about
2.5 us here) and one wake-up of the client instead of two; on a 2-core machine the
client (a proxy, the load generator) runs on the same cores.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
from uvicorn.protocols.http.flow_control import FlowControl

from ..errors import Code

log = logging.getLogger("uvicorn.error")

# uvicorn's checks of the app's header names and values (no CR, LF or other controls)
_BAD_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}
# the service's one error shape, for an app that failed before it began an answer
INTERNAL_ERROR_BODY = orjson.dumps({"error": "internal error", "code": Code.INTERNAL})
_INTERNAL_ERROR = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(INTERNAL_ERROR_BODY)),
                   (b"connection", b"close")]


class RequestResponseCycle:
    """The ASGI ``receive`` and ``send`` of one request on a connection's transport."""

    def __init__(
        self, scope: dict[str, Any], transport: asyncio.Transport, flow: FlowControl,
        default_headers: list[tuple[bytes, bytes]], keep_alive: bool, expect_100_continue: bool,
        on_response: Callable[[], None], resume_reading: Callable[[], None] | None = None,
    ) -> None:
        self.scope, self.transport, self.flow = scope, transport, flow
        self.default_headers = default_headers
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_100_continue
        self.on_response = on_response
        # the connection's: it reads on only when no request is queued behind this one
        self.resume_reading = resume_reading or flow.resume_reading
        self.message_event = asyncio.Event()
        self.disconnected = False
        self.body: list[bytes] = []  # received, not yet handed to the app
        self.body_size = 0
        self.more_body = True
        self.response_started = self.response_complete = False
        self._head: bytes | None = None  # the response head, until the first body message
        self._chunked = False
        self._remaining = 0  # body bytes still due by the response's Content-Length

    async def run_asgi(self, app: Any) -> None:
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException as exc:  # noqa: BLE001  (uvicorn's rule: log it, answer 500 if still possible)
            log.error("Exception in ASGI application\n", exc_info=exc)
            if not self.response_started:
                await self._send_500()
            else:
                self.transport.close()
        else:
            if result is not None:
                log.error("ASGI callable should return None, but returned '%s'.", result)
                self.transport.close()
            elif not self.response_started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._send_500()
            elif not self.response_complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self.transport.close()
        finally:
            self.on_response = lambda: None

    async def _send_500(self) -> None:
        await self.send({"type": "http.response.start", "status": 500, "headers": _INTERNAL_ERROR})
        await self.send({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})

    async def send(self, message: dict[str, Any]) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self.response_started = True
            self._head = self._render_head(message["status"], message.get("headers", ()))
            self.waiting_for_100_continue = False
        elif not self.response_complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
            self._send_body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")

    def _render_head(self, status: int, headers: Any) -> bytes:
        content = [STATUS_LINES[status]]
        length: int | None = None
        close = False
        if self.waiting_for_100_continue and self.more_body:
            # answered before the body it asked to send: the client may skip the body
            # (RFC 9110 10.1.1) or send it anyway, so what comes next cannot be framed
            self.keep_alive = False
        for name, value in [*self.default_headers, *headers]:
            if _BAD_NAME.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if _BAD_VALUE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"content-length" and length is None:
                length = int(value)
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self._chunked = True
            elif name == b"connection" and b"close" in [t.strip() for t in value.lower().split(b",")]:
                self.keep_alive, close = False, True
            content += [name, b": ", value, b"\r\n"]
        if not self.keep_alive and not close:
            content.append(b"connection: close\r\n")
        if self.scope["method"] == "HEAD":
            length, self._chunked = 0, False
        elif length is None and not self._chunked and status not in (204, 304):
            self._chunked = True
            content.append(b"transfer-encoding: chunked\r\n")
        self._remaining = length or 0
        content.append(b"\r\n")
        return b"".join(content)

    def _send_body(self, body: bytes, more_body: bool) -> None:
        if self.scope["method"] == "HEAD":
            body = b""
        if self._chunked:
            out = [b"%x\r\n" % len(body), body, b"\r\n"] if body else []
            if not more_body:
                out.append(b"0\r\n\r\n")
            data = b"".join(out)
        else:
            if len(body) > self._remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self._remaining -= len(body)
            data = body
        if self._head is not None:  # the head goes out with the first body bytes: one write
            data, self._head = self._head + data, None
        if data:
            self.transport.write(data)
        if not more_body:
            if self._remaining:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()

    async def receive(self) -> dict[str, Any]:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        # one piece (the usual small body) is handed over as it is, not copied
        message = {"type": "http.request", "body": b"".join(self.body), "more_body": self.more_body}
        self.body, self.body_size = [], 0
        return message
