"""Every error raised for a limit passed carries it: ``limit`` (its name), ``value`` and
``actual``, so that a caller maps it without reading the message; the messages stay."""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from model_core import (
    ConfigError,
    DataError,
    ImageTooLargeError,
    ImageTooSmallError,
    ModelCoreError,
    NotAnImageError,
    ParameterFileError,
    check_metadata,
    image_to_vector,
    load_dataset,
    load_parameters,
)
from model_core.architecture import MAX_LAYERS, MAX_WEIGHTS, check_architecture
from model_core.data import MAX_MEMBER_DEPTH, MAX_MEMBER_NAME
from model_core.image_metadata import (
    MAX_IFD_ENTRIES,
    MAX_JPEG_SEGMENTS,
    MAX_TAG_BYTES,
    MAX_TEXT_BYTES,
    ImageMetadataError,
)
from model_core.metadata import MAX_METADATA_BYTES
from model_core.persistence import METADATA_KEY
from tests.metadata_bombs import png_with_exif, png_with_text

INPUT = {"type": "input", "n_H": 64, "n_W": 64, "n_C": 3}
OUTPUT = {"type": "dense", "n": 1, "activation": "sigmoid"}


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header declaring width x height pixels, with no pixel data to speak of."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def zip_file(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def raised(call: Callable[[], object]) -> ModelCoreError:
    with pytest.raises(ModelCoreError) as caught:
        call()
    return caught.value


# -- images
def test_max_pixels() -> None:
    e = raised(lambda: image_to_vector(png(100, 100), max_pixels=9999))
    assert isinstance(e, ImageTooLargeError) and "above the limit of 9999 pixels (max_pixels)" in str(e)
    assert (e.limit, e.value, e.actual) == ("max_pixels", 9999, 10000)


def test_min_side() -> None:
    e = raised(lambda: image_to_vector(png(4, 6), min_side=8))
    assert isinstance(e, ImageTooSmallError) and "below the minimum of 8 pixels a side (min_side)" in str(e)
    assert (e.limit, e.value, e.actual) == ("min_side", 8, 4)


