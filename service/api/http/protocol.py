"""The service's HTTP/1.1 protocol: llhttp (httptools, C) with the guards against slow,
stalled and greedy clients that uvicorn lacks.

Hand-written (an ``asyncio.Protocol`` that uvicorn runs through ``Config(http=...)``,
not a subclass of one of its protocols) because the guards need the parser's events and
the raw bytes, and uvicorn's httptools protocol has no place for them but its private
methods. Measured here (min of 15 runs): h11, the pure-Python parser of uvicorn's other
protocol, which the guards first lived in, took 130 us to parse a one-PNG /predict and
write its answer, about as long as decoding the PNG; llhttp parses it in 1 us. Per
connection:

* a header deadline: the request line and headers must be complete within
  ``header_timeout`` seconds of the connection being ready for a request (accepted, or
  the previous response sent); else a 408 naming ``CATSVC_HEADER_TIMEOUT`` and close. A
  connection that sends nothing closes quietly: after ``header_timeout`` when new, after
  ``keep_alive_timeout`` between requests. The body has its own deadline in
  :mod:`service.api.http.middleware` (it needs the app's 408).
* a send deadline: a client that takes no byte of the response for ``send_timeout``
  seconds (the socket's buffers stay full) is disconnected.
* caps on connections (:mod:`service.api.http.connections` says why): at most
  ``max_connections_per_client`` per client address (429 naming
  ``CATSVC_MAX_CONNECTIONS_PER_CLIENT``, and close); at ``max_connections`` per worker a
  new connection closes the oldest one that has sent nothing, or if none is silent gets
  a 503 naming ``CATSVC_MAX_CONNECTIONS``; silent connections get a 1 s deadline for
  their first byte past 3/4 of the cap.
* a head size limit: a request line and headers over ``max_header_bytes``
  (``CATSVC_MAX_HEADER_BYTES``), complete or not, get a 431 naming it.
* framing checks on every request head (:mod:`service.api.http.framing`): 400
  ``INVALID_FRAMING`` before the app sees the request; so does a chunked body that
  turns out malformed while it is read (the app then sees a disconnect, and the
  request's log line this 400: :data:`service.api.http.middleware.PROTOCOL_STATUS`).
* every refusal in the service's JSON shape ``{"error", "code"}`` (anything else that is
  not HTTP/1.1: 400 ``BAD_REQUEST``), logged as one info line with its code, and counted
  (its code, and a request under the route ``refused``: :mod:`service.state.metrics`). A refusal
  of a pipelined request waits until the requests before it are answered.
* pipelined requests are answered one at a time, in order, and the next read waits until
  those queued are answered: a client that sends without reading the answers is not read on.

One timer per request covers both idle deadlines and the header deadline: it is armed
when the connection becomes ready and re-armed only if it fires early.
"""
from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections import deque
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, FlowControl
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

from ...state import metrics
from ..errors import Code
from . import refusals
from .connections import HIGH_WATER, SILENT_DEADLINE, TALLIES, book, make_room, settings
from .cycle import RequestResponseCycle
from .framing import HEAD_END, LEADING_BLANKS, FramingError, check_head, check_parsed, parser_refusal
from .middleware import PROTOCOL_STATUS
from .refusals import Refusal, headers_too_large, raw_response

log = logging.getLogger("service.protocol")

# where the parser is in the next request's head
WAITING = 0  # nothing of it yet
COLLECTING = 1  # it began at the start of a read: its bytes are kept until the blank line
CHECKED = 2  # its head was complete and checked raw before the parser saw its end
UNCHECKED = 3  # it began inside a read, behind another request: checked once parsed


