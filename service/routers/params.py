"""The parameters of a model version: GET shows them, download gives the .npz, PUT uploads one."""
from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from model_core import ParameterFileError, load_parameters
from model_core.data import N_FEATURES

from ..auth import AdminAuth
from ..availability import no_model
from ..errors import ApiError, Code, error_responses
from ..limits import UNREADABLE_ZIP, check_params_size, read_body
from ..multipart import MultipartError, parse_multipart
from ..responses import json_response
from ..schemas import ParamsOut
from ..services import Services
from ..store import ModelStore, VersionNotFound
from ..uploads import FILE_FIELD, missing_file
from .models import model_not_found

router = APIRouter(prefix="/params", tags=["params"])

Version = Annotated[int | None, Query(ge=1, description="a version from GET /models; default: the active one")]

_PUT_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "An .npz of W1, b1, ..., WL, bL: one this service wrote (GET /params/download) or the "
            "course's `np.savez(f, **parameters)` (taken as relu/sigmoid on pixels / 255). As a "
            "multipart part named `file` (`curl -X PUT -F file=@params.npz .../params`) or as the raw body."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}}
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
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


def params_summary(store: ModelStore, version: int, include_values: bool = False) -> dict[str, Any]:
    meta = store.metadata(version)
    dims = meta["layer_dims"]
    shapes: dict[str, list[int]] = {}
    for l in range(1, len(dims)):
        shapes[f"W{l}"] = [dims[l], dims[l - 1]]
        shapes[f"b{l}"] = [dims[l], 1]
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
        "shapes": shapes,
    }
    if include_values:
        out["values"] = dict(store.load(version).parameters)  # numpy arrays: orjson writes nested lists
    return out


@router.get(
    "",
    response_model=None,
    summary="A model version's architecture, hyperparameters, metrics and array shapes",
    responses={200: {"model": ParamsOut}, **error_responses(404, 422, 503)},
)
def get_params(
    request: Request,
    version: Version = None,
    include: Annotated[Literal["values"] | None, Query(description="values: add the arrays as JSON")] = None,
) -> Response:
    services: Services = request.app.state.services
    v = resolve_version(services, version)
    # built by hand: pydantic would validate every weight of ?include=values one by one
    return json_response(params_summary(services.store, v, include == "values"))


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
    summary="Upload parameters: a new version, made active",
    responses={201: {"model": ParamsOut, "description": "the new, active version"},
               **error_responses(401, 403, 408, 413, 422, 503)},
    openapi_extra=_PUT_BODY,
    dependencies=[AdminAuth],
)
async def put_params(request: Request) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    body = await read_body(request, settings.max_upload_bytes, "max_upload_bytes")
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/"):
        try:
            files = [p for p in parse_multipart(body, content_type) if p.name == FILE_FIELD]
        except MultipartError as e:
            raise ApiError(422, Code.VALIDATION_ERROR, str(e)) from None
        if not files:
            raise missing_file()
        body = files[0].data
    version = await run_in_threadpool(_store_upload, services.store, body, settings.max_params_bytes)
    return json_response(
        params_summary(services.store, version), status=201, headers={"Location": f"/params?version={version}"}
    )


def _store_upload(store: ModelStore, data: bytes, max_params_bytes: int) -> int:
    check_params_size(data, max_params_bytes)  # before numpy allocates what the file declares
    try:
        parameters, metadata = load_parameters(data)
    except ParameterFileError as e:
        raise ApiError(422, Code.INVALID_PARAMS, str(e)) from None
    except UNREADABLE_ZIP:  # what load_parameters lets through: an encrypted or corrupt member
        raise ApiError(422, Code.INVALID_PARAMS, "not a readable .npz parameter file (corrupt, encrypted "
                       "or compressed with an unsupported method)") from None
    n_x = metadata["layer_dims"][0]
    if n_x != N_FEATURES:
        raise ApiError(
            422, Code.INCOMPATIBLE_PARAMS,
            f"W1 has {n_x} columns; this service classifies 64x64x3 images, so W1 needs {N_FEATURES}",
        )
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    metadata.setdefault("created_at", now)
    metadata["source"] = {"kind": "upload", "uploaded_at": now}
    try:
        version = store.add(parameters, metadata)
    except ValueError:  # json.dumps(allow_nan=False): the metadata holds NaN or infinity
        raise ApiError(422, Code.INVALID_PARAMS, "the file's metadata holds NaN or infinity; remove them") from None
    store.activate(version)
    return version
