"""model_core.data on real files written here with Pillow, h5py and NumPy (no mocks)."""
from __future__ import annotations

import hashlib
import io
import struct
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image, features

from model_core.errors import ConfigError, DataError, NotAnImageError
from model_core.images import FORMATS, image_size, stream_to_vector
from model_core.data import (
    DEFAULT_MAX_PIXELS,
    ImageTooLargeError,
    dataset_sha256,
    image_to_vector,
    images_to_matrix,
    load_dataset,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
HAS_WEBP = features.check("webp")
needs_webp = pytest.mark.skipif(not HAS_WEBP, reason="Pillow was built without WebP")


# ----------------------------------------------------------------------------- helpers


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def halves(left, right, size=(64, 64), mode="RGB") -> Image.Image:
    """An image whose left half is ``left`` and right half ``right``."""
    img = Image.new(mode, size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def pixels(vector: np.ndarray) -> np.ndarray:
    """(12288,) -> (64, 64, 3) int, for comparisons without uint8 wrap-around."""
    assert vector.shape == (12288,) and vector.dtype == np.uint8
    return vector.reshape(64, 64, 3).astype(int)


def assert_region(vector, rows, cols, rgb, tol=0) -> None:
    region = pixels(vector)[rows, cols]
    error = np.abs(region - np.array(rgb)).max()
    assert error <= tol, (region.min((0, 1)), region.max((0, 1)), rgb)


def assert_halves(vector, left, right, tol=0) -> None:
    # two columns either side of the middle may mix after resampling: skip them
    assert_region(vector, slice(None), slice(0, 30), left, tol)
    assert_region(vector, slice(None), slice(34, 64), right, tol)


def png_declaring(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR (with a valid CRC) claims width x height."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def noise(size=(64, 64), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


# ----------------------------------------------------------------------------- layout


def test_unrolling_order_is_row_column_channel_exactly() -> None:
    array = noise()
    vector = image_to_vector(encode(Image.fromarray(array), "PNG"))
    assert vector.shape == (12288,) and vector.dtype == np.uint8
    np.testing.assert_array_equal(vector, array.reshape(-1))
    # spot-check the index formula (row * 64 + col) * 3 + channel
    assert vector[(5 * 64 + 9) * 3 + 2] == array[5, 9, 2]


@pytest.mark.parametrize(
    "kind", ["bytes", "bytearray", "memoryview", "str", "path", "file", "stream"]
)
def test_every_kind_of_source_gives_the_same_vector(tmp_path: Path, kind: str) -> None:
    array = noise(seed=1)
    data = encode(Image.fromarray(array), "PNG")
    file = tmp_path / "x.png"
    file.write_bytes(data)
    if kind == "file":
        with file.open("rb") as f:
            f.read(10)  # a moved position must not matter
            vector = image_to_vector(f)
    else:
        source = {
            "bytes": data,
            "bytearray": bytearray(data),
            "memoryview": memoryview(data),
            "str": str(file),
            "path": file,
            "stream": io.BytesIO(data),
        }[kind]
        vector = image_to_vector(source)
    np.testing.assert_array_equal(vector, array.reshape(-1))


def test_non_seekable_stream_is_read_into_memory() -> None:
    array = noise(seed=2)

    class Pipe(io.RawIOBase):  # readable, not seekable, like a socket
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            chunk = self._data.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    pipe = io.BufferedReader(Pipe(encode(Image.fromarray(array), "PNG")))
    assert not pipe.seekable()
    np.testing.assert_array_equal(image_to_vector(pipe), array.reshape(-1))


def test_images_to_matrix_stacks_columns() -> None:
    arrays = [noise(seed=s) for s in range(3)]
    X = images_to_matrix(encode(Image.fromarray(a), "PNG") for a in arrays)
    assert X.shape == (12288, 3) and X.dtype == np.uint8
    for j, a in enumerate(arrays):
        np.testing.assert_array_equal(X[:, j], a.reshape(-1))
    assert images_to_matrix([]).shape == (12288, 0)


# ----------------------------------------------------------------------------- modes


def test_rgba_transparency_is_composited_over_white() -> None:
    img = halves((255, 0, 0, 255), (0, 0, 0, 0), mode="RGBA")  # right half: transparent black
    img.putpixel((0, 0), (0, 0, 0, 128))  # half-transparent black -> mid gray
    vector = image_to_vector(encode(img, "PNG"))
    assert_region(vector, slice(1, 64), slice(0, 32), RED)
    assert_region(vector, slice(None), slice(32, 64), WHITE)
    assert pixels(vector)[0, 0].tolist() == [127, 127, 127]  # 255 * 127 / 255


def test_rgba_composited_after_resizing_still_white() -> None:
    img = halves((0, 0, 255, 255), (12, 34, 56, 0), size=(200, 100), mode="RGBA")
    assert_halves(image_to_vector(encode(img, "PNG")), BLUE, WHITE, tol=1)


def test_la_transparent_pixels_become_white() -> None:
    vector = image_to_vector(encode(halves((50, 255), (0, 0), mode="LA"), "PNG"))
    assert_halves(vector, (50, 50, 50), WHITE)


def test_l_grayscale_is_repeated_in_three_channels() -> None:
    vector = image_to_vector(encode(Image.new("L", (64, 64), 77), "PNG"))
    assert (vector == 77).all()


def palette_image() -> Image.Image:
    img = Image.new("P", (64, 64), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # 0 = red, 1 = blue
    img.paste(1, (32, 0, 64, 64))
    return img


def test_palette_image() -> None:
    img = palette_image()
    assert img.mode == "P"
    assert_halves(image_to_vector(encode(img, "PNG")), RED, BLUE)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(fmt: str) -> None:
    data = encode(palette_image(), fmt, transparency=1)
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "P" and check.info.get("transparency") == 1
    assert_halves(image_to_vector(data), RED, WHITE)


def test_cmyk() -> None:
    img = halves((0, 0, 0, 0), (255, 0, 0, 0), mode="CMYK")  # no ink | full cyan
    img.paste((0, 0, 0, 255), (0, 0, 8, 8))  # full black ink
    vector = image_to_vector(encode(img, "TIFF"))
    assert_region(vector, slice(8, 64), slice(0, 30), WHITE)
    assert_region(vector, slice(None), slice(34, 64), (0, 255, 255))
    assert_region(vector, slice(0, 8), slice(0, 8), (0, 0, 0))


def test_cmyk_jpeg() -> None:
    data = encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert_region(image_to_vector(data), slice(None), slice(None), RED, tol=6)


def test_16_bit_png_is_scaled_not_clipped() -> None:
    array = np.zeros((64, 64), dtype=np.uint16)
    array[:, 32:] = 65535
    array[0, 0] = 32768
    array[0, 1] = 257  # 257 * 255 / 65535 = 1
    data = encode(Image.fromarray(array), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    vector = image_to_vector(data)
    assert_region(vector, slice(1, 64), slice(0, 30), (0, 0, 0))
    assert_region(vector, slice(None), slice(34, 64), WHITE)
    assert pixels(vector)[0, 0].tolist() == [128] * 3
    assert pixels(vector)[0, 1].tolist() == [1] * 3


def test_16_bit_big_endian_tiff() -> None:
    values = np.zeros((64, 64), dtype=">u2")
    values[:, 32:] = 65535
    img = Image.frombytes("I;16B", (64, 64), values.tobytes())
    data = encode(img, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "I;16B"
    assert_halves(image_to_vector(data), (0, 0, 0), WHITE)


def test_16_bit_resized() -> None:
    array = np.full((100, 150), 65535, dtype=np.uint16)
    assert (image_to_vector(encode(Image.fromarray(array), "PNG")) == 255).all()


def test_16_bit_rgb_png() -> None:
    array = np.zeros((64, 64, 3), dtype=">u2")
    array[..., 0] = 65535  # red, written as a 48-bit PNG by hand
    raw = b"".join(b"\x00" + row.tobytes() for row in array)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    assert_region(image_to_vector(png), slice(None), slice(None), RED)


@pytest.mark.parametrize(
    ("values", "expected"),
    [((0, 65535), (0, 255)), ((0, 200), (0, 200)), ((-5, 70000), (0, 255))],
    ids=["16-bit range", "8-bit range", "beyond 16 bits"],
)
def test_32_bit_integer_tiff(values, expected) -> None:
    array = np.full((64, 64), values[0], dtype=np.int32)
    array[:, 32:] = values[1]
    data = encode(Image.fromarray(array), "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "I"
    assert_halves(image_to_vector(data), (expected[0],) * 3, (expected[1],) * 3)


@pytest.mark.parametrize(
    ("values", "expected"),
    [((0.0, 1.0), (0, 255)), ((0.25, 0.5), (64, 128)), ((10.0, 200.0), (10, 200))],
    ids=["0..1", "0..1 mid", "0..255"],
)
def test_float_tiff(values, expected) -> None:
    array = np.full((64, 64), values[0], dtype=np.float32)
    array[:, 32:] = values[1]
    data = encode(Image.fromarray(array), "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "F"
    assert_halves(image_to_vector(data), (expected[0],) * 3, (expected[1],) * 3)


def test_bilevel() -> None:
    img = halves(0, 1, mode="1")
    assert_halves(image_to_vector(encode(img, "PNG")), (0, 0, 0), WHITE)


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("fmt", "options", "tol"),
    [
        ("PNG", {}, 0),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
        ("TIFF", {"compression": "tiff_lzw"}, 0),
        ("JPEG", {"quality": 95}, 4),
        pytest.param("WEBP", {"lossless": True}, 0, marks=needs_webp),
        pytest.param("WEBP", {"quality": 90}, 8, marks=needs_webp),
    ],
)
def test_formats(fmt: str, options: dict, tol: int) -> None:
    data = encode(halves((200, 30, 40), (20, 60, 220)), fmt, **options)
    assert_halves(image_to_vector(data), (200, 30, 40), (20, 60, 220), tol)


def frames() -> list[Image.Image]:
    return [Image.new("RGB", (64, 64), color) for color in (RED, GREEN, BLUE)]


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("GIF", {}),
        ("PNG", {}),  # APNG
        pytest.param("WEBP", {"lossless": True}, marks=needs_webp),
    ],
)
def test_animation_uses_first_frame(fmt: str, options: dict) -> None:
    first, *rest = frames()
    data = encode(first, fmt, save_all=True, append_images=rest, duration=100, **options)
    with Image.open(io.BytesIO(data)) as check:
        assert check.n_frames == 3  # really animated
    assert_region(image_to_vector(data), slice(None), slice(None), RED)


def exif_with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize(
    ("orientation", "top", "bottom"), [(6, RED, BLUE), (8, BLUE, RED), (1, None, None)]
)
def test_exif_orientation_jpeg(orientation: int, top, bottom) -> None:
    # stored 128 wide x 64 high, left half red: shown rotated, red is on top (6) or bottom (8)
    data = encode(halves(RED, BLUE, size=(128, 64)), "JPEG", quality=95,
                  exif=exif_with_orientation(orientation))
    vector = image_to_vector(data)
    if top is None:
        assert_halves(vector, RED, BLUE, tol=40)
    else:
        assert_region(vector, slice(0, 28), slice(None), top, tol=40)
        assert_region(vector, slice(36, 64), slice(None), bottom, tol=40)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_equals_the_transposed_picture(orientation: int) -> None:
    stored = Image.fromarray(noise((64, 64), seed=orientation))
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}[orientation]
    data = encode(stored, "PNG", exif=exif_with_orientation(orientation))
    expected = np.asarray(stored.transpose(method)).reshape(-1)
    np.testing.assert_array_equal(image_to_vector(data), expected)
    assert not np.array_equal(expected, np.asarray(stored).reshape(-1))


def test_jpeg_named_png_is_read_by_content(tmp_path: Path) -> None:
    file = tmp_path / "photo.png"
    file.write_bytes(encode(Image.new("RGB", (80, 80), (10, 120, 240)), "JPEG", quality=95))
    assert_region(image_to_vector(file), slice(None), slice(None), (10, 120, 240), tol=4)


def test_large_uniform_jpeg_is_resized() -> None:
    data = encode(Image.new("RGB", (3000, 2000), (200, 100, 50)), "JPEG", quality=90)
    start = time.perf_counter()
    vector = image_to_vector(data)
    assert time.perf_counter() - start < 2.0
    assert_region(vector, slice(None), slice(None), (200, 100, 50), tol=4)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_wide_image_is_squashed_not_cropped(fmt: str) -> None:
    # the leftmost 10% is green: a centre crop would lose it, squashing keeps ~6 columns
    img = Image.new("RGB", (3000, 1000), (128, 128, 128))
    img.paste(GREEN, (0, 0, 300, 1000))
    vector = image_to_vector(encode(img, fmt))
    assert_region(vector, slice(None), slice(0, 5), GREEN, tol=6)
    assert_region(vector, slice(None), slice(8, 64), (128, 128, 128), tol=6)


def test_tall_image_is_squashed_not_cropped() -> None:
    img = Image.new("RGB", (100, 1000), (128, 128, 128))
    img.paste(BLUE, (0, 900, 100, 1000))  # bottom 10%
    vector = image_to_vector(encode(img, "PNG"))
    # LANCZOS rings by a level or two next to the edge
    assert_region(vector, slice(59, 64), slice(None), BLUE, tol=3)
    assert_region(vector, slice(0, 56), slice(None), (128, 128, 128), tol=3)


def test_small_image_is_upscaled() -> None:
    assert_region(image_to_vector(encode(Image.new("RGB", (5, 3), GREEN), "PNG")),
                  slice(None), slice(None), GREEN)


# ----------------------------------------------------------------------------- bad images


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(fmt: str) -> None:
    data = encode(Image.fromarray(noise((128, 128))), fmt)
    with pytest.raises(DataError, match="truncated"):
        image_to_vector(data[: len(data) // 2])


def test_empty_bytes_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty"):
        image_to_vector(b"")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match="empty.png.*empty"):
        image_to_vector(tmp_path / "empty.png")


def test_random_bytes() -> None:
    data = np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    with pytest.raises(DataError):
        image_to_vector(data)


def test_text_file(tmp_path: Path) -> None:
    file = tmp_path / "notes.jpg"
    file.write_text("this is not an image, just some text\n" * 20)
    with pytest.raises(DataError, match=r"notes\.jpg: not an image Pillow can read"):
        image_to_vector(file)


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        image_to_vector(tmp_path / "missing.png")
    with pytest.raises(DataError, match="directory"):
        image_to_vector(tmp_path)
    with pytest.raises(DataError, match="binary"):
        image_to_vector(io.StringIO("abc"))
    with pytest.raises(DataError, match="int"):
        image_to_vector(42)  # type: ignore[arg-type]


def test_header_above_max_pixels_is_refused_before_decoding() -> None:
    data = png_declaring(7000, 7000)  # 49 Mpx: above our 40 Mpx, below Pillow's limits
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="7000x7000 = 49000000 pixels.*40000000") as info:
        image_to_vector(data)
    assert time.perf_counter() - start < 1.0
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)
    assert DEFAULT_MAX_PIXELS == 40_000_000


def test_max_pixels_argument() -> None:
    data = encode(Image.new("RGB", (100, 100), RED), "PNG")
    with pytest.raises(ImageTooLargeError, match="10000 pixels.*9999"):
        image_to_vector(data, max_pixels=9999)
    assert_region(image_to_vector(data, max_pixels=10000), slice(None), slice(None), RED)
    with pytest.raises(ConfigError):
        image_to_vector(data, max_pixels=0)


@pytest.mark.parametrize(
    ("side", "max_pixels"), [(30000, DEFAULT_MAX_PIXELS), (30000, None), (10000, None)]
)
def test_pillow_decompression_bomb_guard_becomes_image_too_large(side: int, max_pixels) -> None:
    # 900 Mpx: Pillow raises DecompressionBombError; 100 Mpx: Pillow only warns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageTooLargeError, match=str(side * side)):
            image_to_vector(png_declaring(side, side), max_pixels=max_pixels)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


# ----------------------------------------------------------------------------- data sets


def write_h5(path: Path, prefix: str, x: np.ndarray, y: np.ndarray, **file_options) -> Path:
    with h5py.File(path, "w", **file_options) as f:
        f.create_dataset(f"{prefix}_x", data=x)
        f.create_dataset(f"{prefix}_y", data=y)
        f.create_dataset("list_classes", data=np.array([b"non-cat", b"cat"]))
    return path


def course_like(m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x (m, 64, 64, 3) uint8 and y (m,) int64 as in the course's files."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (m, 64, 64, 3), dtype=np.uint8)
    y = np.arange(m, dtype=np.int64) % 2
    return x, y


def assert_dataset(X, Y, x_images: np.ndarray, y: np.ndarray) -> None:
    m = len(x_images)
    assert X.shape == (12288, m) and X.dtype == np.uint8 and X.flags.c_contiguous
    assert Y.shape == (1, m) and Y.dtype == np.int64
    for j in range(m):
        np.testing.assert_array_equal(X[:, j], x_images[j].reshape(-1))
    np.testing.assert_array_equal(Y[0], y)


@pytest.mark.parametrize("prefix", ["train_set", "test_set", "dev"])
def test_h5_course_layout(tmp_path: Path, prefix: str) -> None:
    x, y = course_like(5)
    X, Y = load_dataset(write_h5(tmp_path / "data.h5", prefix, x, y))
    assert_dataset(X, Y, x, y)
    np.testing.assert_array_equal(X, x.reshape(5, -1).T)


def test_h5_detected_by_content_even_with_a_user_block(tmp_path: Path) -> None:
    x, y = course_like(2)
    path = write_h5(tmp_path / "data.zip", "train_set", x, y, userblock_size=512)
    assert path.read_bytes()[:8] != b"\x89HDF\r\n\x1a\n"
    assert_dataset(*load_dataset(path), x, y)


def test_bad_h5(tmp_path: Path) -> None:
    x, y = course_like(3)
    with h5py.File(tmp_path / "nopair.h5", "w") as f:
        f["images"] = x
    with pytest.raises(DataError, match=r"no \*_x/\*_y.*1 dataset\(s\)"):
        load_dataset(tmp_path / "nopair.h5")
    with pytest.raises(DataError, match=r"\(3, 64, 64\)"):
        load_dataset(write_h5(tmp_path / "shape.h5", "train_set", x[..., 0], y))
    with pytest.raises(DataError, match=r"0 \(non-cat\) or 1 \(cat\); 1 of 3 are not, the first at index 1"):
        load_dataset(write_h5(tmp_path / "labels.h5", "train_set", x, np.array([0, 2, 1])))
    with pytest.raises(DataError, match="expected 3 labels"):
        load_dataset(write_h5(tmp_path / "count.h5", "train_set", x, np.array([0, 1])))
    with pytest.raises(DataError, match="max_bytes=1000"):
        load_dataset(write_h5(tmp_path / "big.h5", "train_set", x, y), max_bytes=1000)
    with pytest.raises(DataError, match="no examples"):
        load_dataset(write_h5(tmp_path / "empty.h5", "train_set", x[:0], y[:0]))
    truncated = (tmp_path / "big.h5").read_bytes()[:3000]
    (tmp_path / "truncated.h5").write_bytes(truncated)
    with pytest.raises(DataError, match="HDF5"):
        load_dataset(tmp_path / "truncated.h5")


@pytest.mark.parametrize("layout", ["columns", "images"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64])
@pytest.mark.parametrize("compressed", [False, True])
def test_npz(tmp_path: Path, layout: str, dtype, compressed: bool) -> None:
    x, y = course_like(4, seed=3)
    X_saved = x.reshape(4, -1).T if layout == "columns" else x
    save = np.savez_compressed if compressed else np.savez
    save(tmp_path / "data.npz", X=X_saved.astype(dtype), Y=y.reshape(1, -1).astype(np.uint8))
    assert_dataset(*load_dataset(tmp_path / "data.npz"), x, y)


def test_npz_detected_by_content(tmp_path: Path) -> None:
    x, y = course_like(2)
    with (tmp_path / "data.bin").open("wb") as f:
        np.savez(f, X=x, Y=y)
    assert_dataset(*load_dataset(tmp_path / "data.bin"), x, y)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros((3, 12288), np.uint8), "Y": [0, 1, 0]}, r"shape \(3, 12288\)"),
        ({"X": np.zeros((12288,), np.uint8), "Y": [0]}, r"shape \(12288,\)"),
        ({"X": np.zeros((2, 64, 64, 4), np.uint8), "Y": [0, 1]}, r"shape \(2, 64, 64, 4\)"),
        ({"X": np.full((12288, 2), 0.5), "Y": [0, 1]}, "non-integer"),
        ({"X": np.full((12288, 2), 300.0), "Y": [0, 1]}, r"0\.\.255"),
        ({"X": np.full((12288, 2), np.nan), "Y": [0, 1]}, "NaN"),
        ({"X": np.full((12288, 2), -1, np.int16), "Y": [0, 1]}, r"outside 0\.\.255"),
        ({"X": np.ones((12288, 2), bool), "Y": [0, 1]}, "pixels are booleans"),
        ({"X": np.zeros((12288, 3), np.uint8), "Y": [0, 1, 2]}, r"1 of 3 are not, the first at index 2"),
        ({"X": np.zeros((12288, 2), np.uint8), "Y": [0.5, 1]}, r"1 of 2 are not, the first at index 0"),
        ({"X": np.zeros((12288, 3), np.uint8), "Y": [0, 1]}, "expected 3 labels"),
        ({"X": np.zeros((12288, 0), np.uint8), "Y": np.zeros(0)}, "no examples"),
        ({"X": np.zeros((12288, 1), np.uint8)}, r"'X' and 'Y'; 'Y' missing"),
        ({"X": np.array([{"a": 1}], dtype=object), "Y": [0]}, "pickle"),
        ({"X": np.zeros((12288, 1), np.uint8), "Y": np.array(["1"])}, "labels are strings"),
    ],
    ids=["m-by-12288", "1-D", "4-channels", "scaled-floats", "floats>255", "nan",
         "negative", "bool", "label-2", "label-0.5", "label-count", "empty", "no-Y",
         "pickled", "string-labels"],
)
def test_bad_npz(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)  # np.savez pickles object arrays
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "bad.npz")


