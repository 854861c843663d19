"""The parameters of a model version: GET shows them, download gives the .npz, PUT uploads one."""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from model_core import N_FEATURES, ParameterFileError, load_parameters, parameter_shapes

from ...state.protocols import ModelStoreProtocol
from ...state.store import Retention, VersionNotFound, VersionUnreadable
from ..auth import AdminAuth
from ..errors import ApiError, Code, error_responses, from_model_core, no_model
from ..limits import MAX_PARAM_ARRAYS, env_name, params_too_large, read_body
from ..multipart import MultipartError, parse_multipart
from ..responses import json_response
from ..schemas import ParamsOut
from ..services import Services
from ..uploads import FILE_FIELD, missing_file, multipart_content_type
from .models import model_not_found, model_unreadable

router = APIRouter(prefix="/params", tags=["params"])

Version = Annotated[int | None, Query(ge=1, description="a version from GET /models; default: the active one")]

_PUT_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "An .npz of W1, b1, ..., WL, bL: one this service wrote (GET /params/download) or the "
            "course's `np.savez(f, **parameters)` (taken as relu/sigmoid on pixels / 255). As a "
            "multipart/form-data part named `file` (`curl -X PUT -F file=@params.npz .../params`); any "
            "other body type is a 415."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        },
    }
}


def resolve_version(services: Services, version: int | None) -> int:
    """``version`` if it exists, else the active one; 404 or 503 otherwise."""
    store = services.store
    if version is None:
        active = store.active_version()
        if active is None:
            raise no_model(services.queue, Code.NO_MODEL)
        return active
    if not store.exists(version):
        raise model_not_found()
    return version


def params_summary(
    store: ModelStoreProtocol, version: int, include_values: bool = False, max_values: int | None = None
) -> dict[str, Any]:
    """The version's record for GET/PUT /params; 409 if it is unreadable, 413 if its values
    are asked for and it has more than ``max_values`` weights."""
    try:
        meta = store.metadata(version)
    except VersionUnreadable as e:
        raise model_unreadable(e) from None
    dims = meta["layer_dims"]
    shapes = array_shapes(meta)
    out: dict[str, Any] = {
        "version": version,
        "active": store.active_version() == version,
        "layer_dims": dims,
        "hidden_activation": meta.get("hidden_activation", "relu"),
        "output_activation": meta.get("output_activation", "sigmoid"),
        "input_norm": meta.get("input_norm", "scale"),
        "hyperparameters": meta.get("config"),
        "metrics": meta.get("metrics"),
        "created_at": meta.get("created_at"),
        "data_sha256": meta.get("data_sha256"),
        "dataset": meta.get("dataset"),
        "source": meta.get("source"),
        # what it was trained from: a named recipe (course, photos) or null; a network of
        # layers' architecture and its test-time augmentation (null: the fully connected net)
        "recipe": meta.get("recipe"),
        "architecture": meta.get("architecture"),
        "tta": meta.get("tta"),
        "shapes": shapes,
    }
    if include_values:
        count = sum(math.prod(shape) for shape in shapes.values())
        if max_values is not None and count > max_values:
            # as JSON each weight takes ~20 bytes, and the whole answer is built in memory
            raise ApiError(
                413, Code.VALUES_TOO_LARGE,
                f"version {version} has {count} weights, more than the {max_values} that include=values "
                f"returns ({env_name('max_values')}); download the file: GET /params/download?version={version}",
                limit=max_values,
            )
        out["values"] = values_json(store.load(version).parameters)
    return out


# weights serialized per orjson call: a call holds the GIL, and with it the worker's event
# loop, for its whole length (2 million weights in one call: 0.18 s here; this many: 6 ms)
VALUES_CHUNK = 65_536


def values_json(parameters: Mapping[str, np.ndarray]) -> dict[str, orjson.Fragment]:
    """Each array as JSON nested lists, already serialized, a few rows at a time."""
    return {name: orjson.Fragment(_array_json(np.asarray(a))) for name, a in parameters.items()}


