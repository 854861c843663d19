"""image_to_vector's rules one by one: the limits at their edges with their messages, how
each high-depth mode is scaled to 0..255, compositing over white to the rounding, EXIF and
TIFF orientation, JPEG draft decoding, and the messages that name the source. Real files
written by Pillow (or byte-patched from its output)."""
from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from model_core import ConfigError, DataError, NotAnImageError, image_to_vector, images_to_matrix, load_dataset
from model_core.image_metadata import MAX_TEXT_BYTES, ImageMetadataError
from model_core.images import FORMATS, ImageTooLargeError, ImageTooSmallError, image_size, stream_to_vector
from tests.metadata_bombs import png_with_exif, png_with_text


def encode(img: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, size=(h, w, 3)).astype(np.uint8)


@pytest.mark.parametrize("limit", ["max_pixels", "min_side", "max_decoded_pixels"])
def test_each_limit_is_a_positive_int_named_in_the_refusal(limit: str) -> None:
    data = encode(Image.fromarray(noise(8, 8)))
    with pytest.raises(ConfigError) as caught:
        image_to_vector(data, **{limit: 0})  # type: ignore[arg-type]
    assert str(caught.value) == f"{limit} must be a positive int, got 0"


@pytest.mark.parametrize(("limit", "at", "error", "message", "actual"), [
    ("max_pixels", 1200, ImageTooLargeError,
     "image bytes: image is 40x30 = 1200 pixels, above the limit of 1199 pixels (max_pixels)", 1200),
    ("min_side", 30, ImageTooSmallError,
     "image bytes: image is 40x30 pixels, below the minimum of 31 pixels a side (min_side)", 30),
])
def test_each_pixel_limit_is_inclusive_and_named_in_its_message(
        limit: str, at: int, error: type[DataError], message: str, actual: int) -> None:
    data = encode(Image.fromarray(noise(30, 40)))
    image_to_vector(data, **{limit: at})  # type: ignore[arg-type]
    past = at - 1 if limit == "max_pixels" else at + 1
    with pytest.raises(error) as caught:
        image_to_vector(data, **{limit: past})  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert (caught.value.limit, caught.value.value, caught.value.actual) == (limit, past, actual)


@pytest.mark.parametrize(("fmt", "decoded"), [("JPEG", (125, 94)), ("PNG", (500, 376))])
def test_max_decoded_pixels_counts_a_jpeg_after_its_dct_scaling(fmt: str, decoded: tuple[int, int]) -> None:
    data = encode(Image.fromarray(noise(376, 500)), fmt)
    at = decoded[0] * decoded[1]  # a JPEG's 1/4 scale keeps 125 >= 64; a PNG decodes whole
    assert np.array_equal(image_to_vector(data, max_decoded_pixels=at), image_to_vector(data))
    with pytest.raises(ImageTooLargeError) as caught:
        image_to_vector(data, max_decoded_pixels=at - 1)
    assert str(caught.value) == (f"image bytes: decoding it produces {decoded[0]}x{decoded[1]} = {at} pixels, "
                                 f"above the limit of {at - 1} (max_decoded_pixels)")
    assert (caught.value.limit, caught.value.value, caught.value.actual) == ("max_decoded_pixels", at - 1, at)


def test_max_pixels_none_is_no_limit() -> None:
    assert image_to_vector(encode(Image.fromarray(noise(30, 40))), max_pixels=None).shape == (12288,)


def test_images_to_matrix_passes_max_pixels_to_each_image() -> None:
    data = encode(Image.fromarray(noise(30, 40)))
    assert images_to_matrix([data, data], max_pixels=1200).shape == (12288, 2)
    with pytest.raises(ImageTooLargeError):
        images_to_matrix([data], max_pixels=1199)


def test_a_one_pixel_image_is_an_image_by_default() -> None:
    one = encode(Image.fromarray(noise(1, 1)))
    assert image_to_vector(one).shape == (12288,)
    assert stream_to_vector(io.BytesIO(one), "member #0", None).shape == (12288,)


def test_stream_to_vector_names_the_stream_in_each_refusal() -> None:
    with pytest.raises(ImageTooLargeError, match=r"^member #3: image is 40x30 = 1200 pixels"):
        stream_to_vector(io.BytesIO(encode(Image.fromarray(noise(30, 40)))), "member #3", 1000)
    with pytest.raises(ImageMetadataError, match=r"^member #3: EXIF metadata: a directory holds 1025 tags"):
        stream_to_vector(io.BytesIO(png_with_exif(tags=1025, block=16)), "member #3", None)
    truncated = encode(Image.fromarray(noise(64, 64)))[:300]
    with pytest.raises(DataError) as caught:
        stream_to_vector(io.BytesIO(truncated), "member #3", None)
    assert str(caught.value) == "member #3: truncated or corrupt image"