# folder / zip -------------------------------------------------------------------------


def make_folder(root: Path) -> dict[str, np.ndarray]:
    """A small cat/non-cat folder of mixed formats; returns {relative path: (64,64,3)}."""
    expected: dict[str, np.ndarray] = {}
    files = {
        "cat/b.png": ("PNG", 1),
        "cat/a.jpg": ("JPEG", 2),
        "non-cat/z.bmp": ("BMP", 3),
        "non-cat/sub/y.tiff": ("TIFF", 4),
    }
    for relative, (fmt, seed) in files.items():
        array = noise(seed=seed) if fmt != "JPEG" else np.full((64, 64, 3), 90, np.uint8)
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(Image.fromarray(array), fmt))
        expected[relative] = array
    (root / "cat" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1 junk")
    (root / "non-cat" / ".hidden").mkdir()
    (root / "non-cat" / ".hidden" / "x.txt").write_text("not an image")
    (root / "README.txt").write_text("outside cat/ and non-cat/: ignored")
    return expected


ORDER = ["cat/a.jpg", "cat/b.png", "non-cat/sub/y.tiff", "non-cat/z.bmp"]


def assert_folder_dataset(X, Y, expected: dict[str, np.ndarray]) -> None:
    assert X.shape == (12288, 4) and X.dtype == np.uint8
    np.testing.assert_array_equal(Y, [[1, 1, 0, 0]])
    for j, relative in enumerate(ORDER):
        tol = 3 if relative.endswith(".jpg") else 0
        assert np.abs(X[:, j].astype(int) - expected[relative].reshape(-1)).max() <= tol, relative


def test_folder(tmp_path: Path) -> None:
    expected = make_folder(tmp_path / "data")
    assert_folder_dataset(*load_dataset(tmp_path / "data"), expected)


def test_bad_folders(tmp_path: Path) -> None:
    (tmp_path / "only" / "non-cat").mkdir(parents=True)
    with pytest.raises(DataError, match="missing folder cat/"):
        load_dataset(tmp_path / "only")
    (tmp_path / "only" / "cat").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset(tmp_path / "only")
    (tmp_path / "only" / "cat" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"cat/notes\.txt: not an image"):
        load_dataset(tmp_path / "only")


def zip_folder(
    zip_path: Path, root: Path, prefix: str = "", extra: dict[str, bytes] | None = None
) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(root.rglob("*")):
            if file.is_file():
                zf.write(file, prefix + file.relative_to(root).as_posix())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return zip_path


@pytest.mark.parametrize("prefix", ["", "catvnoncat/"])
def test_zip(tmp_path: Path, prefix: str) -> None:
    expected = make_folder(tmp_path / "data")
    extra = {"__MACOSX/._junk": b"\x00\x05\x16\x07", f"{prefix}non-cat/empty-dir/": b""}
    path = zip_folder(tmp_path / "data.zip", tmp_path / "data", prefix, extra)
    assert_folder_dataset(*load_dataset(path), expected)
    # same bytes as the folder it was made from
    assert dataset_sha256(*load_dataset(path)) == dataset_sha256(*load_dataset(tmp_path / "data"))


def single_image_zip(path: Path, names: list[str], compress=zipfile.ZIP_DEFLATED) -> Path:
    png = encode(Image.new("RGB", (8, 8), RED), "PNG")
    with zipfile.ZipFile(path, "w", compress) as zf:
        for name in names:
            zf.writestr(zipfile.ZipInfo(name), png)
        assert zf.namelist() == names  # zipfile kept the names as given
    return path


@pytest.mark.parametrize(
    "evil", ["../cat/x.png", "cat/../../x.png", "/etc/cat.png", "C:/cat.png", "..\\x.png"]
)
def test_zip_with_unsafe_path(tmp_path: Path, evil: str) -> None:
    path = single_image_zip(tmp_path / "evil.zip", ["cat/a.png", "non-cat/b.png", evil])
    with pytest.raises(DataError, match="unsafe path"):
        load_dataset(path)


def test_zip_bomb_is_refused_from_its_headers(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cat/a.png", bytes(10_000_000))
        zf.writestr("non-cat/b.png", b"x")
    assert path.stat().st_size < 100_000
    with pytest.raises(DataError, match="max_bytes=1000000"):
        load_dataset(path, max_bytes=1_000_000)


def test_zip_with_lying_size_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cat/a.png", bytes(2_000_000))
        zf.writestr("non-cat/b.png", b"x")
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # first central directory entry: cat/a.png
    assert struct.unpack_from("<I", data, central + 24)[0] == 2_000_000
    struct.pack_into("<I", data, central + 24, 100)  # claim 100 bytes uncompressed
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="max_bytes|corrupt"):
        load_dataset(path, max_bytes=1000)


def test_zip_member_count_limit(tmp_path: Path) -> None:
    names = ["cat/a.png", "cat/b.png", "non-cat/c.png", "non-cat/d.png", "non-cat/e.png"]
    path = single_image_zip(tmp_path / "many.zip", names)
    with pytest.raises(DataError, match="5 zip entries.*max_members=3"):
        load_dataset(path, max_members=3)
    X, Y = load_dataset(path, max_members=5)
    np.testing.assert_array_equal(Y, [[1, 1, 0, 0, 0]])
    assert_region(X[:, 0], slice(None), slice(None), RED)


def test_bad_zips(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cat/ and non-cat/"):
        load_dataset(single_image_zip(tmp_path / "nocat.zip", ["non-cat/a.png"]))
    with pytest.raises(DataError, match="cat/ and non-cat/"):
        deep = ["a/b/cat/x.png", "a/b/non-cat/y.png"]  # cat/ two levels down
        load_dataset(single_image_zip(tmp_path / "deep.zip", deep))
    path = single_image_zip(tmp_path / "text.zip", ["cat/a.png", "non-cat/b.png"])
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("cat/notes.txt", "hello")
    with pytest.raises(DataError, match=r"text\.zip: member #2: not an image"):
        load_dataset(path)
    (tmp_path / "broken.zip").write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="zip"):
        load_dataset(tmp_path / "broken.zip")
    with pytest.raises(DataError, match="no images"):
        load_dataset(single_image_zip(tmp_path / "dirs.zip", ["cat/", "non-cat/"]))


def test_unknown_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"unknown.*\.h5.*\.npz.*cat/ and non-cat/.*\.zip"):
        load_dataset(tmp_path / "data.csv")
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_dataset(tmp_path / "empty.h5")
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing.h5")
    with pytest.raises(ConfigError):
        load_dataset(tmp_path / "data.csv", max_bytes=0)


