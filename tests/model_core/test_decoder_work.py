"""The decoder's work, bounded before it starts: a JPEG's scans, the formats that Pillow
decodes in Python, and a palette image that lacks its palette (the files:
``tests/decoder_bombs.py``). Each bomb is refused in milliseconds where decoding it took
seconds (``model_core.images``, ``model_core.image_metadata``).
"""
from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from model_core import DataError, ImageTooLargeError, image_to_vector
from model_core import image_metadata
from model_core.image_metadata import MAX_JPEG_SCANS, ImageMetadataError, check_metadata
from model_core.images import MAX_PYTHON_DECODED_PIXELS

from tests.decoder_bombs import png_without_palette, progressive, rle_bmp


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


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_scans_are_counted_alike_whatever_the_reads_split(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    # a marker split between two reads is counted once: the count is the file's own
    monkeypatch.setattr(image_metadata, "_COUNT_CHUNK", chunk)
    for scans in (1, 6, 40):
        data = progressive((16, 16), scans) if scans > 1 else _baseline((16, 16))
        assert check_metadata(io.BytesIO(data), "x") == scans == data.count(b"\xff\xda")


def _baseline(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 128).save(out, "JPEG")
    return out.getvalue()


def test_other_formats_are_one_pass() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    assert check_metadata(io.BytesIO(out.getvalue()), "x") == 1


def test_the_decoders_work_counts_every_scan_of_every_block() -> None:
    # 500x375 decodes 125x94 (11750 pixels) at its DCT scale; its 20 scans are 500*375*20/64
    bound = 16384
    assert image_to_vector(_baseline((500, 375)), max_decoded_pixels=bound).shape == (12288,)
    with pytest.raises(ImageTooLargeError) as caught:
        image_to_vector(progressive((500, 375), 20), max_decoded_pixels=bound)
    assert (caught.value.limit, caught.value.value, caught.value.actual) == ("max_decoded_pixels", bound,
                                                                            500 * 375 * 20 // 64)
    assert "its 20 scans of 500x375" in str(caught.value)
    # below the bound it decodes as any JPEG does
    assert image_to_vector(progressive((100, 100), 20), max_decoded_pixels=bound).shape == (12288,)


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