def _array_json(a: np.ndarray) -> bytes:
    if a.ndim == 0 or a.size <= VALUES_CHUNK:
        return orjson.dumps(a, option=orjson.OPT_SERIALIZE_NUMPY)
    rows = max(1, VALUES_CHUNK // (a.size // a.shape[0]))
    # "[[..],[..]]" of each block of rows without its outer brackets (a view, not a copy),
    # comma-separated inside one pair of brackets: the whole array's JSON, copied once
    pieces: list[bytes | memoryview] = [b"["]
    for i in range(0, a.shape[0], rows):
        block = orjson.dumps(np.ascontiguousarray(a[i:i + rows]), option=orjson.OPT_SERIALIZE_NUMPY)
        pieces += [memoryview(block)[1:-1], b","]
    pieces[-1] = b"]"
    return b"".join(pieces)


def array_shapes(meta: dict[str, Any]) -> dict[str, list[int]]:
    """W1, b1, ... and their shapes, from a network of layers' architecture or layer_dims."""
    if meta.get("architecture"):
        return {k: list(v) for k, v in parameter_shapes(meta["architecture"]).items()}
    dims = meta["layer_dims"]
    shapes: dict[str, list[int]] = {}
    for l in range(1, len(dims)):
        shapes[f"W{l}"] = [dims[l], dims[l - 1]]
        shapes[f"b{l}"] = [dims[l], 1]
    return shapes


@router.get(
    "",
    response_model=None,
    summary="A model version's architecture, hyperparameters, metrics and array shapes",
    responses={200: {"model": ParamsOut}, **error_responses(404, 409, 413, 422, 503)},
)
def get_params(
    request: Request,
    version: Version = None,
    include: Annotated[Literal["values"] | None, Query(description="values: add the arrays as JSON")] = None,
) -> Response:
    services: Services = request.app.state.services
    v = resolve_version(services, version)
    # built by hand: pydantic would validate every weight of ?include=values one by one
    return json_response(params_summary(services.store, v, include == "values", services.settings.max_values))


@router.get(
    "/download",
    response_class=FileResponse,
    summary="The .npz of a model version",
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the parameter file"},
               **error_responses(404, 422, 503)},
)
def download_params(request: Request, version: Version = None) -> FileResponse:
    services: Services = request.app.state.services
    v = resolve_version(services, version)
    try:
        path = services.store.model_path(v)
    except VersionNotFound:
        raise model_not_found() from None
    return FileResponse(path, media_type="application/octet-stream", filename=f"catvnoncat-v{v}.npz")


@router.put(
    "",
    status_code=201,
    response_model=None,
    summary="Upload parameters: a new version, activated only if asked (or if none is active yet)",
    responses={201: {"model": ParamsOut, "description": "the new version; `active` says whether it answers now"},
               **error_responses(401, 403, 408, 413, 415, 422, 503)},
    openapi_extra=_PUT_BODY,
    dependencies=[AdminAuth],
)
async def put_params(
    request: Request,
    activate: Annotated[bool, Query(description="true: the new version answers at once; false (default): it "
                                                "is stored beside the active one (POST /models/{version}/activate "
                                                "switches), unless no version is active yet")] = False,
) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    content_type = multipart_content_type(request)
    body = await read_body(request, settings.max_upload_bytes, "max_upload_bytes")
    # off the event loop: splitting a body of up to 16 MiB, then reading and storing its arrays
    version = await run_in_threadpool(_store_upload, services.store, body, content_type, settings.max_params_bytes,
                                      Retention.from_settings(settings), activate)
    return json_response(
        params_summary(services.store, version), status=201, headers={"Location": f"/params?version={version}"}
    )


def _store_upload(
    store: ModelStoreProtocol, body: bytes, content_type: str, max_params_bytes: int, retention_settings: Retention,
    activate: bool,
) -> int:
    try:
        files = [p for p in parse_multipart(body, content_type) if p.name == FILE_FIELD]
    except MultipartError as e:
        raise ApiError(422, Code.VALIDATION_ERROR, str(e)) from None
    if not files:
        raise missing_file()
    data = files[0].data
    try:
        # bounded from the file's headers before numpy allocates what they declare
        parameters, metadata = load_parameters(data, max_bytes=max_params_bytes, max_arrays=MAX_PARAM_ARRAYS)
    except ParameterFileError as e:
        if e.limit == "max_bytes" and e.value is not None:
            raise params_too_large(e.value) from None
        raise from_model_core(e) from None
    n_x = metadata["layer_dims"][0]
    if n_x != N_FEATURES:
        raise ApiError(
            422, Code.INCOMPATIBLE_PARAMS,
            f"W1 has {n_x} columns; this service classifies 64x64x3 images, so W1 needs {N_FEATURES}",
        )
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    metadata.setdefault("created_at", now)
    metadata["source"] = {"kind": "upload", "uploaded_at": now}
    version = store.add(parameters, metadata)  # the record passed the schema: finite numbers only
    # a re-uploaded download must not switch the model that answers, unless asked to
    if activate or store.active_version() is None:
        store.activate(version)
    store.enforce_retention(retention_settings, keep=(version,))
    return version
