"""Request framing that leaves no room for two readings: ``Content-Length`` and
``Transfer-Encoding`` checked on the raw request head, before the HTTP parser acts on it.

Behind a proxy, a request that two parsers can frame differently smuggles a second
request past the proxy (RFC 9112 section 11.2). llhttp (httptools, the parser of
:mod:`service.api.http.protocol`) refuses most such heads itself, but accepts
``Transfer-Encoding: gzip, chunked`` and ``Transfer-Encoding`` in HTTP/1.0, and says why
it refused others only in its own words. :func:`check_head` therefore reads each request
head raw, once it is complete and before llhttp has seen its end, and refuses with
:class:`FramingError` (answered 400 ``INVALID_FRAMING``, then close):

* ``Content-Length`` together with ``Transfer-Encoding`` (RFC 9112 6.3 allows a server
  to reject it; refusing is the only safe choice behind a proxy that prefers the other);
* ``Content-Length`` given more than once, or as a list (``5, 5``), even with equal
  values: RFC 9110 8.6 lets a recipient reject them, and no honest client sends them;
* a ``Content-Length`` that is not 1 to 18 ASCII digits (``12abc``, ``-1``, ``+5``, a
  length no body can have); SP and HTAB around the value are allowed (RFC 9110 5.5);
* a ``Transfer-Encoding`` other than exactly ``chunked`` once, and any in HTTP/1.0;
* a framing header continued on the next line (obs-fold).

A head that arrives behind another request in the same read (pipelining) has no known
start in the bytes; its parsed headers get the same checks (:func:`check_parsed`), and a
refusal llhttp makes first is named by :func:`parser_refusal`. A chunked body broken
later (bad chunk size, data not followed by CRLF) is llhttp's own error raised while the
body is read: also 400 ``INVALID_FRAMING``.

Cost on the hot path: a regex search for the blank line and a few ``bytes.find`` per
request head, a couple of microseconds. Messages are fixed strings: they never echo the
request.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import Code

# where a request head ends (LF, optional CR, LF); blank lines before a request line are skipped
HEAD_END = re.compile(rb"\n\r?\n")
LEADING_BLANKS = b"\r\n"
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


class FramingError(ValueError):
    """A request whose body framing is ambiguous or malformed; the message says what to fix."""

    code = Code.INVALID_FRAMING
    error_status_hint = 400  # the status it is answered with


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


def check_parsed(headers: Iterable[tuple[bytes, bytes]], http_version: str) -> None:
    """:func:`check_head` on a head already parsed (names in lower case, values as llhttp
    gives them: it has refused folded lines and control characters itself)."""
    lines = [b"x http/" + http_version.encode("ascii")]
    lines += [name + b":" + value for name, value in headers if name in (b"content-length", b"transfer-encoding")]
    check_head(b"\n".join(lines).lower() + b"\n\n")


def parser_refusal(reason: str, in_body: bool) -> FramingError | None:
    """The framing error behind llhttp's refusal ``reason`` (its own fixed words), or None
    when the request is wrong in another way (400 ``BAD_REQUEST``).

    In a body llhttp fails only on chunked framing: a body of a Content-Length cannot be
    malformed.
    """
    if in_body:
        return FramingError(BAD_CHUNKS)
    if "can't be present with" in reason:
        return FramingError(BOTH)
    if "Duplicate Content-Length" in reason:
        return FramingError(REPEATED_LENGTH)
    if "Content-Length" in reason:
        return FramingError(BAD_LENGTH)
    if "Transfer-Encoding" in reason:
        return FramingError(BAD_CODING)
    return None
