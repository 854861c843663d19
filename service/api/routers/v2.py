"""The Open Inference Protocol (KServe V2 / Triton HTTP): health, metadata and inference
under /v2, beside the native API (see :mod:`service.api.v2`).

* Health answers with its status alone and an empty body, as the protocol says: 200 is
  true, a 4xx false (400; 404 for a model or version that does not exist). Open, as
  /health/* is; /v2/health/ready means what /health/ready means.
* Metadata is open, as the native GET endpoints are (GET /params shows the whole model).
* Inference needs the predict token when one is set, and keeps every limit of
  POST /predict. Without a version the active one answers; with one, that stored version.
* Errors are the service's shape, ``{"error": ..., "code": ...}``: the protocol's
  ``error`` string, and the stable code beside it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from model_core import __version__ as model_core_version

from ...settings import Settings
from ...state.logs import request_id
from ...state.store import VersionNotFound, VersionUnreadable
from ..auth import PREDICT_SECURITY, check_predict
from ..compute import INLINE_BODY_BYTES, ForwardCosts
from ..errors import ApiError, Code, error_responses, no_model
from ..inference import ImageLimits, images_to_columns
from ..limits import read_body
from ..model_cache import LoadedModel
from ..multipart import Part
from ..services import Services
from ..uploads import FILE_FIELD, media_type, unsupported_media_type
from ..v2.request import HEADER_LENGTH, InferRequest, parse_request
from ..v2.response import encode
from ..v2.schemas import INFER_BODY, InferResponse, ModelMetadata, ServerMetadata
from ..v2.signature import IMAGE, INPUTS, OUTPUTS, PLATFORM
from ..v2.tensors import batch_size, image_files, pixel_columns, the_input
from ..v2.versions import VersionCache, parse_version
from . import health
from .models import model_unreadable

router = APIRouter(prefix="/v2", tags=["v2"])

ModelName = Annotated[str, Path(description="the model's name: catvnoncat, or CATSVC_MODEL_NAME")]
ModelVersion = Annotated[str, Path(description="a stored version, as GET /v2/models/{model_name} lists them")]
EXTENSIONS = ["binary_tensor_data"]
V2 = "v2"  # the api label of its predictions (service.state.metrics)
_BODY_TYPES = ("", "application/json", "application/octet-stream")
IMAGE_NOUN = f"input '{IMAGE}' element"  # what an image error calls the n-th image: not a file here
_FALSE = {"description": "false: not ready (empty body)", "content": {}}
_ABSENT = {"description": "false: no such model or version (empty body)", "content": {}}
_TRUE = {"description": "true (empty body)", "content": {}}


def _empty(status: int) -> Response:
    return Response(status_code=status)


# -- health
@router.get("/health/live", summary="Server live: 200 while the process runs", response_class=Response,
            responses={200: _TRUE})
async def live() -> Response:
    return _empty(200)


@router.get("/health/ready", summary="Server ready: 200 when /health/ready is, else 400", response_class=Response,
            responses={200: _TRUE, 400: _FALSE})
async def ready(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        await run_in_threadpool(health.ready, services.models, services.queue, services.settings, services)
    except ApiError:
        return _empty(400)
    return _empty(200)


@router.get("/models/{model_name}/ready", summary="Model ready: 200 once a version is active",
            response_class=Response, responses={200: _TRUE, 400: _FALSE, 404: _ABSENT})
async def model_ready(request: Request, model_name: ModelName) -> Response:
    services: Services = request.app.state.services
    if model_name != services.settings.model_name:
        return _empty(404)
    return _empty(400 if services.models.current() is None else 200)


@router.get("/models/{model_name}/versions/{model_version}/ready",
            summary="Model version ready: 200 when the version is stored with a sound record",
            response_class=Response, responses={200: _TRUE, 400: _FALSE, 404: _ABSENT})
async def version_ready(request: Request, model_name: ModelName, model_version: ModelVersion) -> Response:
    # the record, not a load: this endpoint is open, and must not let anyone make a worker
    # load version after version (up to CATSVC_MAX_PARAMS_BYTES each); infer loads on demand
    try:
        # the record is an object-store read in cluster mode: off the event loop
        await run_in_threadpool(_version_record, request.app.state.services, model_name, model_version)
    except ApiError as e:
        return _empty(404 if e.status == 404 else 400)
    return _empty(200)


# -- metadata
@router.get("", summary="Server metadata", response_model=ServerMetadata)
async def server_metadata() -> dict[str, Any]:
    return {"name": "catvnoncat", "version": model_core_version, "extensions": EXTENSIONS}


# the metadata routes are plain defs (FastAPI's thread pool): they list and read the store,
# which is the object store in cluster mode
@router.get("/models/{model_name}", summary="Model metadata: its versions, inputs and outputs",
            response_model=ModelMetadata, responses=error_responses(404))
def model_metadata(request: Request, model_name: ModelName) -> dict[str, Any]:
    return _metadata(request.app.state.services, model_name)


@router.get("/models/{model_name}/versions/{model_version}", summary="Model metadata, for one version",
            response_model=ModelMetadata, responses=error_responses(404, 409))
def version_metadata(request: Request, model_name: ModelName, model_version: ModelVersion) -> dict[str, Any]:
    services: Services = request.app.state.services
    _version_record(services, model_name, model_version)
    return _metadata(services, model_name)


def _version_record(services: Services, model_name: str, version: str) -> None:
    """The version's record, read and checked without loading its arrays; 404 or 409 otherwise."""
    _check_name(model_name, services.settings)
    with _stored(model_name):
        services.store.metadata(_number(model_name, version))