def test_an_hdf5_file_is_refused_as_no_image_of_a_format_read(tmp_path: Path) -> None:
    # Pillow recognises HDF5 (a stub it cannot decode); it is not among the formats read
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(NotAnImageError) as caught:
        image_to_vector((tmp_path / "a.h5").read_bytes())
    assert str(caught.value) == f"image bytes: not an image Pillow can read (formats read: {', '.join(FORMATS)})"


def test_png_text_past_max_text_bytes_is_refused_with_its_message() -> None:
    with pytest.raises(ImageMetadataError) as caught:
        image_to_vector(png_with_text(chunks=1, inflated=MAX_TEXT_BYTES + 1))
    assert str(caught.value) == (f"image bytes: its text or ICC metadata inflates past the bound of {MAX_TEXT_BYTES} "
                                 "bytes; strip the metadata and resend")
    assert (caught.value.limit, caught.value.value) == ("MAX_TEXT_BYTES", MAX_TEXT_BYTES)


def tiff_with_a_truncated_tag() -> bytes:
    """A 48x32 TIFF with a tag whose data lies past the end: Pillow warns "Truncated File
    Read" while it opens it, and decodes it."""
    data = bytearray(encode(Image.fromarray(noise(32, 48)), "TIFF", tiffinfo={0x9001: b"x" * 100}))
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", data[entry:entry + 2])[0] == 0x9001:
            data[entry + 8:entry + 12] = struct.pack("<I", 10**6)
    return bytes(data)


def test_a_pillow_warning_other_than_the_bomb_guard_does_not_refuse_the_image() -> None:
    with pytest.warns(UserWarning, match="Truncated File Read"):
        vector = image_to_vector(tiff_with_a_truncated_tag())
    assert vector.shape == (12288,)


def test_image_size_reads_through_a_pillow_warning_other_than_the_bomb_guard() -> None:
    # only the bomb warning is an error: any other one leaves the size readable
    with pytest.warns(UserWarning, match="Truncated File Read"):
        assert image_size(tiff_with_a_truncated_tag()) == (48, 32)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tiffs_own_orientation_tag_is_applied(orientation: int) -> None:
    from model_core.image_metadata import TRANSPOSE
    picture = Image.fromarray(noise(32, 48))
    data = encode(picture, "TIFF", tiffinfo={0x0112: orientation})
    upright = picture.transpose(TRANSPOSE[orientation]) if orientation in TRANSPOSE else picture
    expected = np.asarray(upright.resize((64, 64), Image.Resampling.LANCZOS, reducing_gap=3.0)).reshape(-1)
    np.testing.assert_array_equal(image_to_vector(data), expected)


def test_a_large_image_is_reduced_then_lanczos_resampled() -> None:
    picture = Image.fromarray(noise(600, 800))
    expected = np.asarray(picture.resize((64, 64), Image.Resampling.LANCZOS, reducing_gap=3.0)).reshape(-1)
    np.testing.assert_array_equal(image_to_vector(encode(picture)), expected)


def test_a_jpeg_is_decoded_at_its_draft_scale() -> None:
    data = encode(Image.fromarray(noise(512, 512)), "JPEG", quality=90)
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (64, 64))
        img.load()
        assert img.size == (64, 64)  # 1/8 scale
        expected = np.asarray(img.convert("RGB")).reshape(-1)
    np.testing.assert_array_equal(image_to_vector(data), expected)


def test_transparency_is_composited_over_white_rounding_to_nearest() -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 127, 1  # 127 * 1/255 + 255 * 254/255 = 254.498...: 254
    rgba[0, 0] = (0, 0, 0, 0)  # fully transparent: white
    rgba[0, 1] = (10, 20, 30, 255)  # opaque: itself
    rgba[0, 2] = (0, 0, 0, 128)  # 255 * 127/255 = 127
    out = image_to_vector(encode(Image.fromarray(rgba, "RGBA"))).reshape(64, 64, 3)
    assert out[1, 1].tolist() == [254, 254, 254]
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [10, 20, 30]
    assert out[0, 2].tolist() == [127, 127, 127]


def high_depth(mode: str, values: np.ndarray) -> bytes:
    if mode == "F":
        img = Image.fromarray(values.astype(np.float32), "F")
    elif mode == "I":
        img = Image.fromarray(values.astype(np.int32), "I")
    else:
        dtype = ">u2" if mode == "I;16B" else "<u2"
        img = Image.frombuffer(mode, values.shape[::-1], values.astype(dtype).tobytes())
    data = encode(img, "TIFF")
    with Image.open(io.BytesIO(data)) as back:
        assert back.mode == mode
    return data


def gray(data: bytes) -> np.ndarray:
    out = image_to_vector(data).reshape(64, 64, 3)
    assert (out == out[..., :1]).all()  # gray in each channel
    return out[..., 0]


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16_bit_gray_is_scaled_from_65535(mode: str) -> None:
    values = np.zeros((64, 64), np.int64)
    values[0, :4] = [65535, 257 * 200 + 129, 257 * 200 + 128, 0]  # 200.502 -> 201, 200.498 -> 200
    assert gray(high_depth(mode, values))[0, :4].tolist() == [255, 201, 200, 0]