# ----------------------------------------------------------------------------- sha256


def test_dataset_sha256() -> None:
    x, y = course_like(3)
    X, Y = np.ascontiguousarray(x.reshape(3, -1).T), y.reshape(1, -1)
    expected = hashlib.sha256(X.tobytes() + Y.astype("<i8").tobytes()).hexdigest()
    assert dataset_sha256(X, Y) == expected
    assert dataset_sha256(np.asfortranarray(X), Y.astype(np.int32)) == expected  # layout-free
    changed = X.copy()
    changed[100, 2] ^= 1
    assert dataset_sha256(changed, Y) != expected
    assert dataset_sha256(X, 1 - Y) != expected
    with pytest.raises(DataError, match="uint8"):
        dataset_sha256(X / 255.0, Y)


# ----------------------------------------------------------------------------- course data


def test_course_files(course_dir: Path) -> None:
    X, Y = load_dataset(course_dir / "train_catvnoncat.h5")
    assert X.shape == (12288, 209) and X.dtype == np.uint8
    assert Y.shape == (1, 209) and Y.dtype == np.int64 and int(Y.sum()) == 72
    with h5py.File(course_dir / "train_catvnoncat.h5", "r") as f:
        np.testing.assert_array_equal(X[:, 7], f["train_set_x"][7].reshape(-1))
    X_test, Y_test = load_dataset(course_dir / "test_catvnoncat.h5")
    assert X_test.shape == (12288, 50) and X_test.dtype == np.uint8
    assert Y_test.shape == (1, 50) and int(Y_test.sum()) == 33
    assert dataset_sha256(X, Y) != dataset_sha256(X_test, Y_test)


