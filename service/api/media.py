"""Request bodies' media types: each endpoint accepts its own (JSON, multipart/form-data),
and answers any other with a 415 that says what to send.

Strict on purpose: ``text/plain``, ``application/x-www-form-urlencoded`` and
``multipart/form-data`` are what a web page may send to another site without a CORS
preflight, so a JSON endpoint that took them would take a page's forged request.
"""
from __future__ import annotations

from .errors import ApiError, Code


def media_type(content_type: str) -> str:
    """A Content-Type's type and subtype, lower case, without parameters or spaces
    (``Multipart/Form-Data ; boundary=x`` -> ``multipart/form-data``; empty -> ``""``)."""
    return content_type.partition(";")[0].strip().lower()


def unsupported_media_type(what_to_send: str) -> ApiError:
    return ApiError(415, Code.UNSUPPORTED_MEDIA_TYPE, what_to_send)