@pytest.mark.parametrize(("mode", "top"), [("I;16", 65536), ("I", 1000)])
def test_16_and_32_bit_gray_is_resampled_as_float(mode: str, top: int) -> None:
    # both scaled from 65535 (I;16 always; I because its maximum is past 255)
    values = np.random.RandomState(1).randint(0, top, size=(96, 128))
    small = np.asarray(Image.fromarray(values.astype(np.float32), "F").resize(
        (64, 64), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float64)
    expected = np.clip(np.rint(small * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(gray(high_depth(mode, values)), expected)


def test_32_bit_integer_gray_is_scaled_by_the_smallest_usual_range_holding_its_maximum() -> None:
    values = np.zeros((64, 64), np.int64)
    values[0, 0] = 1  # maximum 1: integers are scaled from 255 (only floats from 1.0)
    assert gray(high_depth("I", values))[0, 0] == 1
    values[0, :2] = [1000, 500]  # maximum 1000: from 65535
    assert gray(high_depth("I", values))[0, :2].tolist() == [4, 2]
    values[0, :2] = [65535, 257 * 200 + 129]  # maximum 65535: still from 65535 (200.502 -> 201)
    assert gray(high_depth("I", values))[0, :2].tolist() == [255, 201]
    values[0, :2] = [100_000, 50_000]  # past 65535: from the maximum itself
    assert gray(high_depth("I", values))[0, :2].tolist() == [255, 128]
    values[0, :2] = [-1000, 255]  # negative: black
    assert gray(high_depth("I", values))[0, :2].tolist() == [0, 255]


def test_float_gray_is_scaled_from_1_255_65535_or_its_maximum() -> None:
    values = np.zeros((64, 64))
    values[0, :2] = [1.0, 0.5]
    assert gray(high_depth("F", values))[0, :2].tolist() == [255, 128]
    values[0, :2] = [200.0, 100.0]
    assert gray(high_depth("F", values))[0, :2].tolist() == [200, 100]
    values[0, :2] = [65535.0, 100.5005 * 257]  # maximum 65535: from 65535
    assert gray(high_depth("F", values))[0, :2].tolist() == [255, 101]
    # just past 65535: the maximum is the scale (not 65536): 100.5005 of 255 rounds up
    high = 65535.5
    values[0, :2] = [high, 100.5005 * high / 255.0]
    assert gray(high_depth("F", values))[0, :2].tolist() == [255, 101]


def test_float_nan_and_infinities_become_black_white_black() -> None:
    values = np.zeros((64, 64))
    values[0, :4] = [np.nan, np.inf, -np.inf, 100.5003 * 65535.0 / 255.0]
    # an infinite maximum: the scale is 65535 (the finite pixel as 16-bit data)
    assert gray(high_depth("F", values))[0, :4].tolist() == [0, 255, 0, 101]


def test_a_path_that_cannot_be_opened_says_why() -> None:
    name = "x" * 5000
    with pytest.raises(DataError) as caught:
        image_to_vector(name)
    assert str(caught.value) == f"cannot read {name!r}: File name too long"


def test_a_file_object_that_returns_text_is_refused() -> None:
    class Reader:
        name = "upload"

        def seekable(self) -> bool:
            return False

        def read(self) -> str:
            return "not bytes"

    with pytest.raises(DataError) as caught:
        image_to_vector(Reader())  # type: ignore[arg-type]
    assert str(caught.value) == "upload: file object returned str, not bytes"


def test_zip_images_take_max_pixels_and_any_size_by_default(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as zf:
        zf.writestr("cat/a.png", encode(Image.fromarray(noise(1, 1))))
        zf.writestr("non-cat/b.png", encode(Image.fromarray(noise(30, 40))))
    assert load_dataset(tmp_path / "s.zip", max_pixels=1200)[0].shape == (12288, 2)
    with pytest.raises(ImageTooLargeError, match=r"member #1: image is 40x30 = 1200 pixels"):
        load_dataset(tmp_path / "s.zip", max_pixels=1199)


def test_float_gray_is_scaled_in_float64_before_rounding() -> None:
    # a float32 pixel whose exact value x 255 is 0.50000003: it rounds up to 1; in float32
    # arithmetic the product is 0.5 exactly, which rint rounds to even, 0
    values = np.zeros((64, 64), np.float32)
    values[0, :2] = [1.0, 0.0019607844296842813]
    assert float(values[0, 1]) * 255.0 > 0.5 and values[0, 1] * np.float32(255.0) == np.float32(0.5)
    assert gray(high_depth("F", values))[0, :2].tolist() == [255, 1]


def test_a_decoder_value_error_is_reported_without_the_files_own_bytes() -> None:
    # a PGM whose width is "ab": Pillow's ValueError quotes b'ab'; the message names the
    # source and says why, in model_core's words only
    with pytest.raises(DataError) as caught:
        image_to_vector(b"P5\nab 2\n255\n" + bytes(4))
    assert str(caught.value) == "image bytes: truncated or corrupt image"
    assert isinstance(caught.value.__cause__, ValueError)