def test_min_side_refuses_tiny_images_and_names_the_limit() -> None:
    from model_core.data import ImageTooSmallError

    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (10, 20, 30)).save(buf, "PNG")
    assert image_to_vector(buf.getvalue()).reshape(64, 64, 3)[0, 0].tolist() == [10, 20, 30]  # default: any size
    with pytest.raises(ImageTooSmallError, match="1x1 pixels, below the minimum of 8 pixels a side"):
        image_to_vector(buf.getvalue(), min_side=8)
    buf = io.BytesIO()
    Image.new("RGB", (8, 300)).save(buf, "PNG")
    assert image_to_vector(buf.getvalue(), min_side=8).shape == (12288,)


def test_deep_or_long_member_paths_are_refused_before_they_are_walked(tmp_path: Path) -> None:
    """A path's folders are kept per level: 30,000 levels in one 64 KB name took gigabytes."""
    for name, rule in (("a/" * 40 + "cat.png", "folders deep"), ("cat/" + "x" * 2000 + ".png", "longer than")):
        path = tmp_path / "deep.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("cat/a.png", b"x")
            zf.writestr(name, b"x")
        with pytest.raises(DataError, match=rule) as caught:
            load_dataset(path)
        assert "member #1" in str(caught.value) and "xxxx" not in str(caught.value)


