"""One error shape for every 4xx and 5xx: ``{"error": "<what to fix>", "code": "<STABLE_CODE>"}``.

Routers raise :class:`ApiError` (or let a ``model_core`` error through); the handlers
installed by :func:`install_error_handlers` are the only place a response body for an
error is built. Messages say what to fix and never echo the request's data.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from model_core import ConfigError, DataError, ModelCoreError, ParameterFileError

from .logs import request_id
from .responses import json_response

log = logging.getLogger("service.errors")


class Code:
    """The stable error codes; clients branch on these, never on the message."""

    VALIDATION_ERROR = "VALIDATION_ERROR"  # a query/path parameter or body field is wrong
    INVALID_JSON = "INVALID_JSON"
    INVALID_CONFIG = "INVALID_CONFIG"  # a training hyperparameter is out of range
    INVALID_INSTANCES = "INVALID_INSTANCES"
    INVALID_IMAGE = "INVALID_IMAGE"  # an image that is truncated or corrupt
    NOT_AN_IMAGE = "NOT_AN_IMAGE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    IMAGE_TOO_SMALL = "IMAGE_TOO_SMALL"
    MISSING_FILE = "MISSING_FILE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    INVALID_PARAMS = "INVALID_PARAMS"
    INCOMPATIBLE_PARAMS = "INCOMPATIBLE_PARAMS"
    INVALID_DATASET = "INVALID_DATASET"
    UNKNOWN_DATASET = "UNKNOWN_DATASET"
    DATASET_NOT_FOUND = "DATASET_NOT_FOUND"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    JOB_FINISHED = "JOB_FINISHED"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    QUEUE_FULL = "QUEUE_FULL"
    TOO_MANY_LAYERS = "TOO_MANY_LAYERS"  # 422: layer_dims over CATSVC_MAX_LAYERS
    TOO_MANY_PARAMETERS = "TOO_MANY_PARAMETERS"  # 422: layer_dims over CATSVC_MAX_PARAMETERS
    JOB_TOO_LARGE = "JOB_TOO_LARGE"  # 422: a job's memory estimate over CATSVC_TRAINER_MEMORY
    NO_MODEL = "NO_MODEL"
    NOT_READY = "NOT_READY"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    AUTH_REQUIRED = "AUTH_REQUIRED"  # 401: no bearer token
    AUTH_INVALID = "AUTH_INVALID"  # 403: a token, but not the right one
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"  # 408: headers or body too slow
    PARAMS_TOO_LARGE = "PARAMS_TOO_LARGE"
    DATASET_TOO_LARGE = "DATASET_TOO_LARGE"  # 413: an upload over a data set limit once unpacked  # 413: a parameter file's arrays above the limit
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"  # 431
    BAD_REQUEST = "BAD_REQUEST"  # 400: not valid HTTP
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"  # 503
    SHUTTING_DOWN = "SHUTTING_DOWN"  # 503 of /health/ready while the service stops
    HTTP_ERROR = "HTTP_ERROR"
    INTERNAL = "INTERNAL"


class ApiError(Exception):
    """An error answered as ``http_status`` with ``{"error": message, "code": code, **extra}``."""

    def __init__(
        self,
        http_status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = http_status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra


class ErrorBody(BaseModel):
    """The body of every error response (OpenAPI)."""

    model_config = ConfigDict(extra="allow")
    error: str
    code: str


_DESCRIPTIONS = {
    400: "Bad request",
    401: "No token: send Authorization: Bearer <token>",
    403: "Wrong token",
    404: "Not found",
    405: "Method not allowed",
    408: "The request body did not arrive in time: names the limit",
    409: "Conflict with the resource's state",
    413: "Too large: names the limit",
    415: "Unsupported media type",
    422: "Invalid input: names the field and the reason",
    429: "Too many queued jobs",
    500: "Internal error: quote the id when reporting",
    503: "Not available yet: says why and what to do",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route: each status with the error model."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS.get(s, "Error")} for s in statuses}


def config_error(e: ConfigError) -> ApiError:
    """422 naming the field and the rule, never the client's value (``reason`` leaves it out)."""
    message = e.reason if e.field is None or e.reason.startswith(e.field) else f"{e.field}: {e.reason}"
    return ApiError(422, Code.INVALID_CONFIG, message, **({"field": e.field} if e.field else {}))


def from_model_core(e: ModelCoreError) -> ApiError:
    """The 4xx for a model_core error that a router did not translate itself."""
    if isinstance(e, ConfigError):
        return config_error(e)
    if isinstance(e, ParameterFileError):
        return ApiError(422, Code.INVALID_PARAMS, str(e))
    if isinstance(e, DataError):
        return ApiError(422, Code.INVALID_DATASET, str(e))
    return ApiError(422, Code.VALIDATION_ERROR, str(e))


def _render(e: ApiError) -> Response:
    body = {"error": e.message, "code": e.code, **e.extra}
    return json_response(body, status=e.status, headers=e.headers)


async def _api_error(_: Request, e: Exception) -> Response:
    assert isinstance(e, ApiError)
    return _render(e)


async def _model_core_error(_: Request, e: Exception) -> Response:
    assert isinstance(e, ModelCoreError)
    return _render(from_model_core(e))


def _loc(loc: tuple[Any, ...]) -> str:
    # ("body", "learning_rate") -> "learning_rate"; ("query", "version") -> "version"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _validation_error(_: Request, e: Exception) -> Response:
    assert isinstance(e, RequestValidationError)
    # pydantic's "msg" states the rule; its "input" (the client's value) is left out
    problems = [f"{_loc(tuple(err.get('loc', ())))}: {err.get('msg', 'invalid')}" for err in e.errors()]
    return _render(ApiError(422, Code.VALIDATION_ERROR, "; ".join(problems)))


async def _http_error(request: Request, e: Exception) -> Response:
    assert isinstance(e, StarletteHTTPException)
    if e.status_code == 404:
        err = ApiError(404, Code.NOT_FOUND, "no such endpoint; see /docs for the list")
    elif e.status_code == 405:
        err = ApiError(
            405,
            Code.METHOD_NOT_ALLOWED,
            f"method {request.method} is not allowed here; see /docs for the methods of this endpoint",
            headers=dict(e.headers or {}),
        )
    else:
        err = ApiError(e.status_code, Code.HTTP_ERROR, str(e.detail), headers=dict(e.headers or {}))
    return _render(err)


async def _internal_error(request: Request, e: Exception) -> Response:
    error_id = request_id.get() or uuid.uuid4().hex[:12]  # the request id: also in the log line
    log.error("internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=e)
    return _render(
        ApiError(500, Code.INTERNAL, f"internal error; quote id {error_id} when reporting it", id=error_id)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ModelCoreError, _model_core_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
