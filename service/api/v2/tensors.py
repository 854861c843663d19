"""The request's input tensor -> what the model takes: pixel columns ``X (12288, N)`` or
the encoded image files of a ``BYTES`` tensor (decoded by the caller, as uploads are).

JSON data may be flat or nested as the shape; binary data is little-endian, row-major.
The checks are vectorized over the batch; a per-element scan runs only to name the first
bad element of data already known to be bad, or to look for booleans among the 0s and 1s
of integer data (bytearray() takes True for 1).
"""
from __future__ import annotations

import base64
import binascii
import math
import struct
from itertools import chain
from typing import Any

import numpy as np

from model_core import N_FEATURES

from ..errors import ApiError, Code
from ..limits import check_batch
from .request import InferRequest, Tensor, bad_binary, bad_request
from .signature import (
    BYTES,
    IMAGE,
    IMAGE_SHAPE,
    INTEGER_DATATYPES,
    OUTPUT_NAMES,
    PIXEL_DATATYPES,
    PIXELS,
)

_PIXEL_HELP = f"pixels takes shape [N, {N_FEATURES}] or [N, 64, 64, 3]"
_LENGTH = struct.Struct("<I")  # a BYTES element's length, before its bytes
_FEW_SMALL = 512  # 0s and 1s checked one by one for booleans; past that, the JSON is searched first