def _metadata(services: Services, model_name: str) -> dict[str, Any]:
    _check_name(model_name, services.settings)
    return {"name": model_name, "versions": [str(v) for v in _readable(services)], "platform": PLATFORM,
            "inputs": INPUTS, "outputs": OUTPUTS}


def _readable(services: Services) -> list[int]:
    versions = []
    for version in services.store.versions():
        try:
            services.store.metadata(version)
        except (VersionNotFound, VersionUnreadable):
            continue
        versions.append(version)
    return versions


# -- inference
_INFER: dict[str, Any] = {
    "response_model": None,
    "responses": {200: {"model": InferResponse, "description": "the outputs; binary ones after the JSON object "
                        "(application/octet-stream, with Inference-Header-Content-Length)",
                        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                  **error_responses(400, 401, 403, 404, 408, 409, 413, 415, 422, 503)},
    "openapi_extra": {**INFER_BODY, "security": PREDICT_SECURITY},
}


@router.post("/models/{model_name}/infer", summary="Inference by the active version", **_INFER)
async def infer(request: Request, model_name: ModelName) -> Response:
    return await infer_request(request, model_name, None)


@router.post("/models/{model_name}/versions/{model_version}/infer", summary="Inference by one stored version",
             **_INFER)
async def infer_version(request: Request, model_name: ModelName, model_version: ModelVersion) -> Response:
    return await infer_request(request, model_name, model_version)


async def infer_request(request: Request, model_name: str, version: str | None) -> Response:
    """Both infer endpoints; what :mod:`service.api.v2.fastpath` calls."""
    check_predict(request)
    settings: Settings = request.app.state.services.settings
    loaded = await _model(request, model_name, version)  # kept to the end, as /predict keeps its model
    _check_body_type(request)
    body = await read_body(request, settings.max_upload_bytes, "max_upload_bytes")
    services: Services = request.app.state.services
    costs = services.forward_costs
    header_lengths = request.headers.getlist(HEADER_LENGTH)
    if len(body) <= INLINE_BODY_BYTES:  # as /predict: a small body is parsed inline, a large one off the loop
        infer_request, X, parts = _read(body, header_lengths, settings.max_batch)
    else:  # 12 MiB of JSON numbers take orjson and the checks a second or more
        infer_request, X, parts = await services.pool.run(_read, body, header_lengths, settings.max_batch)
    if parts is not None:  # decoded exactly as POST /predict's uploads, under the same limits, off the loop
        proba = await services.pool.run(_images_proba, costs, loaded, parts, ImageLimits.of(settings, IMAGE_NOUN))
    else:
        assert X is not None
        n = X.shape[1]
        if costs.cheap(loaded.version, n):  # as /predict: a pass known to be short runs inline
            proba = costs.predict_proba(loaded.version, loaded.model, X, V2)  # (n,)
        else:
            proba = await services.pool.run(costs.predict_proba, loaded.version, loaded.model, X, V2)
    content, header_length = encode(
        proba, model_name=model_name, model_version=loaded.version,
        request_id=infer_request.id if infer_request.id is not None else request_id.get() or "",
        requested=infer_request.outputs, binary_output=infer_request.binary_output,
        parameters=_trained_on(loaded))
    headers = {"X-Model-Version": str(loaded.version)}
    if header_length is None:
        return Response(content, headers=headers, media_type="application/json")
    headers["Inference-Header-Content-Length"] = str(header_length)
    return Response(content, headers=headers, media_type="application/octet-stream")


def _read(body: bytes, header_lengths: list[str], max_batch: int) -> tuple[InferRequest, np.ndarray | None,
                                                                          list[Part] | None]:
    """The request, and its pixels X (12288, n) or its n image files as upload parts."""
    infer_request = parse_request(body, header_lengths)
    tensor = the_input(infer_request)
    n = batch_size(tensor, max_batch)
    if tensor.name == IMAGE:
        return infer_request, None, [Part(FILE_FIELD, None, None, data) for data in image_files(tensor, n)]
    return infer_request, pixel_columns(tensor, n, infer_request.json_text), None


def _images_proba(costs: ForwardCosts, loaded: LoadedModel, parts: list[Part], limits: ImageLimits) -> np.ndarray:
    """On a pool thread: the images decoded (pixel budget first), then P(cat) (n,)."""
    return costs.predict_proba(loaded.version, loaded.model, images_to_columns(parts, limits), V2)


def _trained_on(loaded: LoadedModel) -> dict[str, Any]:
    """What every native answer says too: the data set, and whether it was synthetic drawings."""
    return {"synthetic": loaded.synthetic, **({"dataset": loaded.dataset} if loaded.dataset else {})}


def _check_body_type(request: Request) -> None:
    # JSON, or JSON and binary data; tritonclient sends no Content-Type at all. The form
    # types a web page may send without preflight are refused, as on the JSON endpoints.
    if media_type(request.headers.get("content-type", "")) not in _BODY_TYPES:
        raise unsupported_media_type("send the inference request as application/json, or with binary data "
                                     "as application/octet-stream (or without a Content-Type)")
    # a Content-Encoding is refused with every other body's (service.api.limits.limited_stream)


# -- the model a URL names
def _check_name(model_name: str, settings: Settings) -> None:
    if model_name != settings.model_name:
        raise ApiError(404, Code.MODEL_NOT_FOUND, f"no model of this name; this service serves "
                       f"'{settings.model_name}' (GET /v2/models/{settings.model_name})")


async def _model(request: Request, model_name: str, version: str | None) -> LoadedModel:
    """The active version (``version`` None) or that stored version, loaded; 404, 409 or 503 otherwise."""
    services: Services = request.app.state.services
    _check_name(model_name, services.settings)
    if version is None:
        loaded = services.models.current()
        if loaded is None:
            raise await run_in_threadpool(no_model, services.queue, Code.NO_MODEL)  # the queue: Redis in cluster mode
        return loaded
    versions: VersionCache = request.app.state.model_versions
    number = _number(model_name, version)
    with _stored(model_name):
        return await versions.get(number)


def _number(model_name: str, version: str) -> int:
    number = parse_version(version)
    if number is None:
        raise _no_version(model_name)
    return number


def _no_version(model_name: str) -> ApiError:
    return ApiError(404, Code.MODEL_NOT_FOUND, f"model '{model_name}' has no such version; "
                    f"GET /v2/models/{model_name} lists them")


@contextmanager
def _stored(model_name: str) -> Iterator[None]:
    """The store's errors about a version as the answers they are: 404, or 409 for an unreadable one."""
    try:
        yield
    except VersionNotFound:
        raise _no_version(model_name) from None
    except VersionUnreadable as e:
        raise model_unreadable(e) from None
