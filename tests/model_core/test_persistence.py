"""save_parameters / load_parameters: round trips, the course's files, every bad file."""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_core import (
    ConfigError,
    Model,
    ParameterFileError,
    TrainConfig,
    build_metadata,
    initialize_parameters,
    load_parameters,
    save_parameters,
    train,
)
from model_core.persistence import METADATA_KEY
from model_core.training import predict_labels


@pytest.fixture
def params() -> dict[str, np.ndarray]:
    return initialize_parameters([8, 4, 3, 1], "he", seed=0)


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_round_trip_keeps_arrays_dtypes_and_metadata(tmp_path: Path) -> None:
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, (8, 30)).astype(np.uint8)
    Y = (rng.rand(1, 30) > 0.5).astype(int)
    config = TrainConfig(layer_dims=(8, 4, 1), iterations=20, dtype="float32", input_norm="per_image")
    parameters, history = train(X, Y, config)
    meta = build_metadata(config, history, data_sha256="ab" * 32, metrics={"train_accuracy": 0.5})
    save_parameters(tmp_path / "m.npz", parameters, meta)
    loaded, meta2 = load_parameters(tmp_path / "m.npz")
    assert list(loaded) == ["W1", "b1", "W2", "b2"]
    for k in parameters:
        assert loaded[k].dtype == np.float32
        np.testing.assert_array_equal(loaded[k], parameters[k])
    assert meta2["config"] == config.to_dict()
    assert meta2["layer_dims"] == [8, 4, 1] and meta2["input_norm"] == "per_image"
    assert meta2["costs"] == [[0, history["costs"][0][1]], [19, history["costs"][-1][1]]]
    assert meta2["data_sha256"] == "ab" * 32 and meta2["created_at"].endswith("+00:00")
    assert TrainConfig.from_dict(meta2["config"]) == config
    # the model predicts with its own normalization
    expected = predict_labels(X, parameters, config)
    assert ((Model(loaded, meta2).predict_proba(X) > 0.5).astype(int) == expected[0]).all()


def test_loads_the_course_np_savez_file(tmp_path: Path, params) -> None:
    path = _npz(tmp_path / "course.npz", **params)
    loaded, meta = load_parameters(path)
    assert meta["layer_dims"] == [8, 4, 3, 1]
    assert meta["hidden_activation"] == "relu" and meta["input_norm"] == "scale"
    np.testing.assert_array_equal(loaded["W3"], params["W3"])


def test_loads_from_bytes_and_file_objects(tmp_path: Path, params) -> None:
    path = _npz(tmp_path / "p.npz", **params)
    data = path.read_bytes()
    assert load_parameters(data)[1]["layer_dims"] == [8, 4, 3, 1]
    assert load_parameters(io.BytesIO(data))[1]["layer_dims"] == [8, 4, 3, 1]


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path, params) -> None:
    path = tmp_path / "m.npz"
    save_parameters(path, params, {"engine": "first"})
    bad = dict(params, W2=np.zeros((9, 9)))
    with pytest.raises(ParameterFileError):
        save_parameters(path, bad, {"engine": "second"})
    with pytest.raises(ParameterFileError, match="field"):  # a record no reader would accept
        save_parameters(path, params, {"note": "second"})
    assert load_parameters(path)[1]["engine"] == "first"
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def _bad(tmp_path: Path, params, **changes) -> Path:
    arrays = dict(params)
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    return _npz(tmp_path / "bad.npz", **arrays)


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"W2": None}, "missing array\\(s\\) W2"),
        ({"b3": None}, "missing array\\(s\\) b3"),
        ({"gamma": np.zeros(3)}, "1 unexpected array\\(s\\); expected only W1..WL and b1..bL$"),
        ({"W2": np.zeros((5, 4))}, "b2 must have shape \\(5, 1\\); got \\(3, 1\\)"),
        ({"W2": np.zeros((3, 5))}, "W2 must have shape \\(3, 4\\); got \\(3, 5\\)"),
        ({"b1": np.zeros(4)}, "b1 must be 2-dimensional"),
        ({"b1": np.zeros((4, 2))}, "b1 must have shape \\(4, 1\\); got \\(4, 2\\)"),
        ({"W1": np.full((4, 8), np.nan)}, "W1 holds non-finite values"),
        ({"W3": np.ones((1, 3), dtype=np.int64)}, "W3 must hold floats"),
        ({"W3": np.zeros((2, 3)), "b3": np.zeros((2, 1))}, "1 unit"),
    ],
)
def test_bad_arrays_are_named(tmp_path: Path, params, changes, match) -> None:
    with pytest.raises(ParameterFileError, match=match):
        load_parameters(_bad(tmp_path, params, **changes))