def test_an_npz_array_declaring_more_than_it_holds_is_refused_unread(tmp_path: Path) -> None:
    """X's header asks numpy for 114 GiB from 64 bytes: without the check, a MemoryError."""
    def header(shape: tuple[int, ...], descr: str) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
        return buf.getvalue()

    with zipfile.ZipFile(tmp_path / "lying.npz", "w") as zf:
        zf.writestr("X.npy", header((12288, 10**7), "|u1") + b"\0" * 64)
        zf.writestr("Y.npy", header((10**7,), "<i8"))
    with pytest.raises(DataError, match="lying.npz:X: an array declares more data than its file holds"):
        load_dataset(tmp_path / "lying.npz")


# -- the formats read: each opens by its header alone, so the limits come before decoding
def _ico_holding(side: int) -> bytes:
    """An .ico whose directory says 16x16 and which holds a side x side PNG."""
    png = io.BytesIO()
    Image.new("RGB", (side, side), (200, 100, 50)).save(png, "PNG")
    data = png.getvalue()
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(data), 6 + 16)
    return header + entry + data


def test_an_ico_is_refused_unopened_whatever_it_holds() -> None:
    # Pillow's ICO plugin decodes the embedded image inside open(): 16 Mpx here, before any check
    with pytest.raises(NotAnImageError, match=r"x\.ico: not an image Pillow can read \(formats read: JPEG, PNG"):
        stream_to_vector(io.BytesIO(_ico_holding(4000)), "x.ico", max_pixels=DEFAULT_MAX_PIXELS)
    assert image_size(_ico_holding(64)) is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "PPM", "TGA"])
def test_every_format_read_opens_without_decoding(fmt: str) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 20, 30)).save(buf, fmt)
    with Image.open(io.BytesIO(buf.getvalue()), formats=FORMATS) as img:
        assert img.format == fmt and img.size == (300, 200)
        assert img.tile  # the tiles still to decode: load() empties the list
    assert image_size(buf.getvalue()) == (300, 200)
