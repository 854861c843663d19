"""Logging shared by the supervisor, the API workers and the trainer: one JSON object per line.

Every line has ``ts``, ``level``, ``logger``, ``pid`` and ``msg``; a line logged while a
request is handled also has its ``request_id`` (from :data:`request_id`, a context
variable the request middleware sets, which threadpool calls inherit). Structured fields
go in ``extra={"fields": {...}}``: the per-request line and the job transitions use them.

What must never reach a log: request bodies (images, parameter files), tokens, header
values. Nothing here logs a request's data; callers log names, sizes and codes.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_json_handler: logging.Handler | None = None  # the handler setup_logging installed, if any


_second: tuple[int, str] = (-1, "")  # the last second _ts formatted: strftime once a second, not per line


def _ts(t: float) -> str:
    global _second
    second, text = _second
    if int(t) != second:
        second, text = int(t), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        _second = (second, text)  # one assignment: a thread reads the old pair or the new one
    return f"{text}.{int(t % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _ts(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        fields = record.__dict__.get("fields")
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def setup_logging(level: str) -> None:
    """JSON lines on stderr for every logger of the process (uvicorn's included).

    Like ``logging.basicConfig``, leaves a root logger that already has handlers alone
    (pytest's, in tests that build the app in-process).
    """
    global _json_handler
    root = logging.getLogger()
    if not root.handlers:
        _json_handler = logging.StreamHandler(sys.stderr)
        _json_handler.setFormatter(JsonFormatter())
        root.addHandler(_json_handler)
        root.setLevel(level.upper())
    logging.getLogger("service").setLevel(level.upper())


def info_line(logger: logging.Logger, msg: str, fields: dict[str, Any]) -> None:
    """``logger.info(msg)`` with ``fields``, the same JSON line, without the LogRecord.

    For the line per request, on the hot path: this writes it in a few microseconds,
    where the logging machinery (record, caller lookup, formatter) takes about 30 more.
    Falls back to ``logger.info`` where setup_logging did not install its handler.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _json_handler
    if handler is None or not isinstance(handler, logging.StreamHandler):
        logger.info(msg, extra={"fields": fields})
        return
    line: dict[str, Any] = {"ts": _ts(time.time()), "level": "info", "logger": logger.name, "pid": _pid(), "msg": msg}
    rid = request_id.get()
    if rid is not None:
        line["request_id"] = rid
    line.update(fields)
    data = orjson.dumps(line, default=str).decode() + "\n"
    handler.acquire()
    try:
        handler.stream.write(data)
        handler.stream.flush()
    except (OSError, ValueError):  # a closed or broken stream: as logging.StreamHandler.emit does
        handler.handleError(logging.makeLogRecord({"msg": msg}))
    finally:
        handler.release()


_PID: list[int] = []


def _pid() -> int:
    if not _PID:
        _PID.append(os.getpid())
    return _PID[0]
