"""One error shape for every 4xx and 5xx: ``{"error": "<what to fix>", "code": "<STABLE_CODE>"}``.

Routers raise :class:`ApiError` (or let a ``model_core`` error through); the handlers
installed by :func:`install_error_handlers` are the only place a response body for an
error is built. Messages say what to fix and never echo the request's data.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from model_core import ConfigError, DataError, ModelCoreError, ParameterFileError

from ..state import metrics
from ..state.protocols import JobQueueProtocol
from ..state.logs import request_id
from ..state.storage import StorageUnavailable
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
    REQUEST_PIXELS_TOO_LARGE = "REQUEST_PIXELS_TOO_LARGE"  # 413: a /predict's images above CATSVC_MAX_REQUEST_PIXELS
    PREDICT_QUEUE_FULL = "PREDICT_QUEUE_FULL"  # 503: the worker's prediction threads and queue are taken
    OUT_OF_MEMORY = "OUT_OF_MEMORY"  # 503: the worker could not allocate what a request within the limits needs
    INVALID_PARAMS = "INVALID_PARAMS"
    INCOMPATIBLE_PARAMS = "INCOMPATIBLE_PARAMS"
    INVALID_DATASET = "INVALID_DATASET"
    UNKNOWN_DATASET = "UNKNOWN_DATASET"
    DATASET_NOT_FOUND = "DATASET_NOT_FOUND"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    JOB_FINISHED = "JOB_FINISHED"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    MODEL_UNREADABLE = "MODEL_UNREADABLE"  # 409: a stored version whose metadata fails the schema
    MODEL_ACTIVE = "MODEL_ACTIVE"  # 409: the active version cannot be deleted
    VALUES_TOO_LARGE = "VALUES_TOO_LARGE"  # 413: include=values of a model above CATSVC_MAX_VALUES
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
    ADMIN_DISABLED = "ADMIN_DISABLED"  # 403: no admin token on a non-loopback address (settings.admin_disabled)
    HOST_NOT_ALLOWED = "HOST_NOT_ALLOWED"  # 400: a Host not in CATSVC_ALLOWED_HOSTS (DNS rebinding)
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"  # 403: a change sent by another site's web page
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"  # 408: headers or body too slow
    PARAMS_TOO_LARGE = "PARAMS_TOO_LARGE"  # 413: a parameter file's arrays above the limit
    DATASET_TOO_LARGE = "DATASET_TOO_LARGE"  # 413: an upload over a data set limit once unpacked
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"  # 431
    BAD_REQUEST = "BAD_REQUEST"  # 400: not valid HTTP
    INVALID_FRAMING = "INVALID_FRAMING"  # 400: Content-Length / Transfer-Encoding / chunks ambiguous or broken
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"  # 503
    TOO_MANY_CLIENT_CONNECTIONS = "TOO_MANY_CLIENT_CONNECTIONS"  # 429: one address over its share
    SHUTTING_DOWN = "SHUTTING_DOWN"  # 503 of /health/ready while the service stops
    TOO_MANY_EVENT_STREAMS = "TOO_MANY_EVENT_STREAMS"  # 503: CATSVC_MAX_EVENT_STREAMS streams open on this worker
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"  # 503: the data directory is read-only or full
    # the Open Inference Protocol (V2, service/api/v2/): 400s, the protocol's status for a bad request
    INVALID_INFERENCE_REQUEST = "INVALID_INFERENCE_REQUEST"  # not an inference request, or not one for this model
    INVALID_BINARY_DATA = "INVALID_BINARY_DATA"  # Inference-Header-Content-Length / binary_data_size do not add up
    INVALID_DATATYPE = "INVALID_DATATYPE"  # a tensor datatype the input does not take
    INVALID_SHAPE = "INVALID_SHAPE"  # a shape the input does not take, or data that does not fill it
    INVALID_TENSOR_DATA = "INVALID_TENSOR_DATA"  # elements that are not pixel values 0..255, or not base64
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
    403: "Wrong token (AUTH_INVALID), admin endpoints off without a token (ADMIN_DISABLED), or sent by "
         "another site's web page (ORIGIN_NOT_ALLOWED)",
    404: "Not found",
    405: "Method not allowed",
    408: "The request body did not arrive in time: names the limit",
    409: "Conflict with the resource's state",
    413: "Too large: names the limit",
    415: "Unsupported media type: says which one to send",
    422: "Invalid input: names the field and the reason",
    429: "Too many queued jobs",
    500: "Internal error: quote the id when reporting",
    503: "Not available yet: says why and what to do",
}


# one real answer per status, as the OpenAPI document's example
EXAMPLES: dict[int, dict[str, Any]] = {
    400: {"error": "send one Content-Length header holding one number; this request has several",
          "code": Code.INVALID_FRAMING},
    401: {"error": "this endpoint needs a token: send the header 'Authorization: Bearer <token>' with the token "
                   "set in CATSVC_ADMIN_TOKEN", "code": Code.AUTH_REQUIRED},
    403: {"error": "the token is not valid for this endpoint; it needs the one set in CATSVC_ADMIN_TOKEN",
          "code": Code.AUTH_INVALID},
    404: {"error": "no job with this id; GET /train lists the jobs", "code": Code.JOB_NOT_FOUND},
    405: {"error": "method GET is not allowed here; see /docs for the methods of this endpoint",
          "code": Code.METHOD_NOT_ALLOWED},
    408: {"error": "the request body did not arrive within 60 s (CATSVC_BODY_TIMEOUT); send it faster, or in "
                   "smaller pieces", "code": Code.REQUEST_TIMEOUT, "limit": 60},
    409: {"error": "version 2 is the active one; activate another version first (POST /models/{version}/activate)",
          "code": Code.MODEL_ACTIVE},
    413: {"error": "the request body is larger than the limit of 16777216 bytes (CATSVC_MAX_UPLOAD_BYTES); "
                   "send less data", "code": Code.BODY_TOO_LARGE, "limit": 16777216},
    415: {"error": "send the file as multipart/form-data, in a part named 'file' (curl -F file=@<path>); no "
                   "other body type is accepted", "code": Code.UNSUPPORTED_MEDIA_TYPE},
    422: {"error": "learning_rate must be a number in (0.0, 100.0]", "code": Code.INVALID_CONFIG,
          "field": "learning_rate"},
    429: {"error": "16 training jobs are already queued, the limit (CATSVC_MAX_QUEUED_JOBS); retry when one has "
                   "started", "code": Code.QUEUE_FULL, "limit": 16},
    500: {"error": "internal error; quote id 3f2a9c81d0e4 when reporting it", "code": Code.INTERNAL,
          "id": "3f2a9c81d0e4"},
    503: {"error": "no model yet: training job 92d3e4904ede4034 is running, 40% done; retry in a minute "
                   "(progress: GET /train/92d3e4904ede4034) or upload parameters with PUT /params",
          "code": Code.NO_MODEL, "job_id": "92d3e4904ede4034"},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route: each status with the error model and an example."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS.get(s, "Error"),
                "content": {"application/json": {"example": EXAMPLES[s]}}} for s in statuses}


def document_errors(schema: dict[str, Any]) -> None:
    """Make every error response of an OpenAPI document the real one: FastAPI documents a
    422 of its own shape (``HTTPValidationError``, ``{"detail": [...]}``) on every route with
    parameters, which this service never sends. A response declared with ``"content": {}``
    has no body (the V2 health answers) and is left as it is."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400 and response.get("content") != {}:
                    response["description"] = _DESCRIPTIONS.get(int(status), response.get("description", "Error"))
                    response["content"] = {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorBody"}, "example": EXAMPLES[int(status)]}}
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components["ErrorBody"] = {**ErrorBody.model_json_schema(), "title": "ErrorBody"}


def config_error(e: ConfigError) -> ApiError:
    """422 naming the field and the rule, never the client's value (``reason`` leaves it out)."""
    message = e.reason if e.field is None or e.reason.startswith(e.field) else f"{e.field}: {e.reason}"
    return ApiError(422, Code.INVALID_CONFIG, message, **_field(e.field))


def _field(name: str | None) -> dict[str, Any]:
    """The ``field`` member of an error body, when the error names one."""
    return {"field": name} if name else {}


def from_model_core(e: ModelCoreError) -> ApiError:
    """The 4xx for a model_core error that a router did not translate itself."""
    if isinstance(e, ConfigError):
        return config_error(e)
    if isinstance(e, ParameterFileError):
        return ApiError(422, Code.INVALID_PARAMS, str(e), **_field(e.field))
    if isinstance(e, DataError):
        return ApiError(422, Code.INVALID_DATASET, str(e))
    return ApiError(422, Code.VALIDATION_ERROR, str(e))


def unknown_dataset() -> ApiError:
    """422 for a ``dataset`` that GET /datasets does not list (POST /train, evaluate)."""
    return ApiError(422, Code.UNKNOWN_DATASET, "dataset: no such data set; GET /datasets lists the names and ids",
                    field="dataset")


def storage_unavailable(e: StorageUnavailable) -> ApiError:
    """503 naming read-only or no space (``reason``: read_only, no_space); an operator must act."""
    return ApiError(503, Code.STORAGE_UNAVAILABLE, e.message, headers={"Retry-After": "30"}, reason=e.kind)


def _render(e: ApiError) -> Response:
    metrics.error(e.code)
    body = {"error": e.message, "code": e.code, **e.extra}
    try:
        return json_response(body, status=e.status, headers=e.headers)
    except TypeError:
        # orjson writes no integer past 64 bits, and a refusal can count one (the parameters
        # of layer_dims [12288, 10**20, 1]); JSON's numbers have no bound: the exact count
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return Response(content, status_code=e.status, headers=e.headers, media_type="application/json")


async def _api_error(_: Request, e: Exception) -> Response:
    assert isinstance(e, ApiError)
    return _render(e)


async def _storage_error(_: Request, e: Exception) -> Response:
    assert isinstance(e, StorageUnavailable)
    log.error("%s", e)  # the operator's problem: in the log, not only in the answer
    return _render(storage_unavailable(e))


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


class _NoResponse(Response):
    """Nothing at all: for a client that has gone (the request's log line says so)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


async def _client_disconnected(_: Request, e: Exception) -> Response:
    # the client closed before its body was in (or the protocol refused the body and
    # closed): no one to answer, and not an error of ours, so no 500 and no traceback
    assert isinstance(e, ClientDisconnect)
    return _NoResponse()


async def _out_of_memory(request: Request, e: Exception) -> Response:
    """A request within every limit that the worker's memory cannot hold now (others in
    flight, a container's cap): the operator's problem and a retry's, not the client's
    fault nor a bug. What the request allocated is freed as its frames unwind."""
    assert isinstance(e, MemoryError)
    log.error("out of memory on %s %s (request %s): %s", request.method, request.url.path, request_id.get(), e)
    return _render(ApiError(
        503, Code.OUT_OF_MEMORY,
        "the server ran out of memory for this request (it is within the limits, but the worker could not "
        "allocate what it needs now); retry after Retry-After, or send a smaller request",
        headers={"Retry-After": "10"},
    ))


async def _internal_error(request: Request, e: Exception) -> Response:
    error_id = request_id.get() or uuid.uuid4().hex[:12]  # the request id: also in the log line
    log.error("internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=e)
    # the server closes a connection after an unhandled error (uvicorn's way, and ours): say so,
    # so that a keep-alive client does not send its next request into a closing socket
    return _render(
        ApiError(500, Code.INTERNAL, f"internal error; quote id {error_id} when reporting it",
                 headers={"Connection": "close"}, id=error_id)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ModelCoreError, _model_core_error)
    app.add_exception_handler(StorageUnavailable, _storage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(MemoryError, _out_of_memory)
    app.add_exception_handler(Exception, _internal_error)


def no_model(queue: JobQueueProtocol, code: str) -> ApiError:
    """Why there is no model yet, and what the client can do about it (the 503 of /predict and /health/ready)."""
    pending = queue.pending()
    if pending:
        job = pending[0]
        percent = f", {100 * job.done // job.total}% done" if job.total and job.status == "running" else ""
        why = (
            f"no model yet: training job {job.id} is {job.status}{percent}; retry in a minute "
            f"(progress: GET /train/{job.id}) or upload parameters with PUT /params"
        )
        extra = {"job_id": job.id}
    else:
        why = (
            "no model yet and no training job is queued: "
            "start one with POST /train or upload parameters with PUT /params"
        )
        extra = {}
    return ApiError(503, code, why, headers={"Retry-After": "30"}, **extra)