def test_pickled_object_array_is_refused(tmp_path: Path, params) -> None:
    path = _npz(tmp_path / "evil.npz", **params, W9=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ParameterFileError, match="pickled"):
        load_parameters(path)


def test_truncated_file(tmp_path: Path, params) -> None:
    data = _npz(tmp_path / "p.npz", **params).read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ParameterFileError, match="truncated or corrupt|not a valid"):
        load_parameters(tmp_path / "t.npz")


@pytest.mark.parametrize("content", [b"", b"hello, not an npz", b"PK\x03\x04garbage"])
def test_not_an_npz(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.npz").write_bytes(content)
    with pytest.raises(ParameterFileError):
        load_parameters(tmp_path / "x.npz")


def test_a_single_npy_is_not_a_parameter_file(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ParameterFileError, match="single .npy"):
        load_parameters(tmp_path / "a.npy")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParameterFileError, match="no such parameter file"):
        load_parameters(tmp_path / "nope.npz")


def test_empty_archive(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "e.npz", "w"):
        pass
    with pytest.raises(ParameterFileError, match="no parameters found"):
        load_parameters(tmp_path / "e.npz")


def test_a_zip_of_images_is_told_it_is_a_data_set() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            picture = io.BytesIO()
            Image.new("RGB", (8, 8)).save(picture, "PNG")
            zf.writestr(f"cat/{i}.png", picture.getvalue())
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(buf.getvalue())
    assert str(caught.value) == ("3 unexpected array(s); expected only W1..WL and b1..bL; a zip of images is a "
                                 "data set (POST /datasets, or --data)")


@pytest.mark.parametrize(
    "meta,match",
    [
        (np.array("{not json"), "not valid JSON"),
        (np.array("[1, 2]"), "JSON object"),
        (np.array(json.dumps({"layer_dims": [8, 5, 1]})), "layer_dims does not match"),
        (np.array(json.dumps({"hidden_activation": "gelu"})), "hidden_activation must be one of"),
        (np.array(json.dumps({"input_norm": "zscore"})), "input_norm must be one of"),
        (np.zeros(3), "one JSON string"),
        (np.array("[" * 5000 + "]" * 5000), "nested too deeply"),  # a RecursionError in json, not a 500
        (np.array('{"config": ' + "[" * 900 + "]" * 900 + "}"), "config must be an object"),
    ],
)
def test_bad_metadata(tmp_path: Path, params, meta, match) -> None:
    path = _npz(tmp_path / "m.npz", **params, **{METADATA_KEY: meta})
    with pytest.raises(ParameterFileError, match=match):
        load_parameters(path)


@pytest.mark.parametrize(("data", "said"), [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "a PNG image"),
    (b"\xff\xd8\xff\xe0" + b"\0" * 40, "a JPEG image"),
    (b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 20, "a WebP image"),
    (b"W1,b1\n0.1,0.2\n", "text"),
    (b"\x89HDF\r\n\x1a\n" + b"\0" * 40, "an HDF5 file"),
    (b"\x00\x01\x02\x03\xfe\xfd" * 4, "binary data"),
])
def test_a_file_that_is_not_an_npz_says_what_it_is(tmp_path: Path, data: bytes, said: str) -> None:
    """The course's np.save / an image / text must not be called 'a pickled array'."""
    (tmp_path / "f").write_bytes(data)
    for source in (data, tmp_path / "f", io.BytesIO(data)):
        with pytest.raises(ParameterFileError, match="not an .npz parameter file") as caught:
            load_parameters(source)
        assert said in str(caught.value) and "pickle" not in str(caught.value)


