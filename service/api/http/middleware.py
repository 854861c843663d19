"""The one middleware: request id, a JSON log line per request, and the body deadline.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware, which runs every request
through extra tasks and memory streams): per request it costs two small closures, one
timer handle when a body is expected, and one log line.

* Request id: a sane incoming ``X-Request-ID`` (1..128 of ``A-Za-z0-9._:-``) is kept,
  anything else is replaced by a new one; it is returned in the ``X-Request-ID``
  response header and set in :data:`service.state.logs.request_id` for every log line of
  the request (the job it queues carries it too).
* Log line: method, path (no query string), status, duration_ms, request_id, client.
  Never headers or bodies, so neither tokens nor image data reach the log. ``status``
  is null when no answer went out: the client left first, which also gets an info line
  saying so (not the 500 and traceback a ``ClientDisconnect`` would otherwise make).
  When :mod:`service.api.http.protocol` refused a request's body itself (bad chunks), the app
  sees only a disconnect; the protocol leaves its status under :data:`PROTOCOL_STATUS`
  in the scope, and the line shows that status.
* Metrics: the request's seconds by route template, method and status
  (:mod:`service.state.metrics`); the template is the router's, or the one a fast path
  left under :data:`ROUTE` in the scope, so /predict counts the same either way.
* Body deadline: a request body must arrive whole within ``body_timeout`` seconds of
  the request's start, or the request ends in a 408 naming ``CATSVC_BODY_TIMEOUT``
  (and the connection closes). A client that trickles its upload cannot hold a worker.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...state import metrics
from ...state.logs import info_line, request_id
from ..errors import ApiError, Code

log = logging.getLogger("service.access")

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
# scope key: the status service.protocol answered a request with, past the app
PROTOCOL_STATUS = "catsvc.protocol_status"
# scope key: the route template of a request a fast path served (FastAPI's router sets "route")
ROUTE = "catsvc.route"


def new_request_id() -> str:
    return os.urandom(8).hex()


def body_timeout_error(seconds: float) -> ApiError:
    return ApiError(
        408, Code.REQUEST_TIMEOUT,
        f"the request body did not arrive within {seconds:g} s (CATSVC_BODY_TIMEOUT); "
        "send it faster, or in smaller pieces",
        limit=seconds, headers={"Connection": "close"},
    )


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, body_timeout: float, access_log: bool = True) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                rid = value.decode("ascii") if _SANE_ID.fullmatch(value) else None
        if rid is None:
            rid = new_request_id()
        request_id.set(rid)  # the request's own task: nothing to reset
        id_header = (REQUEST_ID_HEADER, rid.encode("ascii"))
        status: int | None = None  # None in the log: no response was sent (the client left)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        deadline = _BodyDeadline(receive, self.body_timeout) if scope["method"] in _BODY_METHODS else None
        try:
            await self.app(scope, deadline.receive if deadline else receive, send_with_id)
        finally:
            if deadline is not None:
                deadline.cancel()
            seconds = time.perf_counter() - start
            # what the protocol sent wins: the app's own answer, if any, never went out
            status = scope.get(PROTOCOL_STATUS, status)
            metrics.request(route_template(scope), scope["method"], status, seconds)
            self._log(scope, status, seconds)

    def _log(self, scope: Scope, status: int | None, seconds: float) -> None:
        if self.access_log:
            if status is None:
                log.info("client disconnected before the answer")
            client = scope.get("client")
            info_line(log, "request", {
                "method": scope["method"], "path": scope["path"], "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
            })


def route_template(scope: Scope) -> str:
    """The route a request matched, as declared (``/train/{job_id}``): what the fast paths
    set under ROUTE, else the router's; ``unmatched`` for a path no route has (a 404)."""
    route = scope.get(ROUTE)
    if route is not None:
        return route
    matched = scope.get("route")
    return getattr(matched, "path_format", None) or getattr(matched, "path", None) or metrics.UNMATCHED


class _BodyDeadline:
    """``receive`` that raises a 408 ApiError once the body is late.

    A timer (one per request) fires at the deadline; if the app is then waiting for the
    body, its task is cancelled and the cancellation turned into the 408 here, where the
    app awaited the body. No per-call timeouts, so the fast path costs almost nothing.
    """

    __slots__ = ("_done", "_expired", "_receive", "_seconds", "_timer", "_waiter")

    def __init__(self, receive: Receive, seconds: float) -> None:
        self._receive = receive
        self._seconds = seconds
        self._waiter: asyncio.Task[Any] | None = None
        self._expired = self._done = False
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self._expired = True
        if self._waiter is not None:
            self._waiter.cancel()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def receive(self) -> Message:
        if self._done:  # the body is in; later calls wait for a disconnect, with no deadline
            return await self._receive()
        if self._expired:
            raise body_timeout_error(self._seconds)
        self._waiter = task = asyncio.current_task()
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            # our own cancellation (and no one else's): the deadline passed
            if self._expired and task is not None and task.uncancel() == 0:
                raise body_timeout_error(self._seconds) from None
            raise
        finally:
            self._waiter = None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
            self.cancel()
        return message