def test_pillows_decompression_bomb_guard() -> None:
    e = raised(lambda: image_to_vector(png_declaring(30000, 30000), max_pixels=None))
    assert isinstance(e, ImageTooLargeError)
    assert (e.limit, e.value, e.actual) == ("PIL.Image.MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS, 900_000_000)


def test_tags_in_one_directory() -> None:
    e = raised(lambda: image_to_vector(png_with_exif(tags=MAX_IFD_ENTRIES + 1, block=16)))
    assert isinstance(e, ImageMetadataError)
    assert (e.limit, e.value, e.actual) == ("MAX_IFD_ENTRIES", MAX_IFD_ENTRIES, MAX_IFD_ENTRIES + 1)


def test_bytes_the_tags_declare() -> None:
    e = raised(lambda: image_to_vector(png_with_exif(tags=100, block=MAX_TAG_BYTES // 50)))
    assert isinstance(e, ImageMetadataError)
    assert (e.limit, e.value, e.actual) == ("MAX_TAG_BYTES", MAX_TAG_BYTES, 100 * (MAX_TAG_BYTES // 50))


def test_jpeg_segments() -> None:
    comments = b"\xff\xfe\x00\x02" * (MAX_JPEG_SEGMENTS + 1)  # empty COM segments, none the image data
    e = raised(lambda: image_to_vector(b"\xff\xd8" + comments + b"\xff\xd9"))
    assert isinstance(e, ImageMetadataError)
    assert (e.limit, e.value, e.actual) == ("MAX_JPEG_SEGMENTS", MAX_JPEG_SEGMENTS, None)


def test_inflated_text() -> None:
    e = raised(lambda: image_to_vector(png_with_text(chunks=1, inflated=MAX_TEXT_BYTES + 1)))
    assert isinstance(e, ImageMetadataError)
    assert (e.limit, e.value, e.actual) == ("MAX_TEXT_BYTES", MAX_TEXT_BYTES, None)  # Pillow stops inflating there


# -- data sets
def test_zip_members(tmp_path: Path) -> None:
    path = zip_file(tmp_path / "d.zip", {"cat/a.png": png(8, 8), "cat/b.png": png(8, 8), "non-cat/c.png": png(8, 8)})
    e = raised(lambda: load_dataset(path, max_members=2))
    assert "above the limit max_members=2" in str(e)
    assert (e.limit, e.value, e.actual) == ("max_members", 2, 3)


def test_zip_declared_bytes(tmp_path: Path) -> None:
    path = zip_file(tmp_path / "d.zip", {"cat/a.png": png(8, 8), "non-cat/b.png": b"\0" * 5000})
    with zipfile.ZipFile(path) as zf:
        declared = sum(info.file_size for info in zf.infolist())
    e = raised(lambda: load_dataset(path, max_bytes=declared - 1))
    assert f"above the limit max_bytes={declared - 1}" in str(e)
    assert (e.limit, e.value, e.actual) == ("max_bytes", declared - 1, declared)


def test_member_name_length(tmp_path: Path) -> None:
    name = "cat/" + "a" * MAX_MEMBER_NAME + ".png"
    e = raised(lambda: load_dataset(zip_file(tmp_path / "d.zip", {name: png(8, 8)})))
    assert (e.limit, e.value, e.actual) == ("MAX_MEMBER_NAME", MAX_MEMBER_NAME, len(name))


def test_member_depth(tmp_path: Path) -> None:
    name = "cat/" + "d/" * MAX_MEMBER_DEPTH + "a.png"
    e = raised(lambda: load_dataset(zip_file(tmp_path / "d.zip", {name: png(8, 8)})))
    assert (e.limit, e.value, e.actual) == ("MAX_MEMBER_DEPTH", MAX_MEMBER_DEPTH, MAX_MEMBER_DEPTH + 2)


def test_h5_dataset_bytes(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["train_set_x"] = np.zeros((2, 64, 64, 3), np.uint8)
        f["train_set_y"] = np.zeros(2, np.int64)
    e = raised(lambda: load_dataset(tmp_path / "d.h5", max_bytes=1000))
    assert "above the limit max_bytes=1000" in str(e)
    assert (e.limit, e.value, e.actual) == ("max_bytes", 1000, 2 * 12288 + 2 * 8)


# -- architectures and parameter files
def test_layers_of_an_architecture() -> None:
    specs = [INPUT] + [{"type": "dropout", "keep_prob": 0.5}] * (MAX_LAYERS - 1) + [OUTPUT]
    e = raised(lambda: check_architecture(specs))
    assert isinstance(e, ConfigError) and e.field == "architecture"
    assert (e.limit, e.value, e.actual) == ("MAX_LAYERS", MAX_LAYERS, MAX_LAYERS + 1)
    # a stored record's architecture: the same limit, as a ParameterFileError
    e = raised(lambda: check_metadata({"architecture": specs}))
    assert isinstance(e, ParameterFileError) and (e.limit, e.value) == ("MAX_LAYERS", MAX_LAYERS)


def test_weights_of_an_architecture() -> None:
    wide = {"type": "dense", "n": 4096, "activation": "relu"}  # 12288 x 4096 + 4096 > 50 M
    e = raised(lambda: check_architecture([INPUT, {"type": "flatten"}, wide, OUTPUT]))
    assert (e.limit, e.value, e.actual) == ("MAX_WEIGHTS", MAX_WEIGHTS, 4096 * 12289)


def test_metadata_length(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.savez(buf, W1=np.zeros((1, 2)), b1=np.zeros((1, 1)), **{METADATA_KEY: np.array(" " * (MAX_METADATA_BYTES + 1))})
    e = raised(lambda: load_parameters(buf.getvalue()))
    assert (e.limit, e.value, e.actual) == ("MAX_METADATA_BYTES", MAX_METADATA_BYTES, MAX_METADATA_BYTES + 1)


# -- everything else carries none, and the fields survive pickling (errors cross processes)
def test_other_errors_carry_no_limit(tmp_path: Path) -> None:
    for e in (raised(lambda: image_to_vector(b"not an image")), raised(lambda: load_dataset(tmp_path / "no")),
              raised(lambda: check_architecture([INPUT])), DataError("x"), ConfigError("x", field="f", got=1)):
        assert (e.limit, e.value, e.actual) == (None, None, None), e
    assert isinstance(raised(lambda: image_to_vector(b"")), NotAnImageError)


def test_the_fields_survive_pickling() -> None:
    for e in (ParameterFileError("m", field="f", limit="max_bytes", value=1, actual=2),
              ConfigError("r", field="f", got=3, limit="MAX_LAYERS", value=64, actual=65),
              ImageTooLargeError("m", limit="max_pixels", value=1, actual=2)):
        copy = pickle.loads(pickle.dumps(e))
        assert type(copy) is type(e) and str(copy) == str(e) and vars(copy) == vars(e)
