"""model_core.avif.coded_size: the frame an AVIF's AV1 data codes, whatever its ``ispe``
property declares (Pillow's size), and what model_core.images checks against it."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from model_core import ImageTooLargeError, image_to_vector
from model_core.avif import coded_size
from model_core.images import image_size

from tests.decoder_bombs import lying_avif


def avif(size: tuple[int, int], mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (100, 150, 200, 90)[: len(mode)]).save(out, "AVIF", **options)
    return out.getvalue()


@pytest.mark.parametrize("size", [(64, 64), (300, 200), (1000, 37), (37, 1000), (4096, 1)])
def test_the_coded_size_of_an_honest_avif_is_its_size(size: tuple[int, int]) -> None:
    assert coded_size(avif(size)) == size == Image.open(io.BytesIO(avif(size))).size


def test_an_avif_with_alpha_and_an_image_sequence_are_read() -> None:
    assert coded_size(avif((120, 80), "RGBA")) == (120, 80)  # colour and alpha items
    frames = [Image.new("RGB", (200, 120), (40 * i, 150, 200)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "AVIF", save_all=True, append_images=frames[1:], duration=100)
    assert coded_size(out.getvalue()) == (200, 120)  # a full (not reduced) sequence header


def test_a_lying_avif_is_measured_by_its_frame_and_refused_unread() -> None:
    data = lying_avif((12000, 12000))  # 2 KB; decoding it took 0.35 s and 300 MB
    assert Image.open(io.BytesIO(data)).size == (64, 64)
    assert coded_size(data) == image_size(data) == (12000, 12000)
    with pytest.raises(ImageTooLargeError) as caught:
        image_to_vector(data)
    assert (caught.value.limit, caught.value.actual) == ("max_pixels", 12000 * 12000)
    # within the pixel limit, it counts as its frame where the decoder's work is bounded
    with pytest.raises(ImageTooLargeError) as caught:
        image_to_vector(lying_avif((500, 500)), max_decoded_pixels=128 * 128)
    assert (caught.value.limit, caught.value.actual) == ("max_decoded_pixels", 500 * 500)


def test_a_broken_file_has_no_coded_size_and_never_raises() -> None:
    data = avif((300, 200))
    for cut in range(0, len(data), 7):
        assert coded_size(data[:cut]) in (None, (300, 200))
    for at in range(len(data)):  # each byte in turn
        spoiled = bytearray(data)
        spoiled[at] ^= 0xFF
        result = coded_size(bytes(spoiled))
        assert result is None or (isinstance(result, tuple) and len(result) == 2)
    assert coded_size(b"") is None and coded_size(b"\x00\x00\x00\x01meta" + b"\xff" * 8) is None
