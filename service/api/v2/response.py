"""P(cat) of a batch -> an inference response body: the JSON object, then the binary data
of the outputs asked for as binary (the JSON object's length goes in the
``Inference-Header-Content-Length`` header).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..inference import THRESHOLD
from ..responses import dumps
from .request import RequestedOutput
from .signature import OUTPUT_NAMES, OUTPUTS, PROBABILITY

CAT, NON_CAT = "cat", "non-cat"  # the native answer's labels
_DATATYPES = {o["name"]: o["datatype"] for o in OUTPUTS}
# a BYTES element in binary: its length as a 4-byte little-endian integer, then its bytes
_ENCODED = {label: len(label).to_bytes(4, "little") + label.encode() for label in (CAT, NON_CAT)}


def _shape(name: str, n: int) -> list[int]:
    return [n, 1] if name == PROBABILITY else [n]


def _json_data(name: str, proba: np.ndarray) -> Any:
    if name == PROBABILITY:
        return proba.astype(np.float32)  # (N,): orjson writes float32 in its shortest form
    return np.where(proba > THRESHOLD, CAT, NON_CAT).tolist()  # (N,) str


def _binary_data(name: str, proba: np.ndarray) -> bytes:
    if name == PROBABILITY:
        return proba.astype("<f4").tobytes()  # (N, 1) row-major: N little-endian floats
    return b"".join(np.where(proba > THRESHOLD, _ENCODED[CAT], _ENCODED[NON_CAT]).tolist())


def encode(
    proba: np.ndarray,
    *,
    model_name: str,
    model_version: int,
    request_id: str,
    requested: list[RequestedOutput] | None,
    binary_output: bool,
    parameters: dict[str, Any],
) -> tuple[bytes, int | None]:
    """The response to a batch whose P(cat) is ``proba`` (N,): (body, the JSON object's
    length when binary data follows it, else None). ``requested``: the request's outputs
    (None: all, each binary as ``binary_output`` says)."""
    wanted = [(name, binary_output) for name in OUTPUT_NAMES] if requested is None else [
        (o.name, binary_output if o.binary is None else o.binary) for o in requested]
    outputs, chunks = [], []
    for name, binary in wanted:
        out: dict[str, Any] = {"name": name, "datatype": _DATATYPES[name], "shape": _shape(name, len(proba))}
        if binary:
            chunks.append(_binary_data(name, proba))
            out["parameters"] = {"binary_data_size": len(chunks[-1])}
        else:
            out["data"] = _json_data(name, proba)
        outputs.append(out)
    header = dumps({"model_name": model_name, "model_version": str(model_version), "id": request_id,
                    "parameters": parameters, "outputs": outputs})
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)
