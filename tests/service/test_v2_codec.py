"""service.api.v2's pure pieces: a body -> InferRequest (request.py), its input tensor ->
pixel columns or image files (tensors.py), probabilities -> a response body (response.py).

Binary tensors and responses are built and read by tritonclient's own helpers
(serialize_byte_tensor, InferResult), an implementation independent of ours.
"""
from __future__ import annotations

import base64
import math

import numpy as np
import orjson
import pytest

from service.api.errors import ApiError, Code
from service.api.v2.request import InferRequest, RequestedOutput, parse_request, split_body
from service.api.v2.response import encode
from service.api.v2.tensors import batch_size, image_files, pixel_columns, the_input

tritonutils = pytest.importorskip("tritonclient.utils")
from tritonclient.http import InferResult  # noqa: E402

N_X = 12288


def body_of(*inputs: dict, binary: bytes = b"", **fields: object) -> tuple[bytes, list[str]]:
    """A request body and its Inference-Header-Content-Length values (none without binary data)."""
    header = orjson.dumps({"inputs": list(inputs), **fields})
    return header + binary, [str(len(header))] if binary else []


def pixels_input(shape: list[int], datatype: str = "UINT8", **fields: object) -> dict:
    return {"name": "pixels", "shape": shape, "datatype": datatype, **fields}


def parse(*inputs: dict, binary: bytes = b"", **fields: object) -> InferRequest:
    return parse_request(*body_of(*inputs, binary=binary, **fields))


def columns(request: InferRequest, max_batch: int = 256) -> np.ndarray:
    tensor = the_input(request)
    return pixel_columns(tensor, batch_size(tensor, max_batch), request.json_text)


def error(call, *args: object, **kwargs: object) -> ApiError:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as e:
        call(*args, **kwargs)
    return e.value


IMAGES = np.random.RandomState(0).randint(0, 256, size=(3, N_X)).astype(np.uint8)  # (m, 12288)


# -- pixels: JSON, flat and nested, every datatype; binary, every datatype
@pytest.mark.parametrize("datatype", ["UINT8", "INT32", "FP32", "FP64"])
@pytest.mark.parametrize("shape", [[3, N_X], [3, 64, 64, 3]], ids=["flat-shape", "image-shape"])
@pytest.mark.parametrize("nested", [False, True])
def test_json_pixels_are_the_course_columns(datatype: str, shape: list[int], nested: bool) -> None:
    values = IMAGES.reshape(shape).astype(np.float32 if datatype.startswith("FP") else np.int64)
    data = values.tolist() if nested else values.reshape(-1).tolist()
    X = columns(parse(pixels_input(shape, datatype, data=data)))
    assert X.shape == (N_X, 3)
    np.testing.assert_array_equal(X, IMAGES.T)  # the native instances' layout: one column per image


@pytest.mark.parametrize("datatype, dtype", [("UINT8", "<u1"), ("INT32", "<i4"), ("FP32", "<f4"), ("FP64", "<f8")])
def test_binary_pixels_are_little_endian(datatype: str, dtype: str) -> None:
    raw = IMAGES.astype(dtype).tobytes()
    request = parse(pixels_input([3, N_X], datatype, parameters={"binary_data_size": len(raw)}), binary=raw)
    np.testing.assert_array_equal(columns(request), IMAGES.T)


def test_float_pixels_keep_their_fractions_in_the_declared_type() -> None:
    data = [0.1] * N_X
    X64 = columns(parse(pixels_input([1, N_X], "FP64", data=data)))
    X32 = columns(parse(pixels_input([1, N_X], "FP32", data=data)))
    assert X64.dtype == np.float64 and X64[0, 0] == 0.1
    assert X32.dtype == np.float32 and X32[0, 0] == np.float32(0.1)


@pytest.mark.parametrize("value, datatype", [
    (256, "UINT8"), (-1, "INT32"), (255.5, "FP32"), (1e300, "FP64"),   # out of range
    ("12", "UINT8"), ("12", "FP32"), (None, "FP64"), ([1], "UINT8"),     # not numbers
    (True, "UINT8"), (False, "FP32"),                                   # booleans are not pixels
    (12.5, "UINT8"), (3.0, "INT32"),                                   # fractions in integer types
])
def test_bad_json_elements_are_named(value: object, datatype: str) -> None:
    data = [7] * N_X
    data[1234] = value
    request = parse(pixels_input([1, N_X], datatype, data=data),
                    outputs=[{"name": "label", "parameters": {"binary_data": False}}])  # a "false" elsewhere
    e = error(columns, request)
    assert (e.status, e.code) == (400, Code.INVALID_TENSOR_DATA)
    assert "element 1234" in e.message


