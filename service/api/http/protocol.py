"""uvicorn's h11 protocol with the guards against slow, stalled and greedy clients it lacks.

uvicorn bounds only an *idle* keep-alive connection (``timeout_keep_alive``): any byte
received cancels that timer, so a client that sends its request line and headers one
byte at a time (slowloris), or that never reads the response, holds its connection and
a piece of the worker for ever. This subclass adds, per connection:

* a header deadline: the request line and headers must be complete within
  ``header_timeout`` seconds of the connection being ready for a request (accepted, or
  the previous response sent); else a 408 naming ``CATSVC_HEADER_TIMEOUT`` and close.
  The body has its own deadline in :mod:`service.api.http.middleware` (it needs the app's 408).
* a send deadline: a client that takes no byte of the response for ``send_timeout``
  seconds (the socket's buffers stay full) is disconnected.
* caps on connections (:mod:`service.api.http.connections` says why): at most
  ``max_connections_per_client`` per client address (429 naming
  ``CATSVC_MAX_CONNECTIONS_PER_CLIENT``, and close); at ``max_connections`` per worker a
  new connection closes the oldest one that has sent nothing, or if none is silent gets
  a 503 naming ``CATSVC_MAX_CONNECTIONS``; silent connections get a 1 s deadline for
  their first byte past 3/4 of the cap.
* framing checks on every request head (:class:`service.api.http.framing.GuardedConnection`):
  ``Content-Length`` with ``Transfer-Encoding``, a repeated or malformed
  ``Content-Length``, a ``Transfer-Encoding`` other than ``chunked`` get 400
  ``INVALID_FRAMING`` before the app sees the request; so does a chunked body that
  turns out malformed while it is read (the app then sees a disconnect, and the
  request's log line this 400: :data:`service.api.http.middleware.PROTOCOL_STATUS`).
* errors in the service's JSON shape: uvicorn's own plain-text 400 for a malformed
  request becomes ``{"error", "code"}``, and headers that grow past
  ``h11_max_incomplete_event_size`` (``CATSVC_MAX_HEADER_BYTES``) before they are
  complete a 431 naming the limit (complete ones: :mod:`service.api.http.middleware`). Each
  refusal is one info line with its code, never a traceback.

The timers are asyncio TimerHandles armed once per request, not per read.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from http import HTTPStatus

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from ...settings import Settings
from ..errors import Code
from .connections import (
    HIGH_WATER,
    SILENT_DEADLINE,
    ConnectionBook,
    Tally,
    unread_bytes,
)
from .framing import BAD_CHUNKS, FramingError, GuardedConnection
from .middleware import PROTOCOL_STATUS, headers_too_large

log = logging.getLogger("service.protocol")


@functools.cache
def _settings() -> Settings:
    # read once per worker process from its environment, as the app factory does
    return Settings()


@functools.cache
def _book() -> ConnectionBook[GuardedH11Protocol]:
    # one per worker process: its connections (uvicorn's server state has no room for it)
    return ConnectionBook(_settings().max_connections_per_client)


class _Tallies:
    """The log lines about refused and evicted connections, at most one per LOG_EVERY s
    each, with the count since the previous one."""

    def __init__(self) -> None:
        self.cap = Tally(log, logging.WARNING, "refused %d connections: at the limit (CATSVC_MAX_CONNECTIONS), "
                                               "with no silent connection to close instead")
        self.client_cap = Tally(log, logging.WARNING, "refused %d connections from addresses at their limit "
                                                      "(CATSVC_MAX_CONNECTIONS_PER_CLIENT)")
        self.evicted = Tally(log, logging.INFO, "closed %d silent connections to make room for new ones "
                                                "at the limit (CATSVC_MAX_CONNECTIONS)")


_TALLIES = _Tallies()


def raw_response(status: int, reason: str, body: dict, extra_headers: str = "") -> bytes:
    """A complete HTTP/1.1 response that closes the connection, for errors outside the app."""
    data = orjson.dumps(body)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
        f"connection: close\r\n{extra_headers}\r\n"
    )
    return head.encode("ascii") + data


class GuardedH11Protocol(H11Protocol):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        # uvicorn made a plain h11.Connection with this limit (16 KiB if unset), and never another
        self.max_head_bytes = self.config.h11_max_incomplete_event_size or 16 * 1024
        self.conn = GuardedConnection(self.max_head_bytes)
        s = _settings()
        self.header_timeout, self.send_timeout, self.max_connections = (
            s.header_timeout, s.send_timeout, s.max_connections,
        )
        self._header_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._host: str | None = None  # the client's address, for the per-client count
        self._silent = False  # admitted, and not one byte received yet
        self._deadline_cut = False  # the header timer is SILENT_DEADLINE, not header_timeout
        self._opened_at = 0.0

    # -- connection caps and header deadline (the policy: service.connections)
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._host = self.client[0] if self.client else None
        book, limit = _book(), self.max_connections
        if not book.opened(self._host):
            _TALLIES.client_cap.add(self.loop.time())
            per_client = book.per_client
            self._close_with(raw_response(
                429, "Too Many Requests",
                {"error": f"this address has {per_client} connections open to this worker, its limit "
                          "(CATSVC_MAX_CONNECTIONS_PER_CLIENT); reuse connections (keep-alive) or close some",
                 "code": Code.TOO_MANY_CLIENT_CONNECTIONS, "limit": per_client},
                "retry-after: 1\r\n",
            ))
            return
        if len(self.connections) > limit and not self._make_room():
            _TALLIES.cap.add(self.loop.time())
            self._close_with(raw_response(
                503, "Service Unavailable",
                {"error": f"the server has {limit} connections open, its limit (CATSVC_MAX_CONNECTIONS); "
                          "retry shortly", "code": Code.TOO_MANY_CONNECTIONS, "limit": limit},
                "retry-after: 1\r\n",
            ))
            return
        self._silent = True
        book.silent(self)
        self._opened_at = self.loop.time()
        self._deadline_cut = len(self.connections) > HIGH_WATER * limit and SILENT_DEADLINE < self.header_timeout
        self._arm_header_timer(SILENT_DEADLINE if self._deadline_cut else self.header_timeout)

    def _make_room(self) -> bool:
        """Close the oldest silent connection for this one; False if there is none."""
        book = _book()
        while (oldest := book.pop_oldest_silent()) is not None:
            if oldest.transport.is_closing():
                continue
            if unread_bytes(oldest.transport):  # its request came but is not read yet: not silent
                oldest.first_byte()
                continue
            _TALLIES.evicted.add(self.loop.time())
            oldest.transport.close()  # quietly: it asked for nothing
            return True
        return False

    def data_received(self, data: bytes) -> None:
        if self._silent:
            self.first_byte()
        super().data_received(data)

    def first_byte(self) -> None:
        """The client has sent something: no more a silent connection."""
        self._silent = False
        _book().heard(self)
        if self._deadline_cut:  # the rest of the head gets the usual deadline, from the accept
            self._deadline_cut = False
            self._arm_header_timer(self._opened_at + self.header_timeout - self.loop.time())

    def _arm_header_timer(self, seconds: float | None = None) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(
            self.header_timeout if seconds is None else seconds, self._header_timeout
        )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a new request's headers are complete
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        # armed before super(): it may start a pipelined request, which cancels it again
        if not self.transport.is_closing():
            self._arm_header_timer()
        super().on_response_complete()

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
            self.timeout_keep_alive_handler()  # nothing of a new request came: a quiet close
            return
        seconds = self.header_timeout
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            log.info("closed a connection whose request headers took over %g s (CATSVC_HEADER_TIMEOUT)", seconds)
            self._close_with(raw_response(
                408, "Request Timeout",
                {"error": f"the request line and headers did not arrive within {seconds:g} s "
                          "(CATSVC_HEADER_TIMEOUT)", "code": Code.REQUEST_TIMEOUT, "limit": seconds},
            ))
        else:  # the rest of a body the app did not read, trickling after the response
            log.info("closed a connection still sending a body %g s after its answer (CATSVC_HEADER_TIMEOUT)",
                     seconds)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        _book().closed(self, self._host)
        self._cancel_header_timer()
        self._cancel_send_timer()
        super().connection_lost(exc)

    # -- send deadline
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.send_timeout, self._send_timeout)

    def resume_writing(self) -> None:
        self._cancel_send_timer()
        super().resume_writing()

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_timeout(self) -> None:
        self._send_timer = None
        log.info("dropped a client that read nothing for %g s (CATSVC_SEND_TIMEOUT)", self.send_timeout)
        self.transport.abort()  # connection_lost follows: the response's sender wakes up and stops

    # -- errors in the service's shape
    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to any ``h11.RemoteProtocolError``: here, the error's own
        status and code in the service's shape, then close."""
        if self.transport.is_closing():  # refused already
            return
        error, in_body = self.conn.error, self.conn.error_in_body
        if isinstance(error, FramingError):
            status, body = 400, {"error": str(error), "code": error.code}
        elif in_body:  # h11 fails in a body only on chunked framing (a size line too long included)
            status, body = 400, {"error": BAD_CHUNKS, "code": Code.INVALID_FRAMING}
        elif error is not None and error.error_status_hint == 431:  # h11: the head outgrew its limit
            status, body = 431, headers_too_large(self.max_head_bytes)
        else:
            status, body = 400, {"error": "the request is not valid HTTP/1.1", "code": Code.BAD_REQUEST}
        log.info("refused a request with %d %s", status, body["code"],
                 extra={"fields": {"status": status, "code": body["code"], "client": self._host}})
        our_state = self.conn.our_state
        if our_state is h11.SEND_RESPONSE:  # the app has the request but has not answered
            self.scope[PROTOCOL_STATUS] = status  # type: ignore[literal-required]  # for its log line
        if our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._close_with(raw_response(status, HTTPStatus(status).phrase, body))
        else:  # an answer is (partly) out already: another would corrupt it
            self._cancel_header_timer()
            self.transport.close()

    def _close_with(self, response: bytes) -> None:
        self._cancel_header_timer()
        self.transport.write(response)
        self.transport.close()
