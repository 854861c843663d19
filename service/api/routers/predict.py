"""POST /predict: images (multipart) or pixel instances (JSON) -> cat / non-cat.

The hot path: one stat of the active pointer, the body read under its limit, decoding,
one forward pass for the whole batch, a response built with orjson. No pydantic here;
the models in :mod:`service.api.schemas` only document the shapes.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from model_core.data import N_FEATURES

from ..auth import PREDICT_SECURITY, check_predict
from ..errors import ApiError, Code, error_responses, no_model
from ..inference import ImageLimits, file_parts, images_to_columns, instances_to_columns, predictions
from ..limits import read_body
from ..multipart import MultipartError, parse_multipart
from ..responses import json_response
from ..schemas import PredictResponse
from ..services import Services
from ..uploads import media_type, unsupported_media_type

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


@router.post(
    "/predict",
    summary="Classify images or pixel instances",
    response_model=None,
    responses={200: {"model": PredictResponse, "description": "one prediction per file or instance"},
               **error_responses(401, 403, 408, 413, 415, 422, 503)},
    openapi_extra={**_BODY, "security": PREDICT_SECURITY},
)
async def predict(request: Request) -> Response:
    check_predict(request)
    services: Services = request.app.state.services
    settings = services.settings
    loaded = services.models.current()  # kept to the end: a version switch cannot touch it
    if loaded is None:
        raise no_model(services.queue, Code.NO_MODEL)
    content_type = request.headers.get("content-type", "")
    kind = media_type(content_type)
    if kind not in ("multipart/form-data", "application/json"):
        raise unsupported_media_type(
            "send images as multipart/form-data parts named 'file', or JSON instances as application/json")
    body = await read_body(request, settings.max_upload_bytes, "max_upload_bytes")
    if kind == "application/json":
        X, names = instances_to_columns(body, settings.max_batch), None
    else:
        try:
            parts = parse_multipart(body, content_type)
        except MultipartError as e:
            raise ApiError(422, Code.VALIDATION_ERROR, str(e)) from None
        files = file_parts(parts, settings.max_batch)
        X, names = images_to_columns(files, ImageLimits.of(settings)), [p.filename for p in files]
    proba = loaded.model.predict_proba(X)  # (m,)
    return json_response(
        {"version": loaded.version, "dataset": loaded.dataset, "synthetic": loaded.synthetic,
         "predictions": predictions(proba, names)},
        headers={"X-Model-Version": str(loaded.version)},
    )