def test_zeros_and_ones_are_pixels_when_the_json_holds_booleans_elsewhere() -> None:
    data = [0, 1] * (N_X // 2)
    request = parse(pixels_input([1, N_X], data=data), parameters={"binary_data_output": True})
    assert b"true" in request.json_text
    np.testing.assert_array_equal(columns(request)[:, 0], data)


def test_a_boolean_among_many_zeros_is_found() -> None:
    data = [0] * N_X
    data[5000] = True
    e = error(columns, parse(pixels_input([1, N_X], data=data)))
    assert e.code == Code.INVALID_TENSOR_DATA and "element 5000" in e.message
    np.testing.assert_array_equal(columns(parse(pixels_input([1, N_X], data=[0] * N_X))), 0)  # a black image


@pytest.mark.parametrize("dtype, value", [("<f4", np.nan), ("<f8", np.inf), ("<f4", -0.5), ("<i4", 300)])
def test_bad_binary_elements_are_refused(dtype: str, value: float) -> None:
    values = IMAGES[:1].astype(dtype)
    values[0, 99] = value
    datatype = {"<f4": "FP32", "<f8": "FP64", "<i4": "INT32"}[dtype]
    raw = values.tobytes()
    request = parse(pixels_input([1, N_X], datatype, parameters={"binary_data_size": len(raw)}), binary=raw)
    e = error(columns, request)
    assert (e.status, e.code) == (400, Code.INVALID_TENSOR_DATA) and "element 99" in e.message


@pytest.mark.parametrize("shape", [[1, 100], [N_X], [1, 64, 64], [1, 3, 64, 64], [1, N_X, 1], [0, N_X]])
def test_shapes_the_input_does_not_take(shape: list[int]) -> None:
    e = error(columns, parse(pixels_input(shape, data=[0] * max(1, math.prod(shape)))))
    assert (e.status, e.code) == (400, Code.INVALID_SHAPE)


@pytest.mark.parametrize("data", [[0] * (N_X - 1), [0] * (N_X + 1), [[0] * N_X, [0] * N_X],
                                  [[0] * (N_X - 1) + [[0]]], [[[0] * 3] * 4096]],
                         ids=["short", "long", "two-rows-for-one", "ragged", "nested-as-another-shape"])
def test_data_that_does_not_fill_the_shape(data: list) -> None:
    e = error(columns, parse(pixels_input([1, N_X], data=data)))
    assert e.code in (Code.INVALID_SHAPE, Code.INVALID_TENSOR_DATA) and e.status == 400


@pytest.mark.parametrize("datatype", ["BYTES", "FP16", "BOOL", "UINT16", "uint8"])
def test_datatypes_pixels_does_not_take(datatype: str) -> None:
    e = error(columns, parse(pixels_input([1, N_X], datatype, data=[0] * N_X)))
    assert (e.status, e.code) == (400, Code.INVALID_DATATYPE)


def test_the_batch_limit_is_checked_on_the_shape_before_the_data() -> None:
    e = error(columns, parse(pixels_input([10**12, N_X], data=[0])), 256)
    assert (e.status, e.code, e.extra["limit"]) == (413, Code.BATCH_TOO_LARGE, 256)


# -- image files
FILES = [b"\x89PNG first file", b"", b"\xff\xd8 a jpeg \x00\x01"]


def files_of(request: InferRequest) -> list[bytes]:
    tensor = the_input(request)
    return image_files(tensor, batch_size(tensor, 256))


def test_binary_bytes_elements_are_length_prefixed() -> None:
    raw = tritonutils.serialize_byte_tensor(np.array(FILES, dtype=np.object_)).item()
    request = parse({"name": "image", "shape": [3], "datatype": "BYTES",
                     "parameters": {"binary_data_size": len(raw)}}, binary=raw)
    assert files_of(request) == FILES


def test_json_bytes_elements_are_base64() -> None:
    request = parse({"name": "image", "shape": [3], "datatype": "BYTES",
                     "data": [base64.b64encode(f).decode() for f in FILES]})
    assert files_of(request) == FILES


@pytest.mark.parametrize("raw", [b"\x05\x00\x00\x00abc", b"\x01\x00", b"\x01\x00\x00\x00a" * 3 + b"extra"],
                         ids=["element-past-the-end", "length-cut", "bytes-left"])
def test_broken_binary_bytes(raw: bytes) -> None:
    request = parse({"name": "image", "shape": [3], "datatype": "BYTES",
                     "parameters": {"binary_data_size": len(raw)}}, binary=raw)
    e = error(files_of, request)
    assert (e.status, e.code) == (400, Code.INVALID_BINARY_DATA)


@pytest.mark.parametrize("element", ["not base64!", 12, None])
def test_json_bytes_that_are_not_base64(element: object) -> None:
    e = error(files_of, parse({"name": "image", "shape": [1], "datatype": "BYTES", "data": [element]}))
    assert (e.status, e.code) == (400, Code.INVALID_TENSOR_DATA)


@pytest.mark.parametrize("tensor, code", [
    ({"name": "image", "shape": [1], "datatype": "UINT8", "data": [1]}, Code.INVALID_DATATYPE),
    ({"name": "image", "shape": [1, 1], "datatype": "BYTES", "data": ["AA=="]}, Code.INVALID_SHAPE),
    ({"name": "photo", "shape": [1], "datatype": "BYTES", "data": ["AA=="]}, Code.INVALID_INFERENCE_REQUEST),
])
def test_image_input_checks(tensor: dict, code: str) -> None:
    assert error(files_of, parse(tensor)).code == code


# -- the request object and the Inference-Header-Content-Length rules
def test_the_fields_are_read() -> None:
    request = parse(pixels_input([1, N_X], data=[0] * N_X), id="42", parameters={"binary_data_output": True},
                    outputs=[{"name": "label"}, {"name": "probability", "parameters": {"binary_data": False}}])
    assert request.id == "42" and request.binary_output is True
    assert request.outputs == [RequestedOutput("label", None), RequestedOutput("probability", False)]


def test_binary_parts_follow_the_json_in_the_order_of_the_inputs() -> None:
    first, second = b"\x01" * 5, b"\x02" * 3
    request = parse({"name": "a", "shape": [5], "datatype": "UINT8", "parameters": {"binary_data_size": 5}},
                    {"name": "b", "shape": [3], "datatype": "UINT8", "parameters": {"binary_data_size": 3}},
                    binary=first + second)
    assert [t.raw for t in request.inputs] == [first, second]


@pytest.mark.parametrize("values", [["abc"], ["0"], ["-5"], ["1e3"], ["99999"], ["5", "5"], ["１２"]])
def test_inference_header_content_length_must_be_the_json_length(values: list[str]) -> None:
    e = error(split_body, b'{"inputs": []}', values)
    assert (e.status, e.code) == (400, Code.INVALID_BINARY_DATA)


def test_a_header_length_that_cuts_the_json_is_refused() -> None:
    body, _ = body_of(pixels_input([1, N_X], parameters={"binary_data_size": 1}), binary=b"\x00")
    e = error(parse_request, body, [str(len(body) - 5)])
    assert (e.status, e.code) == (400, Code.INVALID_INFERENCE_REQUEST)
    assert "Inference-Header-Content-Length" in e.message


@pytest.mark.parametrize("size, binary", [(10, b"\x00" * 5), (5, b"\x00" * 10), (0, b"\x00")],
                         ids=["past-the-end", "bytes-left-over", "none-claimed"])
def test_binary_sizes_must_add_up_to_the_binary_data(size: int, binary: bytes) -> None:
    e = error(parse, pixels_input([1, N_X], parameters={"binary_data_size": size}), binary=binary)
    assert (e.status, e.code) == (400, Code.INVALID_BINARY_DATA)


def test_binary_data_without_the_header_is_not_json() -> None:
    body = orjson.dumps({"inputs": [pixels_input([1, N_X], parameters={"binary_data_size": 4})]}) + b"\x00" * 4
    e = error(parse_request, body, [])
    assert e.code == Code.INVALID_INFERENCE_REQUEST and "Inference-Header-Content-Length" in e.message


def test_a_binary_size_that_does_not_fit_the_shape() -> None:
    e = error(columns, parse(pixels_input([1, N_X], parameters={"binary_data_size": 4}), binary=b"\x00" * 4))
    assert (e.status, e.code) == (400, Code.INVALID_BINARY_DATA)


@pytest.mark.parametrize("doc", [
    b"[]", b'{"inputs": []}', b'{"inputs": {}}', b'{"inputs": [1]}', b"not json", b'{"inputs": [{}]}',
    b'{"id": 42, "inputs": []}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": "UINT8"}]}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": "UINT8", "data": 5}]}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": 8, "data": [5]}]}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": "UINT8", "data": [5], "parameters": []}]}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": "UINT8", "data": [5],'
    b' "parameters": {"binary_data_size": 1}}]}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": "UINT8",'
    b' "parameters": {"shared_memory_region": "r"}}]}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": "UINT8", "data": [5]}],'
    b' "outputs": [{"name": "label", "parameters": {"classification": 2}}]}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": "UINT8", "data": [5]}],'
    b' "parameters": {"binary_data_output": "yes"}}',
    b'{"inputs": [{"name": "pixels", "shape": [1], "datatype": "UINT8", "data": [5]}], "outputs": [{}]}',
])
def test_malformed_requests(doc: bytes) -> None:
    e = error(parse_request, doc, [])
    assert e.status == 400
    assert e.code in (Code.INVALID_INFERENCE_REQUEST, Code.INVALID_SHAPE, Code.INVALID_BINARY_DATA)


@pytest.mark.parametrize("shape", [[-1, N_X], [1.0, N_X], [True, N_X], "1,12288"])
def test_shapes_must_be_non_negative_integers(shape: object) -> None:
    e = error(parse, pixels_input(shape, data=[0]))  # type: ignore[arg-type]
    assert (e.status, e.code) == (400, Code.INVALID_SHAPE)


@pytest.mark.parametrize("outputs", [[{"name": "logits"}], [{"name": "label"}, {"name": "label"}]])
def test_outputs_the_model_does_not_have_or_twice(outputs: list) -> None:
    e = error(the_input, parse(pixels_input([1, N_X], data=[0] * N_X), outputs=outputs))
    assert (e.status, e.code) == (400, Code.INVALID_INFERENCE_REQUEST)


def test_one_input_only() -> None:
    one = pixels_input([1, N_X], data=[0] * N_X)
    e = error(the_input, parse(one, {**one, "name": "image"}))
    assert (e.status, e.code) == (400, Code.INVALID_INFERENCE_REQUEST)


# -- the response, read back by tritonclient's InferResult
PROBA = np.array([0.9, 0.2, 0.5, 0.50001])  # 0.5 is not a cat: the label is cat above it


def read_back(requested: list[RequestedOutput] | None, binary_output: bool) -> tuple[dict, InferResult]:
    body, header_length = encode(PROBA, model_name="catvnoncat", model_version=3, request_id="r1",
                                 requested=requested, binary_output=binary_output, parameters={"synthetic": False})
    result = InferResult.from_response_body(body, header_length=header_length)
    return orjson.loads(body[:header_length]), result


@pytest.mark.parametrize("binary_output", [False, True])
def test_every_output_by_default(binary_output: bool) -> None:
    doc, result = read_back(None, binary_output)
    assert (doc["model_name"], doc["model_version"], doc["id"]) == ("catvnoncat", "3", "r1")
    assert [o["name"] for o in doc["outputs"]] == ["probability", "label"]
    assert all(("parameters" in o) == binary_output and ("data" in o) != binary_output for o in doc["outputs"])
    probability = result.as_numpy("probability")
    assert probability.dtype == np.float32 and probability.shape == (4, 1)
    np.testing.assert_array_equal(probability[:, 0], PROBA.astype(np.float32))
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
    assert labels == ["cat", "non-cat", "non-cat", "cat"]


def test_each_requested_output_as_it_asks() -> None:
    doc, result = read_back([RequestedOutput("label", True), RequestedOutput("probability", None)], False)
    assert [(o["name"], "data" in o) for o in doc["outputs"]] == [("label", False), ("probability", True)]
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": 2 * (4 + 3) + 2 * (4 + 7)}
    assert list(result.as_numpy("label")) == [b"cat", b"non-cat", b"non-cat", b"cat"]


def test_json_only_has_no_header_length() -> None:
    body, header_length = encode(PROBA, model_name="m", model_version=1, request_id="", requested=[
        RequestedOutput("probability", False)], binary_output=True, parameters={})
    assert header_length is None
    data = orjson.loads(body)["outputs"][0]["data"]  # float32's shortest digits, read back as float32
    np.testing.assert_array_equal(np.array(data, dtype=np.float32), PROBA.astype(np.float32))