def test_a_single_npy_array_is_named(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    with pytest.raises(ParameterFileError, match="a single .npy array"):
        load_parameters(buf.getvalue())


def test_a_real_object_array_still_says_pickle() -> None:
    buf = io.BytesIO()
    np.savez(buf, W1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ParameterFileError, match="pickled"):
        load_parameters(buf.getvalue())


# -- max_bytes, max_arrays: bounded from the zip's and the .npy headers, before np.load
def _declared(path: Path) -> int:
    """The uncompressed bytes an .npz's members declare in all (what max_bytes bounds)."""
    with zipfile.ZipFile(path) as zf:
        return sum(info.file_size for info in zf.infolist())


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_max_bytes_at_the_limit_loads_from_every_kind_of_source(tmp_path: Path, params) -> None:
    path = tmp_path / "m.npz"
    save_parameters(path, params, {"engine": "dense"})
    size = _declared(path)
    for source in (path, path.read_bytes(), io.BytesIO(path.read_bytes())):
        loaded, meta = load_parameters(source, max_bytes=size, max_arrays=7)  # W1..b3 and the metadata
        assert list(loaded) == ["W1", "b1", "W2", "b2", "W3", "b3"] and meta["engine"] == "dense"
        np.testing.assert_array_equal(loaded["W2"], params["W2"])


def test_a_stream_is_read_from_where_it_was(tmp_path: Path, params) -> None:
    """The header check opens the zip too; np.load must still start where the caller left the stream."""
    path = _npz(tmp_path / "p.npz", **params)
    stream = io.BytesIO(b"head" + path.read_bytes())
    stream.seek(4)
    assert load_parameters(stream, max_bytes=_declared(path))[1]["layer_dims"] == [8, 4, 3, 1]


def test_one_byte_over_max_bytes_is_refused_before_any_array_is_read(tmp_path: Path, params, monkeypatch) -> None:
    path = tmp_path / "m.npz"
    save_parameters(path, params, {})
    size = _declared(path)

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("np.load ran: the limit was checked too late")

    monkeypatch.setattr(np, "load", no_load)
    with pytest.raises(ParameterFileError, match=f"above the limit max_bytes={size - 1}") as caught:
        load_parameters(path.read_bytes(), max_bytes=size - 1)
    e = caught.value
    assert (e.limit, e.value, e.actual, e.field) == ("max_bytes", size - 1, size, None)


def test_a_deflate_bomb_is_refused_from_its_declared_size(tmp_path: Path) -> None:
    """8 MB of zeros deflate to a few KB: the zip's declared size is what counts."""
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, W1=np.zeros((1, 2**20)), b1=np.zeros((1, 1)))
    assert path.stat().st_size < 2**16
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(path, max_bytes=2**20)
    assert caught.value.limit == "max_bytes" and caught.value.actual > 8 * 2**20


def test_max_arrays_counts_the_members(tmp_path: Path, params) -> None:
    path = tmp_path / "m.npz"
    save_parameters(path, params, {})
    with pytest.raises(ParameterFileError, match=r"holds 7 arrays.*at most 6 arrays") as caught:
        load_parameters(path, max_arrays=6)
    assert (caught.value.limit, caught.value.value, caught.value.actual) == ("max_arrays", 6, 7)


def test_a_header_declaring_more_than_its_member_holds_is_refused_unread(tmp_path: Path) -> None:
    """W1 asks numpy for ~100 GB from 64 bytes: without the check, a MemoryError."""
    path = _zip(tmp_path / "lying.npz", {"W1.npy": _npy_header((10**6, 12288)) + b"\0" * 64,
                                         "b1.npy": _npy_header((10**6, 1))})
    for limits in ({}, {"max_bytes": 1 << 30}):
        with pytest.raises(ParameterFileError, match="declares more data than its file holds") as caught:
            load_parameters(path, **limits)
        assert caught.value.limit is None


def test_an_npy_version_that_is_not_checked_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros((1, 1)), version=(3, 0))
    path = _zip(tmp_path / "v3.npz", {"W1.npy": buf.getvalue(), "b1.npy": buf.getvalue()})
    with pytest.raises(ParameterFileError, match="unsupported .npy version"):
        load_parameters(path)


