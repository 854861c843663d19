"""The protocol's JSON objects as pydantic models, for the OpenAPI document only (the
endpoints build and read them with orjson)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from model_core import N_FEATURES

from .signature import BYTES, IMAGE, PIXEL_DATATYPES, PIXELS

Parameter = str | int | float | bool


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str] = Field(description="binary_tensor_data: Triton's binary tensor data extension")


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1: the batch, any size")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(description="every stored, readable version: each may be named in the URL")
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ResponseOutput(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: Literal["probability", "label"]
    datatype: Literal["FP32", "BYTES"]
    shape: list[int]
    parameters: dict[str, Parameter] | None = Field(None, description="binary_data_size: in the binary data")
    data: list[Any] | None = Field(None, description="JSON data (absent when sent as binary data)")


class InferResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    model_name: str
    model_version: str = Field(description="the version that answered")
    id: str = Field(description="the request's id, or else the service's request id (X-Request-ID)")
    parameters: dict[str, Parameter] = Field(description="synthetic, and dataset when known: what the "
                                             "version was trained on, as the native answer says")
    outputs: list[ResponseOutput]


_PARAMETERS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
INFER_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": _PARAMETERS,
        "inputs": {
            "type": "array", "minItems": 1, "maxItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype"],
                "properties": {
                    "name": {"enum": [PIXELS, IMAGE]},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                    "datatype": {"enum": [*PIXEL_DATATYPES, BYTES]},
                    "parameters": _PARAMETERS,
                    "data": {"type": "array"},
                },
            },
        },
        "outputs": {
            "type": "array",
            "items": {"type": "object", "required": ["name"],
                      "properties": {"name": {"enum": ["probability", "label"]}, "parameters": _PARAMETERS}},
        },
    },
}
_ONE_GREY_IMAGE = {"inputs": [{"name": PIXELS, "shape": [1, N_FEATURES], "datatype": "UINT8",
                               "data": [128] * N_FEATURES}]}
INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            f"An inference request object. `{PIXELS}`: pixel values 0..255 of 64x64x3 RGB images in row, column, "
            f"channel order, shape [N, {N_FEATURES}] or [N, 64, 64, 3], UINT8, INT32, FP32 or FP64, `data` flat or "
            f"nested. `{IMAGE}`: BYTES [N], encoded image files (base64 strings in JSON). Binary tensor data "
            "(Triton's extension) follows the JSON object, whose length the Inference-Header-Content-Length "
            "header gives; the body's Content-Type may then be application/octet-stream or absent."
        ),
        "content": {
            "application/json": {"schema": INFER_REQUEST_SCHEMA,
                                 "examples": {"grey": {"summary": "one plain grey 64x64 image",
                                                       "value": _ONE_GREY_IMAGE}}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
}
