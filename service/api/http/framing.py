"""Request framing that leaves no room for two readings: ``Content-Length`` and
``Transfer-Encoding`` checked before h11 parses a request head.

Behind a proxy, a request that two parsers can frame differently smuggles a second
request past the proxy (RFC 9112 section 11.2). h11 alone accepts some of them: both
``Content-Length`` and ``Transfer-Encoding: chunked`` (it silently prefers the latter),
and it folds repeated equal ``Content-Length`` values into one, so the parsed headers no
longer show them. :class:`GuardedConnection` therefore reads each request head raw,
from h11's receive buffer, once it is complete and before h11 parses it, and refuses
with :class:`FramingError` (answered 400 ``INVALID_FRAMING``, then close):

* ``Content-Length`` together with ``Transfer-Encoding`` (RFC 9112 6.3 allows a server
  to reject it; refusing is the only safe choice behind a proxy that prefers the other);
* ``Content-Length`` given more than once, or as a list (``5, 5``), even with equal
  values: RFC 9110 8.6 lets a recipient reject them, and no honest client sends them;
* a ``Content-Length`` that is not 1 to 18 ASCII digits (``12abc``, ``-1``, ``+5``, a
  length no body can have); SP and HTAB around the value are allowed (RFC 9110 5.5);
* a ``Transfer-Encoding`` other than exactly ``chunked`` once, and any in HTTP/1.0;
* a framing header continued on the next line (obs-fold).

A chunked body broken later (bad chunk size, data not followed by CRLF) is h11's own
``RemoteProtocolError`` raised while the body is read; :attr:`GuardedConnection.error_in_body`
says so, and the protocol answers it 400 ``INVALID_FRAMING`` too.

Cost on the hot path: one copy of the received bytes and a few ``bytes.find`` per
request head, a couple of microseconds. Messages are fixed strings: they never echo the
request.
"""
from __future__ import annotations

import re

import h11

from ..errors import Code

# where h11 ends a request head (h11._receivebuffer.blank_line_regex: LF, optional CR, LF)
HEAD_END = re.compile(rb"\n\r?\n")
_CONTENT_LENGTH = b"\ncontent-length:"
_TRANSFER_ENCODING = b"\ntransfer-encoding:"
MAX_LENGTH_DIGITS = 18  # under 10**18 bytes: fits every parser's 64-bit counter

BOTH = "send either Content-Length or Transfer-Encoding: chunked, not both (RFC 9112 section 6.3)"
REPEATED_LENGTH = "send one Content-Length header holding one number; this request has several"
BAD_LENGTH = f"Content-Length must be a decimal number of bytes: 1 to {MAX_LENGTH_DIGITS} digits, nothing else"
BAD_CODING = ("the only Transfer-Encoding accepted is chunked, in one header; "
              "or send the body with a Content-Length instead")
CODING_IN_HTTP10 = "HTTP/1.0 has no Transfer-Encoding: send the body with a Content-Length"
BAD_CHUNKS = ("the chunked body is malformed: each chunk is its size in hex digits, CRLF, "
              "that many bytes, CRLF; the last one is 0, CRLF, CRLF")


class FramingError(h11.RemoteProtocolError):
    """A request whose body framing is ambiguous or malformed; the message says what to fix."""

    code = Code.INVALID_FRAMING

    def __init__(self, message: str) -> None:
        super().__init__(message, error_status_hint=400)


def check_head(head: bytes) -> None:
    """Raise :class:`FramingError` if the request head ``head`` frames its body ambiguously.

    ``head`` is the raw request line and header lines up to and including the blank line.
    """
    low = head.lower()  # header names are case-insensitive, values checked here too
    length = low.find(_CONTENT_LENGTH)
    coding = low.find(_TRANSFER_ENCODING)
    if length < 0 and coding < 0:  # most requests: a GET, or nothing to check
        return
    if length >= 0 and coding >= 0:
        raise FramingError(BOTH)
    if length >= 0:
        value = _value(low, length + len(_CONTENT_LENGTH))
        if low.find(_CONTENT_LENGTH, length + 1) >= 0 or b"," in value:
            raise FramingError(REPEATED_LENGTH)
        if not (value.isdigit() and len(value) <= MAX_LENGTH_DIGITS):
            raise FramingError(BAD_LENGTH)
        return
    if low.find(_TRANSFER_ENCODING, coding + 1) >= 0 or _value(low, coding + len(_TRANSFER_ENCODING)) != b"chunked":
        raise FramingError(BAD_CODING)
    if low[: low.find(b"\n")].rstrip(b"\r").endswith(b"http/1.0"):
        raise FramingError(CODING_IN_HTTP10)


def _value(low: bytes, start: int) -> bytes:
    """The value of the header line whose value starts at ``start``, without its OWS;
    ``b"\\n"`` (never valid) if the value is folded onto the next line."""
    end = low.find(b"\n", start)
    if low[end + 1 : end + 2] in (b" ", b"\t"):  # obs-fold: the value goes on
        return b"\n"
    return low[start:end].rstrip(b"\r").strip(b" \t")


class GuardedConnection(h11.Connection):
    """h11's server connection, with :func:`check_head` run on every request head, and
    the last protocol error kept (:attr:`error`, :attr:`error_in_body`): h11's errors
    do not say whether the head or the body was bad."""

    def __init__(self, max_incomplete_event_size: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size)
        self.error: h11.RemoteProtocolError | None = None
        self.error_in_body = False  # the error came while a request body was read
        self._head_unchecked = False  # a request head may have completed since the last check

    def receive_data(self, data: bytes) -> None:
        super().receive_data(data)
        if b"\n" in data:  # a head ends with a newline: nothing else can complete one
            self._head_unchecked = True

    def start_next_cycle(self) -> None:
        super().start_next_cycle()
        self._head_unchecked = True  # a pipelined request may be buffered already

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        if self.error is not None:
            raise self.error  # as h11 does once the peer erred: every later call fails
        state = self.their_state
        try:
            if self._head_unchecked and state is h11.IDLE:
                self._check_buffered_head()
            return super().next_event()
        except h11.RemoteProtocolError as e:
            self.error, self.error_in_body = e, state is h11.SEND_BODY
            raise

    def _check_buffered_head(self) -> None:
        buffered = self.trailing_data[0]
        end = HEAD_END.search(buffered)
        self._head_unchecked = False  # if incomplete, checked again when a newline arrives
        if end is not None:
            check_head(buffered[: end.end()])