class GuardedHttpProtocol(asyncio.Protocol):
    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.root_path = config.root_path
        self.app_state = app_state
        self.server_state = server_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.parser = httptools.HttpRequestParser(self)
        # as uvicorn: answer the first of pipelined requests even if one after it says close
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        s = settings()
        self.max_head_bytes, self.max_connections = s.max_header_bytes, s.max_connections
        self.header_timeout, self.keep_alive_timeout, self.send_timeout = (
            s.header_timeout, s.keep_alive_timeout, s.send_timeout)
        # the connection
        # set by connection_made, before any other method runs: not Optional for every use
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # until connection_made
        self.flow: FlowControl = None  # type: ignore[assignment]  # until connection_made
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.pipeline: deque[RequestResponseCycle] = deque()  # complete heads waiting for their turn
        self.cycle: RequestResponseCycle | None = None  # the last request whose head came
        self._running: RequestResponseCycle | None = None  # the request the app has now
        # the request being parsed
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_100_continue = False
        # the guards
        self._head_state = WAITING
        self._head = bytearray()  # a COLLECTING head so far
        self._unchecked_bytes = 0  # bytes of an UNCHECKED head in the reads after the one it began in
        self._tail = b""  # the end of the last read: a blank line may straddle two reads
        self._in_body = False  # the parser is in a request's body
        self._timer: asyncio.TimerHandle | None = None  # the idle and header deadlines
        self._send_timer: asyncio.TimerHandle | None = None
        self._ready_at = 0.0
        self._idle_limit = 0.0  # seconds the connection may stay silent from _ready_at
        self._received = False  # a byte came since _ready_at
        self._host: str | None = None  # the client's address, for the per-client count
        self._silent = False  # admitted, and not one byte received yet
        self._refused = False  # a refusal is out or due: nothing more is read
        self._refusal: bytes | None = None  # due once the requests before it are answered

    # -- the connection: caps, idle and header deadlines
    # asyncio declares BaseTransport; a TCP server's protocol is always given a Transport
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # see above
        self.connections.add(self)  # type: ignore[arg-type]  # typed for uvicorn's protocols; it calls shutdown()
        self.transport = transport
        self.flow = FlowControl(transport)
        self.server = get_local_addr(transport)
        self.client = get_remote_addr(transport)
        self.scheme = "https" if is_ssl(transport) else "http"
        self._host = self.client[0] if self.client else None
        connections, limit = book(), self.max_connections
        if not connections.opened(self._host):
            TALLIES.client_cap.add(self.loop.time())
            _count_refusal(429, Code.TOO_MANY_CLIENT_CONNECTIONS, 0.0)
            self._close_with(refusals.client_cap(connections.per_client))
            return
        if len(self.connections) > limit and not make_room(self.loop.time()):
            TALLIES.cap.add(self.loop.time())
            _count_refusal(503, Code.TOO_MANY_CONNECTIONS, 0.0)
            self._close_with(refusals.connection_cap(limit))
            return
        self._silent = True
        connections.silent(self)
        cut = len(self.connections) > HIGH_WATER * limit and SILENT_DEADLINE < self.header_timeout
        self._ready(SILENT_DEADLINE if cut else self.header_timeout)

    def first_byte(self) -> None:
        """The client has sent something: no more a silent connection."""
        self._silent = False
        book().heard(self)

    def _ready(self, idle_limit: float) -> None:
        """The connection waits for a request: it may stay silent ``idle_limit`` seconds,
        and has ``header_timeout`` for the request's head, both from now."""
        self._ready_at = self.loop.time()
        self._idle_limit = idle_limit
        self._received = self._head_state is not WAITING  # a pipelined head may have begun
        self._arm(min(idle_limit, self.header_timeout))

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(seconds, self._deadline)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if not self._received:
            left = self._ready_at + self._idle_limit - now
            if left > 0:
                self._arm(left)
            else:
                self.transport.close()  # nothing of a request came: a quiet close
            return
        left = self._ready_at + self.header_timeout - now
        if left > 0:  # the head began; it has the rest of its time
            self._arm(left)
            return
        seconds = self.header_timeout
        if self._in_body:  # the rest of a body the app did not read, trickling after the answer
            log.info("closed a connection still sending a body %g s after its answer (CATSVC_HEADER_TIMEOUT)",
                     seconds)
            self.transport.close()
            return
        log.info("closed a connection whose request headers took over %g s (CATSVC_HEADER_TIMEOUT)", seconds)
        _count_refusal(408, Code.REQUEST_TIMEOUT, now - self._ready_at)
        self._refused = True
        self._close_with(refusals.header_timeout(seconds))

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        book().closed(self, self._host)
        self._cancel_timer()
        self._cancel_send_timer()
        # every request not yet answered learns it, the running one and those queued behind it
        for cycle in {c for c in (self._running, self.cycle, *self.pipeline) if c is not None}:
            if not cycle.response_complete:
                cycle.disconnected = True
            cycle.message_event.set()
        if self.flow is not None:
            self.flow.resume_writing()
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        pass

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close when idle, else after the response in flight."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False

    # -- reading
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._silent:
            self.first_byte()
        self._received = True
        state = self._head_state
        if state is WAITING or state is COLLECTING:
            if not self._take_head(data):
                return
        elif state is UNCHECKED and not self._in_body:
            # only the head's bytes count: a read may go on with its body or more requests
            end = HEAD_END.search(self._tail + data)
            self._unchecked_bytes += len(data) if end is None else max(end.end() - len(self._tail), 0)
            if self._unchecked_bytes > self.max_head_bytes:
                self._refuse(*headers_too_large(self.max_head_bytes))
                return
        self._tail = data[-2:]
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no WebSocket here: the request was answered as plain HTTP, the rest is dropped
        except httptools.HttpParserError as e:
            self._parser_error(e)

    def _take_head(self, data: bytes) -> bool:
        """Collect a head that began at the start of a read and check it raw once it is
        complete, before the parser sees its end; False if it was refused."""
        if self._head:
            # a head sent in many pieces: appended in place and searched from where the last
            # search ended (a blank line is at most 3 bytes), never copied and scanned whole again
            start = len(self._head) - 2
            self._head += data
            head: bytes | bytearray = self._head
        else:
            start, head = 0, data.lstrip(LEADING_BLANKS) if data[:1] in (b"\r", b"\n") else data
        end = HEAD_END.search(head, max(start, 0))
        if end is None:
            if len(head) > self.max_head_bytes:
                self._refuse(*headers_too_large(self.max_head_bytes))
                return False
            if not self._head:
                self._head = bytearray(head)
            self._head_state = COLLECTING
            return True
        head = bytes(head[: end.end()])
        self._head.clear()
        self._head_state = CHECKED
        if len(head) > self.max_head_bytes:
            self._refuse(*headers_too_large(self.max_head_bytes))
            return False
        try:
            check_head(head)
        except FramingError as e:
            self._refuse(*refusals.framing(str(e)))
            return False
        return True

    # parser callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expect_100_continue = False
        if self._head_state is WAITING:  # it began behind another request in this read
            self._head_state, self._unchecked_bytes = UNCHECKED, 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        version = self.parser.get_http_version()
        if self._head_state is UNCHECKED:
            size = len(self.url) + 16 + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > self.max_head_bytes:
                raise Refusal(headers_too_large(self.max_head_bytes))
            check_parsed(self.headers, version)
        self._in_body = True
        self._cancel_timer()  # the header deadline is met (a pipelined head: none is armed)
        parsed = httptools.parse_url(self.url)
        if parsed.host:  # absolute-form ("GET http://name/path"): its authority is the host
            self._authority_as_host(parsed.host, parsed.port)
        raw_path = parsed.path or b"/"  # "GET http://name HTTP/1.1": the root
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": self.parser.get_method().decode("ascii"),
            "root_path": self.root_path,
            "path": self.root_path + path,
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": parsed.query or b"",
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        previous = self.cycle
        self.cycle = RequestResponseCycle(
            scope, self.transport, self.flow, self.server_state.default_headers,
            keep_alive=version != "1.0" and self.parser.should_keep_alive(),
            expect_100_continue=self.expect_100_continue, on_response=self.on_response_complete,
            resume_reading=self.resume_reading,
        )
        if previous is None or previous.response_complete:
            self._start(self.cycle)
        else:  # pipelined: its turn comes when the one before is answered
            self.flow.pause_reading()
            self.pipeline.appendleft(self.cycle)

    def _authority_as_host(self, host: bytes, port: int | None) -> None:
        """RFC 9112 3.2.2: a server that receives a target in absolute-form ignores the Host
        header and uses the target's authority, so the Host check (service.api.http.guards)
        sees the name the request is really for, not a Host header beside it."""
        if b":" in host:  # an IPv6 literal, which parse_url gives without its brackets
            host = b"[" + host + b"]"
        authority = host if port is None else host + b":" + str(port).encode("ascii")
        # in place: a request still needs exactly one Host header (RFC 9112 3.2), which the guard counts
        self.headers = [(n, authority if n == b"host" else v) for n, v in self.headers]

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        cycle.body.append(body)
        cycle.body_size += len(body)
        if cycle.body_size > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._head_state = WAITING
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.message_event.set()

    def _start(self, cycle: RequestResponseCycle) -> None:
        self._running = cycle
        task = self.loop.create_task(self._run_app(cycle))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)  # at once: a shutdown that cancels the requests in flight sees it

    async def _run_app(self, cycle: RequestResponseCycle) -> None:
        """The app on ``cycle``, a turn of the loop after the task's first step.

        For a fair share under load on uvloop: libuv reads the sockets while it polls, so
        tasks created there run in the next turn, and the next poll comes right after the
        last of them answers, before that client has sent its next request; with 32 busy
        connections, the one answered last in each turn missed the poll and waited a whole
        extra turn (p99 twice the median, ``bench/loop_fairness.py``: a bare uvloop server
        at 1 ms a request, p99 65 ms at p50 33 ms; deferred, 35 ms). Deferred, the new
        tasks' first steps run after the turn's answers and hold the poll back long
        enough (asyncio's loop runs its read callbacks there anyway).
        """
        await asyncio.sleep(0)
        await cycle.run_asgi(self.app)

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.pipeline:
            self._start(self.pipeline.pop())
            self.resume_reading()
        elif self._refusal is not None:
            self._close_with(self._refusal)
        else:
            self.flow.resume_reading()
            self._ready(self.keep_alive_timeout)

    def resume_reading(self) -> None:
        """Read on, unless requests are queued behind the running one.

        llhttp parses a whole read, so reading on while requests wait would let a client
        queue requests without bound; as uvicorn, the next read waits for the queue to empty.
        """
        if not self.pipeline:
            self.flow.resume_reading()

    # -- refusals, in the service's shape
    def _parser_error(self, e: httptools.HttpParserError) -> None:
        cause = e.__context__ if isinstance(e, httptools.HttpParserCallbackError) else None
        if isinstance(cause, Refusal):
            self._refuse(*cause.answer)
            return
        framing = cause if isinstance(cause, FramingError) else None
        if cause is None:
            framing = parser_refusal(str(e), self._in_body)
        self._refuse(*(refusals.framing(str(framing)) if framing is not None else refusals.not_http()))

    def _refuse(self, status: int, body: dict[str, Any]) -> None:
        """Answer ``status`` with ``body`` and close; after the requests before this one."""
        log.info("refused a request with %d %s", status, body["code"],
                 extra={"fields": {"status": status, "code": body["code"], "client": self._host}})
        self._refused = True
        self._cancel_timer()
        response = raw_response(status, HTTPStatus(status).phrase, body)
        cycle = self.cycle
        if self._in_body and cycle is not None and cycle is self._running:
            metrics.error(body["code"])  # the app has the request: its own line counts it, with this status
        else:
            _count_refusal(status, body["code"], self.loop.time() - self._ready_at)
        if self._in_body and cycle is not None:  # the bad request is the last one whose head came
            if self.pipeline and self.pipeline[0] is cycle:  # not started yet: it is dropped, and
                self.pipeline.popleft()  # the refusal waits for the requests before it
                self._refusal = response
                self.flow.pause_reading()
            elif not cycle.response_started:  # the app has it and has not answered
                cycle.scope[PROTOCOL_STATUS] = status  # for its log line
                self._close_with(response)
            else:  # an answer is (partly) out already: another would corrupt it
                self.transport.close()
            return
        if self.pipeline or (cycle is not None and not cycle.response_complete):
            self._refusal = response  # a bad head behind a request still being answered
            self.flow.pause_reading()
        else:
            self._close_with(response)

    def _close_with(self, response: bytes) -> None:
        self._cancel_timer()
        self.transport.write(response)
        self.transport.close()

    # -- writing: the send deadline
    def pause_writing(self) -> None:
        self.flow.pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.send_timeout, self._send_timeout)

    def resume_writing(self) -> None:
        self._cancel_send_timer()
        self.flow.resume_writing()

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_timeout(self) -> None:
        self._send_timer = None
        log.info("dropped a client that read nothing for %g s (CATSVC_SEND_TIMEOUT)", self.send_timeout)
        self.transport.abort()  # connection_lost follows: the response's sender wakes up and stops


def _count_refusal(status: int, code: str, seconds: float) -> None:
    """A request the app never saw: its error code, and a request under the route ``refused``
    (its method unknown or not to be trusted: the head was not valid)."""
    metrics.error(code)
    metrics.request(metrics.REFUSED, "", status, seconds)
