"""An inference request's body -> :class:`InferRequest`: the JSON object, and the binary
tensor data after it.

The body is ``<JSON object>[<binary data>]``. When binary data follows, the
``Inference-Header-Content-Length`` header gives the JSON object's length in bytes; each
input sent as binary says so with its ``binary_data_size`` parameter, and the binary
parts follow in the order of the inputs (Triton's binary tensor data extension). Outputs
come back as binary when asked: ``binary_data`` on a requested output, or
``binary_data_output`` on the request for all of them.

This module checks the protocol's shapes only (fields, their types, the binary sizes);
what the model's input accepts is :mod:`.tensors`. Every error is a 400 naming the field
(``inputs[0].shape``), never quoting the client's values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import ApiError, Code

HEADER_LENGTH = "inference-header-content-length"
_UNSUPPORTED_INPUT = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")
_UNSUPPORTED_OUTPUT = (*_UNSUPPORTED_INPUT, "classification")


@dataclass(frozen=True)
class Tensor:
    """One input: its JSON ``data`` (a list, flat or nested) or its binary bytes."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: list[Any] | None
    raw: bytes | None
    where: str  # "inputs[0]": what error messages call it


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None  # None: as the request's binary_data_output says


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None  # None: every output the model has
    binary_output: bool  # the request's binary_data_output
    # the JSON object's bytes: no ``true``/``false`` in them means no boolean anywhere in it
    json_text: bytes


def bad_request(message: str) -> ApiError:
    return ApiError(400, Code.INVALID_INFERENCE_REQUEST, message)


def bad_binary(message: str) -> ApiError:
    return ApiError(400, Code.INVALID_BINARY_DATA, message)


def split_body(body: bytes, header_lengths: list[str]) -> tuple[bytes, bytes]:
    """(JSON object, binary data) of a body, by its Inference-Header-Content-Length values."""
    if not header_lengths:
        return body, b""
    if len(header_lengths) > 1:
        raise bad_binary("send one Inference-Header-Content-Length header; this request has several")
    value = header_lengths[0].strip()
    if not (value.isdigit() and value.isascii() and len(value) <= 18) or not 0 < int(value) <= len(body):
        raise bad_binary(f"Inference-Header-Content-Length must be the length in bytes of the JSON object at the "
                         f"start of the body: a number from 1 to the body's length ({len(body)})")
    n = int(value)
    return body[:n], body[n:]


def parse_request(body: bytes, header_lengths: list[str]) -> InferRequest:
    """The inference request of ``body``; ``header_lengths``: its Inference-Header-Content-Length values."""
    text, binary = split_body(body, header_lengths)
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        if header_lengths:
            raise bad_request("the body's first Inference-Header-Content-Length bytes are not a valid JSON "
                              "object: that header must give the JSON object's exact length") from None
        raise bad_request("the inference request is not a valid JSON object (binary data after it needs the "
                          "Inference-Header-Content-Length header)") from None
    if not isinstance(doc, dict):
        raise bad_request("the inference request must be a JSON object with 'inputs'")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise bad_request("id must be a string")
    parameters = _parameters(doc, "parameters")
    binary_output = _flag(parameters, "binary_data_output", "parameters")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise bad_request("inputs must be a non-empty list of input tensors")
    inputs, offset = [], 0
    for i, raw in enumerate(raw_inputs):
        tensor, size = _input(raw, f"inputs[{i}]", binary, offset)
        inputs.append(tensor)
        offset += size
    if offset != len(binary):
        raise bad_binary(f"the body holds {len(binary)} bytes after the JSON object; the inputs' binary_data_size "
                         f"add up to {offset}")
    return InferRequest(request_id, inputs, _outputs(doc), bool(binary_output), text)


def _parameters(obj: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise bad_request(f"{where} must be an object of name: value pairs")
    return parameters


def _flag(parameters: dict[str, Any], name: str, where: str) -> bool | None:
    value = parameters.get(name)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"{where}.{name} must be true or false")
    return value


def _unsupported(parameters: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    for name in names:
        if name in parameters:
            raise bad_request(f"{where}.parameters.{name}: this server does not support it (its extensions are "
                              "listed by GET /v2); send the data in the request")


def _input(raw: Any, where: str, binary: bytes, offset: int) -> tuple[Tensor, int]:
    """The tensor at ``where`` and how many binary bytes it takes from ``offset``."""
    if not isinstance(raw, dict):
        raise bad_request(f"{where} must be an object with name, shape, datatype and data")
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str):
        raise bad_request(f"{where}.name must be a string")
    if not isinstance(datatype, str):
        raise bad_request(f"{where}.datatype must be a string such as \"UINT8\" or \"BYTES\"")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise ApiError(400, Code.INVALID_SHAPE, f"{where}.shape must be a list of non-negative integers")
    parameters = _parameters(raw, f"{where}.parameters")
    _unsupported(parameters, _UNSUPPORTED_INPUT, where)
    size = parameters.get("binary_data_size")
    data = raw.get("data")
    if size is None:
        if data is None:
            raise bad_request(f"{where} has neither data nor parameters.binary_data_size")
        if not isinstance(data, list):
            raise bad_request(f"{where}.data must be a list (flat or nested as the shape)")
        return Tensor(name, datatype, tuple(shape), data, None, where), 0
    if type(size) is not int or size < 0:
        raise bad_binary(f"{where}.parameters.binary_data_size must be a non-negative integer")
    if data is not None:
        raise bad_request(f"{where} has both data and parameters.binary_data_size; send one")
    if offset + size > len(binary):
        raise bad_binary(f"{where}.parameters.binary_data_size goes past the end of the body (the binary data "
                         f"after the JSON object holds {len(binary)} bytes)")
    return Tensor(name, datatype, tuple(shape), None, binary[offset:offset + size], where), size


def _outputs(doc: dict[str, Any]) -> list[RequestedOutput] | None:
    raw = doc.get("outputs")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise bad_request("outputs must be a list of requested outputs")
    outputs = []
    for i, out in enumerate(raw):
        where = f"outputs[{i}]"
        if not isinstance(out, dict) or not isinstance(out.get("name"), str):
            raise bad_request(f"{where} must be an object with a name")
        parameters = _parameters(out, f"{where}.parameters")
        _unsupported(parameters, _UNSUPPORTED_OUTPUT, where)
        outputs.append(RequestedOutput(out["name"], _flag(parameters, "binary_data", f"{where}.parameters")))
    return outputs