def test_an_encrypted_member_is_named_unreadable(tmp_path: Path, params) -> None:
    data = bytearray(_npz(tmp_path / "p.npz", **params).read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the "encrypted" flag, both headers
        data[data.find(signature) + offset] |= 1
    with pytest.raises(ParameterFileError, match="not a readable .npz parameter file"):
        load_parameters(bytes(data), max_bytes=1 << 20)


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "100"])
def test_a_bad_limit_argument_is_a_config_error(tmp_path: Path, params, limit) -> None:
    path = _npz(tmp_path / "p.npz", **params)
    for name in ("max_bytes", "max_arrays"):
        with pytest.raises(ConfigError, match=f"{name} must be a positive int"):
            load_parameters(path, **{name: limit})


# What a file that is not an .npz looks like is said in words, exactly (issue 15: a
# substring match let "XXit is textXX" pass); the head is the first 16 bytes.
@pytest.mark.parametrize(("data", "said"), [
    (b"", "the file is empty"),
    (b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 20, "it is a WebP image"),
    (b"RIFF$\0\0\0WAVEfmt " + b"\0" * 20, "it is binary data of an unknown kind"),  # RIFF, not WebP
    (b"W1,b1\n0.1,0.2\n", "it is text"),
    ("weights: 0.1, 0\u20ac\u20ac".encode(), "it is text"),  # byte 16 cuts a euro sign: still text
    (b"hello world!\xffabc", "it is binary data of an unknown kind"),  # a bad byte before the last 3
    (b"\0" * 16, "it is binary data of an unknown kind"),  # valid UTF-8, but not printable
    (b"\x00\x01\x02\x03\xfe\xfd" * 4, "it is binary data of an unknown kind"),
])
def test_a_file_that_is_not_an_npz_is_described_exactly(tmp_path: Path, data: bytes, said: str) -> None:
    (tmp_path / "f").write_bytes(data)
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(tmp_path / "f")
    assert str(caught.value) == f"not an .npz parameter file: {said}"


@pytest.mark.parametrize(("dtype", "said"), [
    (np.bool_, "booleans"), (np.int16, "integers"), (np.uint8, "unsigned integers"), (np.float32, "floats"),
    (np.complex128, "complex numbers"), ("S4", "byte strings"), ("U4", "strings"), (object, "objects"),
    ("V4", "raw bytes"), ("datetime64[s]", "dates"), ("timedelta64[s]", "durations"),
    ([("name", "i4")], "records (a compound type)"), (np.dtypes.StringDType(), "values of an unsupported type"),
])
def test_a_dtype_is_described_by_its_kind_without_its_field_names(dtype, said: str) -> None:
    from model_core.errors import describe_dtype

    assert describe_dtype(np.dtype(dtype)) == said


# a network of layers (architecture.py): the arrays must be exactly the architecture's
TINY = [{"type": "input", "n_H": 2, "n_W": 2, "n_C": 1}, {"type": "flatten"},
        {"type": "dense", "n": 3, "activation": "relu"}, {"type": "dense", "n": 1, "activation": "sigmoid"}]


def _tiny_arrays() -> dict[str, np.ndarray]:
    return {"W1": np.ones((3, 4)), "b1": np.zeros((3, 1)), "W2": np.ones((1, 3)), "b2": np.zeros((1, 1))}


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: [p.pop("W1"), p.pop("b2")], "missing array(s) W1, b2 of the architecture"),
    (lambda p: p.update(W3=np.ones((1, 1))), "1 array(s) the architecture does not have; it has W1, b1, W2, b2"),
    (lambda p: p.update(W2=np.ones((1, 3), dtype=np.int32)), "W2 must hold floats; it holds integers"),
])
def test_a_layer_network_file_names_its_wrong_arrays(tmp_path: Path, change, message: str) -> None:
    arrays = _tiny_arrays()
    save_parameters(tmp_path / "ok.npz", arrays, {"architecture": TINY})
    assert load_parameters(tmp_path / "ok.npz")[1]["layer_dims"] == [4, 3, 1]
    change(arrays)
    path = _npz(tmp_path / "bad.npz", **arrays, **{METADATA_KEY: np.array(json.dumps({"architecture": TINY}))})
    for attempt in (lambda: load_parameters(path), lambda: save_parameters(tmp_path / "x.npz", arrays, {"architecture": TINY})):
        with pytest.raises(ParameterFileError) as caught:
            attempt()
        assert str(caught.value) == message
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("raw", [np.array(["{}", "{}"]), np.array(b"{}"), np.array([["{}"]])])
def test_the_metadata_is_one_string_not_an_array_of_them(tmp_path: Path, params, raw: np.ndarray) -> None:
    path = _npz(tmp_path / "m.npz", **params, **{METADATA_KEY: raw})
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(path)
    assert str(caught.value) == f"{METADATA_KEY} must be one JSON string"


