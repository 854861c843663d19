"""POST /predict: images (multipart) or pixel instances (JSON) -> cat / non-cat.

The hot path: one stat of the active pointer, the body read under its limit, decoding,
one forward pass for the whole batch, a response built with orjson. No pydantic here;
the models in :mod:`service.api.schemas` only document the shapes.

Only reading the body runs on the event loop. Parsing, decoding and the forward pass run
on the worker's bounded thread pool (service.api.compute), except for a request bounded
tiny, one small image or JSON instance on a model measured fast, which runs inline:
the thread hop would cost it more than its work (README, "Design").
"""
from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from model_core import N_FEATURES

from ...settings import Settings
from ..auth import PREDICT_SECURITY, check_predict
from ..compute import INLINE_BODY_BYTES, INLINE_PIXELS, ForwardCosts
from ..errors import ApiError, Code, error_responses, no_model
from ..explain import check_explain_batch, explain_flag, explanations
from ..inference import (
    ImageLimits,
    file_parts,
    images_to_columns,
    instances_to_columns,
    predictions,
    small_image_column,
)
from ..limits import read_body
from ..model_cache import LoadedModel
from ..multipart import MultipartError, Part, parse_multipart
from ..responses import json_response
from ..schemas import PredictResponse
from ..services import Services
from ..uploads import media_type, unsupported_media_type

Names = list[str | None] | None  # the files' names; None for JSON instances

router = APIRouter(tags=["predict"])

_GREY_IMAGE = [[128] * N_FEATURES]
_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "Either images as multipart/form-data parts named `file` (any format Pillow reads, any size: "
            "each is squashed to 64x64 RGB), or JSON `{\"instances\": [[12288 numbers], ...]}`: pixel values "
            "0..255 of 64x64x3 RGB images unrolled in row, column, channel order (the course's "
            "`image.reshape(-1)`). `curl -F file=@cat.jpg http://127.0.0.1:8000/predict`"
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "format": "binary"},
                            "description": "one or more image files",
                        }
                    },
                },
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["instances"],
                    "additionalProperties": False,
                    "properties": {
                        "instances": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "array",
                                "minItems": N_FEATURES,
                                "maxItems": N_FEATURES,
                                "items": {"type": "number", "minimum": 0, "maximum": 255},
                            },
                        }
                    },
                },
                "examples": {"grey": {"summary": "one plain grey 64x64 image", "value": {"instances": _GREY_IMAGE}}},
            },
        },
    }
}

_EXPLAIN = {
    "name": "explain",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean", "default": False},
    "description": (
        "true: each prediction also carries `image_png`, the 64x64 picture the model saw (after EXIF "
        "rotation, squash and resize), and `saliency_png`, the gradient of P(cat) with respect to its "
        "pixels as a 64x64 grey heat map (max |gradient| over the channels, scaled to 0..255); both PNG "
        "in base64. At most CATSVC_MAX_EXPLAIN_BATCH images (413 BATCH_TOO_LARGE above)."
    ),
}


@router.post(
    "/predict",
    summary="Classify images or pixel instances",
    response_model=None,
    responses={200: {"model": PredictResponse, "description": "one prediction per file or instance"},
               **error_responses(401, 403, 408, 413, 415, 422, 503)},
    openapi_extra={**_BODY, "security": PREDICT_SECURITY, "parameters": [_EXPLAIN]},
)
async def predict(request: Request) -> Response:
    check_predict(request)
    services: Services = request.app.state.services
    settings = services.settings
    loaded = services.models.current()  # kept to the end: a version switch cannot touch it
    if loaded is None:
        raise await run_in_threadpool(no_model, services.queue, Code.NO_MODEL)  # reads the queue: Redis in cluster mode
    content_type = request.headers.get("content-type", "")
    kind = media_type(content_type)
    if kind not in ("multipart/form-data", "application/json"):
        raise unsupported_media_type(
            "send images as multipart/form-data parts named 'file', or JSON instances as application/json")
    # the common request has no query string: Starlette's parse of it cost 1.5% of a one-PNG request
    explain = explain_flag(request.query_params.get("explain")) if request.scope["query_string"] else False
    body = await read_body(request, settings.max_upload_bytes, "max_upload_bytes")
    if explain:  # more work per image: always on the pool, under its own batch limit
        explained = await services.pool.run(_explained, settings, loaded, kind, body, content_type)
        return _answer(loaded, *explained)
    X: np.ndarray | None = None
    names: Names = None
    if len(body) <= INLINE_BODY_BYTES:
        X, names = _small_columns(kind, body, content_type, settings)
        if X is not None and services.forward_costs.cheap(loaded.version, X.shape[1]):
            return _answer(loaded, services.forward_costs.predict_proba(loaded.version, loaded.model, X), names)
    proba, names = await services.pool.run(_off_loop, services.forward_costs, settings, loaded, kind, body,
                                           content_type, X, names)
    return _answer(loaded, proba, names)


def _small_columns(kind: str, body: bytes, content_type: str, settings: Settings) -> tuple[np.ndarray | None, Names]:
    """X of a body already known small: its JSON instances, or its one image if decoding it
    produces at most INLINE_PIXELS (only its header is read otherwise); (None, None) for
    anything else."""
    if kind == "application/json":
        return instances_to_columns(body, settings.max_batch), None
    files = file_parts(_parts(body, content_type), settings.max_batch)
    if len(files) != 1:
        return None, None
    X = small_image_column(files[0].data, ImageLimits.of(settings), INLINE_PIXELS)
    return X, ([files[0].filename] if X is not None else None)


def _off_loop(costs: ForwardCosts, settings: Settings, loaded: LoadedModel, kind: str, body: bytes,
              content_type: str, X: np.ndarray | None, names: Names) -> tuple[np.ndarray, Names]:
    """On a pool thread: X (unless already built), then the forward pass; P(cat) (m,)."""
    if X is None:
        if kind == "application/json":
            X = instances_to_columns(body, settings.max_batch)
        else:
            files = file_parts(_parts(body, content_type), settings.max_batch)
            X, names = images_to_columns(files, ImageLimits.of(settings)), [p.filename for p in files]
    return costs.predict_proba(loaded.version, loaded.model, X), names


def _explained(settings: Settings, loaded: LoadedModel, kind: str, body: bytes,
               content_type: str) -> tuple[np.ndarray, Names, list[dict[str, str]]]:
    """On a pool thread: X, P(cat) and each image's picture and saliency map."""
    names: Names = None
    if kind == "application/json":
        X = instances_to_columns(body, settings.max_batch)
        check_explain_batch(X.shape[1], settings)
    else:
        files = file_parts(_parts(body, content_type), settings.max_batch)
        check_explain_batch(len(files), settings)  # before anything is decoded
        X, names = images_to_columns(files, ImageLimits.of(settings)), [p.filename for p in files]
    return loaded.model.predict_proba(X), names, explanations(loaded.model, X)


def _parts(body: bytes, content_type: str) -> list[Part]:
    try:
        return parse_multipart(body, content_type)
    except MultipartError as e:
        raise ApiError(422, Code.VALIDATION_ERROR, str(e)) from None


def _answer(loaded: LoadedModel, proba: np.ndarray, names: Names,
            extra: list[dict[str, str]] | None = None) -> Response:
    answers = predictions(proba, names)
    for answer, more in zip(answers, extra or []):
        answer.update(more)
    content: dict[str, Any] = {"version": loaded.version, "dataset": loaded.dataset, "synthetic": loaded.synthetic,
                               "predictions": answers}
    return json_response(content, headers={"X-Model-Version": str(loaded.version)})
