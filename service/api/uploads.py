"""Receiving an uploaded file (POST /datasets, PUT /params): multipart/form-data, the file
in the part named ``file``, as ``curl -F file=@train.h5`` sends it. Any other body is a 415:
a raw body of any type would let a web page upload with a plain form (see service.guards).

:func:`receive_file` streams the part to a temporary file, never whole in memory; reading
stops with a 413 as soon as the body passes its limit.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.multipart import (
    MultipartParseError,
    MultipartParser,
    parse_options_header,
)
from starlette.requests import Request

if TYPE_CHECKING:  # a TypedDict the module declares for type checkers only
    from python_multipart.multipart import MultipartCallbacks

from .errors import ApiError, Code
from .limits import limited_stream
from .multipart import MultipartError, boundary_of

FILE_FIELD = "file"
MAX_PART_HEADER = 8192  # bytes kept of one part header's name or value (a filename fits)


@dataclass(frozen=True)
class ReceivedFile:
    path: Path
    filename: str | None
    size: int


def missing_file() -> ApiError:
    return ApiError(
        422, Code.MISSING_FILE, f"send the file as a multipart/form-data part named '{FILE_FIELD}'"
    )


def empty_file(index: int) -> ApiError:
    """``curl -F file=@x`` of an empty x: nothing was sent, not a bad image."""
    return ApiError(422, Code.MISSING_FILE, f"file #{index} is empty (0 bytes); send the image's bytes", index=index)


def multipart_content_type(request: Request) -> str:
    """The request's Content-Type if it is multipart/form-data; 415 saying what to send otherwise."""
    content_type = request.headers.get("content-type", "")
    if media_type(content_type) != "multipart/form-data":
        raise unsupported_media_type(f"send the file as multipart/form-data, in a part named '{FILE_FIELD}' "
                                     f"(curl -F {FILE_FIELD}=@<path>); no other body type is accepted")
    return content_type


async def receive_file(request: Request, dest_dir: Path, *, limit: int, setting: str) -> ReceivedFile:
    """Stream the uploaded file into a new temporary file in ``dest_dir``; the caller deletes it."""
    content_type = multipart_content_type(request)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix="upload-", suffix=".part")
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            filename = await _receive_part(request, content_type, out, limit, setting)
            size = out.tell()
        if size == 0:
            raise ApiError(422, Code.MISSING_FILE, "the uploaded file is empty (0 bytes)")
        return ReceivedFile(path, filename, size)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def _receive_part(request: Request, content_type: str, out: IO[bytes], limit: int, setting: str) -> str | None:
    try:
        boundary = boundary_of(content_type)
    except MultipartError as e:
        raise ApiError(422, Code.VALIDATION_ERROR, str(e)) from None
    sink = _PartSink(out)
    parser = MultipartParser(boundary, sink.callbacks())
    try:
        async for chunk in limited_stream(request, limit, setting):
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise ApiError(422, Code.VALIDATION_ERROR, "the multipart/form-data body is malformed") from None
    if not sink.found:
        raise missing_file()
    if not sink.complete:
        raise ApiError(422, Code.VALIDATION_ERROR, "the multipart/form-data body is truncated")
    return sink.filename


class _PartSink:
    """Callbacks of python_multipart's parser: copy the first ``file`` part to ``out``."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.found = self.complete = self.writing = False
        self.filename: str | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        if len(self._field) < MAX_PART_HEADER:  # a hostile part's header is cut, not kept whole
            self._field += data[start:min(end, start + MAX_PART_HEADER)]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        if len(self._value) < MAX_PART_HEADER:
            self._value += data[start:min(end, start + MAX_PART_HEADER)]

    def _header_end(self) -> None:
        if len(self._headers) < 16:  # a part needs two headers; bound a hostile client
            self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"").decode("latin-1")
        _, options = parse_options_header(disposition)
        if not self.found and options.get(b"name") == FILE_FIELD.encode():
            self.found = self.writing = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.writing:
            self.out.write(data[start:end])

    def _part_end(self) -> None:
        if self.writing:
            self.writing = False
            self.complete = True


# Request bodies' media types: each endpoint accepts its own (JSON, multipart/form-data),
# and answers any other with a 415 that says what to send.
#
# Strict on purpose: ``text/plain``, ``application/x-www-form-urlencoded`` and
# ``multipart/form-data`` are what a web page may send to another site without a CORS
# preflight, so a JSON endpoint that took them would take a page's forged request.

def media_type(content_type: str) -> str:
    """A Content-Type's type and subtype, lower case, without parameters or spaces
    (``Multipart/Form-Data ; boundary=x`` -> ``multipart/form-data``; empty -> ``""``)."""
    return content_type.partition(";")[0].strip().lower()


def unsupported_media_type(what_to_send: str) -> ApiError:
    return ApiError(415, Code.UNSUPPORTED_MEDIA_TYPE, what_to_send)