def test_the_metadata_is_bounded_at_max_metadata_bytes_inclusive(tmp_path: Path, params) -> None:
    from model_core.metadata import MAX_METADATA_BYTES

    record = json.dumps({"engine": "padded"})
    padded = " " * (MAX_METADATA_BYTES - len(record)) + record  # JSON may carry spaces
    assert load_parameters(_npz(tmp_path / "at.npz", **params, **{METADATA_KEY: np.array(padded)}))[1]["engine"] == "padded"
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(_npz(tmp_path / "over.npz", **params, **{METADATA_KEY: np.array(" " + padded)}))
    assert str(caught.value) == f"{METADATA_KEY} is longer than {MAX_METADATA_BYTES} characters"


def test_a_save_that_fails_removes_its_temporary_file_and_raises_the_os_error(tmp_path: Path, params) -> None:
    (tmp_path / "m.npz").mkdir()  # the rename over a directory fails, after the temporary file is written
    with pytest.raises(IsADirectoryError):
        save_parameters(tmp_path / "m.npz", params, {})
    assert os.listdir(tmp_path) == ["m.npz"] and not os.listdir(tmp_path / "m.npz")


@pytest.mark.parametrize("member", [METADATA_KEY, "W1"])
@pytest.mark.parametrize("content", [b"", b"{}", b"\x93NUMPX not an array"])
def test_a_member_that_is_not_an_npy_array_is_refused(params, member: str, content: bytes) -> None:
    """NpzFile hands back the raw bytes of such a member: once an AttributeError (a 500)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, array in params.items():
            if name != member:
                with zf.open(f"{name}.npy", "w") as f:
                    np.save(f, array)
        zf.writestr(member, content)  # no .npy suffix: NpzFile lists it under its own name
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(buf.getvalue())
    assert str(caught.value) == "a member of the archive is not an .npy array; save the file with numpy.savez"


def test_a_metadata_number_too_long_for_python_is_refused(params) -> None:
    """json.loads raises a plain ValueError (not a JSONDecodeError) past 4300 digits: once a 500."""
    buf = io.BytesIO()
    np.savez(buf, **params, **{METADATA_KEY: np.array('{"train_seconds": ' + "9" * 5001 + "}")})
    with pytest.raises(ParameterFileError, match="a number too long to read"):
        load_parameters(buf.getvalue())


@pytest.mark.parametrize("architecture", ["course", "layers"])
def test_extended_precision_floats_are_refused(params, architecture: str) -> None:
    """No JSON writer takes a long double (GET /params?include=values was a 500), nor BLAS."""
    arrays = {k: v.astype(np.longdouble) if k == "W2" else v for k, v in params.items()}
    meta = {} if architecture == "course" else {METADATA_KEY: np.array(json.dumps({"layer_dims": [8, 4, 3, 1]}))}
    buf = io.BytesIO()
    np.savez(buf, **arrays, **meta)
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(buf.getvalue())
    assert str(caught.value) == "W2 holds 128-bit extended-precision floats; save float64, float32 or float16"
    for dtype in (np.float16, np.float32):
        buf = io.BytesIO()
        np.savez(buf, **{k: v.astype(dtype) for k, v in params.items()}, **meta)
        assert load_parameters(buf.getvalue())[0]["W2"].dtype == dtype


def test_big_endian_arrays_load_as_the_same_values_in_native_order(params) -> None:
    """orjson writes no other byte order (GET /params?include=values was a 500)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: v.astype(">f8") for k, v in params.items()},
             **{METADATA_KEY: np.array(json.dumps({"layer_dims": [8, 4, 3, 1]}), dtype=">U")})
    loaded, meta = load_parameters(buf.getvalue())
    assert meta["layer_dims"] == [8, 4, 3, 1]
    for k, v in params.items():
        assert loaded[k].dtype.isnative and loaded[k].dtype == np.float64
        np.testing.assert_array_equal(loaded[k], v)