def the_input(request: InferRequest) -> Tensor:
    """The request's one input, named as the model's metadata names them; its outputs checked too."""
    if len(request.inputs) != 1:
        raise bad_request(f"send one input, '{PIXELS}' or '{IMAGE}'; this request has {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.name not in (PIXELS, IMAGE):
        raise bad_request(f"{tensor.where}.name: the model's inputs are '{PIXELS}' and '{IMAGE}' "
                          "(GET /v2/models/<name> lists them)")
    names = [o.name for o in request.outputs or ()]
    for i, name in enumerate(names):
        if name not in OUTPUT_NAMES:
            raise bad_request(f"outputs[{i}].name: the model's outputs are {', '.join(OUTPUT_NAMES)}")
        if name in names[:i]:
            raise bad_request(f"outputs[{i}] asks for the same output as an earlier one")
    return tensor


def batch_size(tensor: Tensor, max_batch: int) -> int:
    """N of the tensor's shape, its datatype and shape checked first (413 above ``max_batch``)."""
    if tensor.name == IMAGE:
        if tensor.datatype != BYTES:
            raise ApiError(400, Code.INVALID_DATATYPE, f"{tensor.where}.datatype: '{IMAGE}' takes BYTES "
                           "(encoded image files)")
        if len(tensor.shape) != 1:
            raise ApiError(400, Code.INVALID_SHAPE, f"{tensor.where}.shape: '{IMAGE}' takes shape [N], one "
                           "image file per element")
    else:
        if tensor.datatype not in PIXEL_DATATYPES:
            raise ApiError(400, Code.INVALID_DATATYPE, f"{tensor.where}.datatype: '{PIXELS}' takes "
                           f"{', '.join(PIXEL_DATATYPES)}; send image files as '{IMAGE}' (BYTES)")
        if tensor.shape[1:] not in ((N_FEATURES,), IMAGE_SHAPE):
            raise ApiError(400, Code.INVALID_SHAPE, f"{tensor.where}.shape: {_PIXEL_HELP}")
    n = tensor.shape[0]
    if n == 0:
        raise ApiError(400, Code.INVALID_SHAPE, f"{tensor.where}.shape: the batch N must be at least 1")
    check_batch(n, max_batch, "images")
    return n


# -- pixels
def pixel_columns(tensor: Tensor, n: int, json_text: bytes) -> np.ndarray:
    """X (12288, n), raw pixel values 0..255, from a ``pixels`` tensor of batch ``n``."""
    count = n * N_FEATURES
    if tensor.raw is not None:
        dtype = PIXEL_DATATYPES[tensor.datatype]
        if len(tensor.raw) != count * dtype.itemsize:
            raise bad_binary(f"{tensor.where}.parameters.binary_data_size: shape {list(tensor.shape)} of "
                             f"{tensor.datatype} is {count * dtype.itemsize} bytes, not {len(tensor.raw)}")
        values = np.frombuffer(tensor.raw, dtype=dtype)  # (count,)
        if dtype != np.uint8:
            _check_range(values, tensor.where)
    else:
        values = _json_numbers(elements(tensor, count), tensor, json_text)
    return values.reshape(n, N_FEATURES).T  # (12288, n): the course's columns


def _json_numbers(flat: list[Any], tensor: Tensor, json_text: bytes) -> np.ndarray:
    try:
        # integer pixels, the common body: bytearray() converts and range-checks a list of
        # ints in C, 10x faster than np.array (and 3x bytes(), which takes a slower path for
        # a list). It takes True and False for 1 and 0: those elements are looked at, unless
        # they are many and the JSON holds neither word (searching 50 kB costs as much)
        values = np.frombuffer(bytearray(flat), dtype=np.uint8)  # (count,)
    except (TypeError, ValueError):
        values = None
    if values is not None:
        small = np.flatnonzero(values <= 1)  # where a boolean could be
        if len(small) <= _FEW_SMALL or b"true" in json_text or b"false" in json_text:
            _reject_kinds([flat[i] for i in small.tolist()], tensor, small)
        return values
    _reject_kinds(flat, tensor)
    values = np.array(flat, dtype=np.float64)  # (count,)
    _check_range(values, tensor.where)
    return values.astype(PIXEL_DATATYPES[tensor.datatype])  # the declared type: FP32 data is float32


def _reject_kinds(values: list[Any], tensor: Tensor, index: np.ndarray | None = None) -> None:
    """400 naming the first element that is no number of the datatype (bool is not a number here)."""
    allowed = (int,) if tensor.datatype in INTEGER_DATATYPES else (int, float)
    if set(map(type, values)) <= set(allowed):
        return
    what = "an integer" if allowed == (int,) else "a number"
    j = next(j for j, v in enumerate(values) if type(v) not in allowed)
    position = j if index is None else int(index[j])
    raise ApiError(400, Code.INVALID_TENSOR_DATA, f"{tensor.where}.data: element {position} is not {what} "
                   f"({tensor.datatype}); pixel values are numbers 0..255")


def _check_range(values: np.ndarray, where: str) -> None:
    bad = ~((values >= 0) & (values <= 255))  # NaN is bad too
    if bad.any():
        raise ApiError(400, Code.INVALID_TENSOR_DATA, f"{where}: element {int(np.argmax(bad))} is out of range; "
                       "pixel values are 0..255")


def elements(tensor: Tensor, count: int) -> list[Any]:
    """The JSON data's elements in row-major order, flat or nested exactly as the shape."""
    data = tensor.data
    assert data is not None
    if data and type(data[0]) is list:  # nested: every level a list of the shape's length
        level: list[Any] = [data]
        for depth, d in enumerate(tensor.shape):
            if set(map(type, level)) != {list} or set(map(len, level)) != {d}:
                raise ApiError(400, Code.INVALID_SHAPE, f"{tensor.where}.data is nested, but not as the shape "
                               f"{list(tensor.shape)} (at depth {depth}); nest it so, or send it flat")
            level = list(chain.from_iterable(level))
        data = level
    if len(data) != count:
        raise ApiError(400, Code.INVALID_SHAPE, f"{tensor.where}.data holds {len(data)} elements; shape "
                       f"{list(tensor.shape)} has {math.prod(tensor.shape)}")
    return data


# -- image files
def image_files(tensor: Tensor, n: int) -> list[bytes]:
    """The n encoded files of a BYTES tensor: binary (each a 4-byte little-endian length and
    its bytes) or JSON (each a base64 string: a JSON string cannot hold a file's bytes)."""
    if tensor.raw is None:
        return [_base64(s, tensor.where, j) for j, s in enumerate(elements(tensor, n))]
    raw, files, at = tensor.raw, [], 0
    for j in range(n):  # each length says where the next element starts
        if at + _LENGTH.size > len(raw):
            raise bad_binary(f"{tensor.where}: the binary data ends before element {j}'s length; shape "
                             f"{list(tensor.shape)} needs {n} elements")
        (size,) = _LENGTH.unpack_from(raw, at)
        at += _LENGTH.size
        if at + size > len(raw):
            raise bad_binary(f"{tensor.where}: element {j}'s length goes past the end of its binary data")
        files.append(raw[at:at + size])
        at += size
    if at != len(raw):
        raise bad_binary(f"{tensor.where}: {len(raw) - at} bytes left after the {n} elements of shape "
                         f"{list(tensor.shape)}")
    return files


def _base64(value: Any, where: str, j: int) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise ApiError(400, Code.INVALID_TENSOR_DATA, f"{where}.data: element {j} is not a base64 string; in JSON a "
                   "BYTES element is an image file in base64 (or send the tensor as binary data)")
