"""The decoder's work, bounded before it starts: a JPEG's scans, the formats that Pillow
decodes in Python; and a palette image that lacks its palette, AVIF files libavif cannot
read (the files:
``tests/decoder_bombs.py``). Each bomb is refused in milliseconds where decoding it took
seconds (``model_core.images``, ``model_core.image_metadata``).
"""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from model_core import DataError, ImageTooLargeError, image_to_vector
from model_core.image_metadata import MAX_JPEG_SCANS, ImageMetadataError, check_metadata
from model_core.images import MAX_PYTHON_DECODED_PIXELS

from tests.decoder_bombs import broken_avif, png_without_palette, progressive, rle_bmp


# -- a JPEG's scans
def test_a_jpeg_at_the_scan_bound_decodes_and_one_past_it_is_refused_at_once() -> None:
    assert image_to_vector(progressive((64, 64), MAX_JPEG_SCANS)).shape == (12288,)
    bomb = progressive((6000, 6000), MAX_JPEG_SCANS + 1)  # 36 Mpx: seconds if it were decoded
    start = time.perf_counter()
    with pytest.raises(ImageMetadataError) as caught:
        image_to_vector(bomb, max_pixels=None)
    assert time.perf_counter() - start < 0.5
    assert (caught.value.limit, caught.value.value) == ("MAX_JPEG_SCANS", MAX_JPEG_SCANS)
    assert f"more than {MAX_JPEG_SCANS} scans" in str(caught.value)


def test_scans_are_counted_to_the_end_of_the_image_and_not_in_other_segments() -> None:
    for scans in (6, 40):
        data = progressive((16, 16), scans)
        assert check_metadata(io.BytesIO(data), "x") == scans == data.count(b"\xff\xda")
    # a phone's motion video after the picture: random bytes hold an FF DA every 64 KiB or so
    photo = _baseline((500, 375))
    trailer = np.random.default_rng(0).integers(0, 256, 5 << 20, dtype=np.uint8).tobytes()
    assert trailer.count(b"\xff\xda") > MAX_JPEG_SCANS
    assert check_metadata(io.BytesIO(photo + trailer), "x") == 1
    assert image_to_vector(photo + trailer).shape == (12288,)
    # FF DA inside a comment between two scans is the comment's, not a scan
    data = progressive((16, 16), 6)
    second = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    comment = b"\xff\xfe" + (2 + 4 * 100).to_bytes(2, "big") + b"\xff\xda\x00\x08" * 100
    assert check_metadata(io.BytesIO(data[:second] + comment + data[second:]), "x") == 6


def _baseline(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 128).save(out, "JPEG")
    return out.getvalue()


def test_other_formats_are_one_pass() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    assert check_metadata(io.BytesIO(out.getvalue()), "x") == 1


def test_the_decoders_work_counts_every_scan_of_every_pixel() -> None:
    # 500x375 decodes 125x94 (11750 pixels) at its DCT scale; 60 scans weigh 500*375*60/256,
    # the usual 10 less than its decoded pixels
    bound = 16384
    for data in (_baseline((500, 375)), progressive((500, 375), 10)):
        assert image_to_vector(data, max_decoded_pixels=bound).shape == (12288,)
    with pytest.raises(ImageTooLargeError) as caught:
        image_to_vector(progressive((500, 375), 60), max_decoded_pixels=bound)
    assert (caught.value.limit, caught.value.value, caught.value.actual) == ("max_decoded_pixels", bound,
                                                                            500 * 375 * 60 // 256)
    assert "its 60 scans of 500x375" in str(caught.value)
    # where the decoded pixels weigh more, the message says so
    with pytest.raises(ImageTooLargeError, match=r"produces 125x94 = 11750 pixels"):
        image_to_vector(progressive((500, 375), 10), max_decoded_pixels=10_000)


# -- the formats Pillow decodes in Python
def test_a_python_decoded_picture_over_its_bound_is_refused_before_decoding() -> None:
    bomb = rle_bmp(6000, 6666)  # 27 KB; 5.5 s of Pillow's Python RLE decoder
    assert len(bomb) < 30_000
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as caught:
        image_to_vector(bomb)
    assert time.perf_counter() - start < 0.5
    error = caught.value
    assert (error.limit, error.value, error.actual) == ("MAX_PYTHON_DECODED_PIXELS", MAX_PYTHON_DECODED_PIXELS,
                                                        6000 * 6666)
    assert "send it as PNG or JPEG" in str(error)


def test_a_python_decoded_picture_within_it_decodes_and_weighs_64_pixels_a_pixel() -> None:
    side = 1024  # exactly at the bound
    assert side * side == MAX_PYTHON_DECODED_PIXELS
    assert image_to_vector(rle_bmp(side, side)).shape == (12288,)
    assert image_to_vector(rle_bmp(16, 16), max_decoded_pixels=16 * 16 * 64).shape == (12288,)
    with pytest.raises(ImageTooLargeError) as caught:
        image_to_vector(rle_bmp(16, 17), max_decoded_pixels=16 * 16 * 64)
    assert caught.value.actual == 16 * 17 * 64 and "in Python" in str(caught.value)
    # the same picture in a format of Pillow's C decoders is one pixel a pixel
    out = io.BytesIO()
    Image.new("RGB", (16, 17)).save(out, "BMP")
    assert image_to_vector(out.getvalue(), max_decoded_pixels=16 * 17).shape == (12288,)


# -- a palette image without its palette
def test_a_palette_png_without_plte_is_a_data_error_not_an_assertion() -> None:
    with pytest.raises(DataError) as caught:
        image_to_vector(png_without_palette())
    assert type(caught.value) is DataError
    assert str(caught.value) == "image bytes: a palette image without its palette (no PLTE chunk)"


# -- AVIF that libavif cannot read
@pytest.mark.parametrize("broken", ["no-item", "planes"])
def test_an_avif_libavif_cannot_read_is_a_data_error_not_a_runtime_error(broken: str) -> None:
    with pytest.raises(DataError) as caught:
        image_to_vector(broken_avif(broken))
    assert str(caught.value) == "image bytes: truncated or corrupt image"
