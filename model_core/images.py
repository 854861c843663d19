"""Images in the course's layout: any picture Pillow reads -> a 12288-vector of uint8.

64x64 RGB unrolled in C order (row, column, channel). Pixels stay uint8 (the caller
scales them) so a data set of m images costs about ``m * 12288`` bytes.

Everything read here may come from an untrusted upload: images are size-checked from
their header before decoding.

Limitation: to turn Pillow's DecompressionBombWarning into an error, decoding runs in
``warnings.catch_warnings()``, whose filter state is process-global before Python 3.14.
Under concurrent threads another thread's filter change can interleave; the own
``max_pixels`` check (below Pillow's warning threshold by default) still applies.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, BinaryIO, TypeAlias, cast

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .avif import coded_size
from .errors import DataError, NotAnImageError
from .image_metadata import (
    MAX_TEXT_BYTES,
    ORIENTATION_TAG,
    TRANSPOSE,
    ImageMetadataError,
    check_metadata,
    exif_orientation,
)
from .limits import check_limit

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "IMAGE_SHAPE",
    "IMAGE_SIDE",
    "MAX_PYTHON_DECODED_PIXELS",
    "N_FEATURES",
    "RESAMPLE",
    "ImageSource",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "image_size",
    "image_to_vector",
    "images_to_matrix",
    "stack_columns",
    "stream_to_vector",
]

IMAGE_SIDE = 64
IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 3)
N_FEATURES = IMAGE_SIDE * IMAGE_SIDE * 3  # 12288
DEFAULT_MAX_PIXELS = 40_000_000
# The formats read, each one whose Image.open reads only the header: the size limits are
# checked before a pixel is decoded. Pillow's ICO plugin decodes its largest embedded image
# inside open() (a 56 KB .ico holding a 4000x4000 PNG decoded 16 Mpx before any check), and
# PSD, DDS, ICNS, the vector formats and HDF5, GRIB... (which Pillow recognises and cannot
# decode) are no photographs; they are refused as not images.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "DIB", "TIFF", "AVIF", "PPM", "TGA", "QOI")

# Pillow decodes a few formats in Python (its registered PyDecoders, Image.DECODERS: RLE
# BMP, plain-text and 16-bit PPM, QOI), 50 to 100 times slower a pixel than its C decoders:
# measured here, a 1000x1000 plain PPM took 1.4 s, a QOI 0.9 s, and a 27 KB RLE BMP that
# declares 6000x6666 5.5 s. Their pictures are bounded tighter, and count this many times
# in the decoder's work.
MAX_PYTHON_DECODED_PIXELS = 1 << 20
_PYTHON_DECODER_COST = 64
_SCAN_PIXELS = 256  # pixel-scans of a progressive JPEG that cost a pixel of the costliest format

# LANCZOS: Pillow widens the kernel by the downscale factor, so it is a proper
# anti-aliasing low-pass (fine texture such as fur does not alias into moire) and it
# is the sharpest of Pillow's filters at a 64-pixel target. reducing_gap first shrinks
# huge images by an integer box reduce(); the result is visually the same, much faster.
RESAMPLE = Image.Resampling.LANCZOS
_REDUCING_GAP = 3.0

# What Pillow (and its plugins, on hostile input) raise for a broken file; AssertionError
# too: Pillow checks some of a file's promises with assert (a palette PNG without PLTE);
# RuntimeError: its AVIF plugin's for any file libavif cannot parse or decode.
_DECODE_ERRORS = (
    AssertionError,
    RuntimeError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    ZeroDivisionError,
    OverflowError,
)

ImageSource: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO


class ImageTooSmallError(DataError):
    """The image has fewer than ``min_side`` pixels on a side (too little to classify).

    ``limit`` is ``"min_side"``, ``value`` its value, ``actual`` the image's shorter side.
    """


class ImageTooLargeError(DataError):
    """An image's pixel count (from its header) is above the allowed maximum.

    ``limit`` is ``"max_pixels"`` (the argument), ``"max_decoded_pixels"`` (the same for the
    pixels decoded), ``"MAX_PYTHON_DECODED_PIXELS"`` (a format Pillow decodes in Python) or
    ``"PIL.Image.MAX_IMAGE_PIXELS"`` (Pillow's
    decompression-bomb guard), ``value`` its value, ``actual`` the declared pixel count
    (None where Pillow's message did not give it).
    """


# ----------------------------------------------------------------------------- images


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header, nothing decoded; None if Pillow cannot open it.

    As :func:`image_to_vector` does before it decodes: the metadata is bounded first (Pillow
    copies it while it opens a JPEG or a TIFF), and Pillow's decompression-bomb warning is
    an error. For a budget over many images before any is decoded; why one cannot be opened
    is :func:`image_to_vector`'s to say.
    """
    stream = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            check_metadata(stream, "image")
            with Image.open(stream, formats=FORMATS) as img:
                return _coded_size(img, stream) or img.size
    except Exception:  # noqa: BLE001  (any reason at all: image_to_vector names it)
        return None


def image_to_vector(
    source: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS, min_side: int = 1,
    max_decoded_pixels: int | None = None,
) -> np.ndarray:
    """Any image Pillow reads -> the course's (12288,) uint8 vector.

    ``source`` is the encoded bytes, a path, or a binary file object (read from its
    start if it can seek, else from where it is). The format is detected from the
    content, never from a file name. The first frame of an animation is used and EXIF
    orientation is applied. Transparency is composited over white; 16-bit, 32-bit and
    float images are scaled to 0..255.

    The picture is squashed to 64x64 with no aspect-preserving crop, like the course's
    data set, using ``RESAMPLE`` (LANCZOS, anti-aliased for downscaling). JPEGs are
    first decoded at a reduced DCT scale (``draft``: 1/2 to 1/8, staying >= 64x64; the
    DCT scaling itself averages blocks, so it does not alias), which reads a 12 Mpx
    photo about 2x faster.

    Raises ImageTooLargeError if width*height from the header exceeds ``max_pixels``
    (None: only Pillow's own decompression-bomb limit applies), ImageTooSmallError if
    its width or height is below ``min_side`` (default 1: any size), NotAnImageError if
    the data is empty or no image, DataError if it is truncated or corrupt.

    ``max_decoded_pixels`` bounds the decoder's work rather than the picture: the pixels
    it would produce, which for a JPEG are those after the DCT scaling (a 500x375 photo
    decodes 125x94), weighed by what a pixel costs (a progressive JPEG's scans pass over the
    whole picture, and a few formats are decoded in Python). Above it, ImageTooLargeError
    (``limit="max_decoded_pixels"``) is raised with only the header read, for a caller that
    decodes small images in one place and the rest in another.
    """
    check_limit("max_pixels", max_pixels, allow_none=True)
    check_limit("min_side", min_side)
    check_limit("max_decoded_pixels", max_decoded_pixels, allow_none=True)
    with _opened(source) as (stream, name):
        return stream_to_vector(stream, name, max_pixels, min_side, max_decoded_pixels)


def images_to_matrix(
    sources: Iterable[ImageSource], max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Images -> X of shape (12288, m) uint8, image j in column j."""
    items = list(sources)
    vectors = (image_to_vector(s, max_pixels=max_pixels) for s in items)
    return stack_columns(vectors, len(items))


def stream_to_vector(
    stream: IO[bytes], name: str, max_pixels: int | None, min_side: int = 1,
    max_decoded_pixels: int | None = None,
) -> np.ndarray:
    """Seekable stream of an encoded image -> (12288,) uint8, as :func:`image_to_vector`.

    For readers that already hold the image as a stream (a zip member's bytes); ``name``
    stands for it in messages, and the limits are not checked again.
    """
    if _stream_length(stream) == 0:
        raise NotAnImageError(f"{name}: empty file (0 bytes), not an image")
    try:
        # Pillow warns (and above twice its limit raises) on decompression bombs; the
        # warning is made an error so that no huge image is ever silently decoded.
        # catch_warnings is process-global before Python 3.14: see the module notes.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            passes = check_metadata(stream, name)  # what Pillow would copy while opening, bounded first
            with Image.open(stream, formats=FORMATS) as img:
                coded = _coded_size(img, stream)  # an AVIF's frame, where it is larger than it says
                header_size = coded or img.size
                _check_pixels(header_size, name, max_pixels, min_side)
                python = _python_decoded(img)
                if python:
                    _check_python_decoded(img.size, name)
                img.draft("RGB", (IMAGE_SIDE, IMAGE_SIDE))  # no-op except for JPEG
                # the size draft left, the scans, the decoder's language
                _check_decoded(coded or img.size, header_size, passes, python, name, max_decoded_pixels)
                img.load()  # decode now, inside the try, so truncation is reported here
                pixels = _to_rgb64(_upright(img), name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # only the pixel count of Pillow's message is passed on, never its text
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{declared.group(1)} pixels, " if declared else ""
        raise ImageTooLargeError(
            f"{name}: image of {size}more than Pillow's decompression-bomb guard allows "
            f"({Image.MAX_IMAGE_PIXELS} pixels)",
            limit="PIL.Image.MAX_IMAGE_PIXELS", value=Image.MAX_IMAGE_PIXELS,
            actual=int(declared.group(1)) if declared else None,
        ) from exc
    except UnidentifiedImageError as exc:
        raise NotAnImageError(f"{name}: not an image Pillow can read (formats read: {', '.join(FORMATS)})") from exc
    except DataError:
        raise
    except ValueError as exc:
        if "MAX_TEXT" not in str(exc):  # Pillow's PNG text bound (see model_core.image_metadata)
            raise DataError(f"{name}: truncated or corrupt image") from exc
        raise ImageMetadataError(
            f"{name}: its text or ICC metadata inflates past the bound of {MAX_TEXT_BYTES} bytes; "
            "strip the metadata and resend",
            limit="MAX_TEXT_BYTES", value=MAX_TEXT_BYTES,
        ) from exc
    except _DECODE_ERRORS as exc:
        # Pillow's messages can quote the file's own bytes (chunk names, tag values)
        raise DataError(f"{name}: truncated or corrupt image") from exc
    return pixels.reshape(N_FEATURES)


def _coded_size(img: ImageFile.ImageFile, stream: IO[bytes]) -> tuple[int, int] | None:
    """An AVIF's largest coded frame (model_core.avif), when it holds more pixels than the
    size the file declares (Pillow's ``img.size``); None otherwise and for other formats."""
    if img.format != "AVIF":
        return None
    position = stream.tell()
    stream.seek(0)
    coded = coded_size(stream.read())
    stream.seek(position)
    return coded if coded and coded[0] * coded[1] > img.size[0] * img.size[1] else None


def _python_decoded(img: ImageFile.ImageFile) -> bool:
    """Whether Pillow decodes ``img`` with one of its decoders written in Python."""
    return any(tile[0] in Image.DECODERS for tile in img.tile)


def _check_python_decoded(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width * height > MAX_PYTHON_DECODED_PIXELS:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height} = {width * height} pixels, above the limit of "
            f"{MAX_PYTHON_DECODED_PIXELS} pixels for a format that Pillow decodes slowly (RLE BMP, "
            "plain-text PPM, QOI); send it as PNG or JPEG",
            limit="MAX_PYTHON_DECODED_PIXELS", value=MAX_PYTHON_DECODED_PIXELS, actual=width * height,
        )


def _decoding_work(size: tuple[int, int], declared: tuple[int, int], passes: int, python: bool) -> int:
    """The decoder's work in pixels of the costliest format (64 ns a pixel, an RGBA PNG of
    smooth gradients): those it produces (``size``, a JPEG's after its DCT scaling), times
    _PYTHON_DECODER_COST for a decoder written in Python; or, for a JPEG of several scans,
    the ``declared`` pixels times the scans over _SCAN_PIXELS if more (a scan passes over
    every block, 0.25 ns a pixel however few bytes it holds, measured here)."""
    produced = size[0] * size[1] * (_PYTHON_DECODER_COST if python else 1)
    return produced if passes <= 1 else max(produced, _scan_work(declared, passes))


def _scan_work(declared: tuple[int, int], passes: int) -> int:
    return declared[0] * declared[1] * passes // _SCAN_PIXELS


def _check_decoded(size: tuple[int, int], declared: tuple[int, int], passes: int, python: bool, name: str,
                   max_decoded_pixels: int | None) -> None:
    if max_decoded_pixels is None:
        return
    work = _decoding_work(size, declared, passes, python)
    if work > max_decoded_pixels:
        width, height = size
        if passes > 1 and work == _scan_work(declared, passes):
            what = f"decoding its {passes} scans of {declared[0]}x{declared[1]} costs as much as {work} pixels"
        elif python:
            what = f"decoding its {width}x{height} pixels in Python costs as much as {work} pixels"
        else:
            what = f"decoding it produces {width}x{height} = {work} pixels"
        raise ImageTooLargeError(
            f"{name}: {what}, above the limit of {max_decoded_pixels} (max_decoded_pixels)",
            limit="max_decoded_pixels", value=max_decoded_pixels, actual=work,
        )


def _check_pixels(size: tuple[int, int], name: str, max_pixels: int | None, min_side: int = 1) -> None:
    width, height = size
    if min(width, height) < min_side:
        raise ImageTooSmallError(
            f"{name}: image is {width}x{height} pixels, below the minimum of {min_side} "
            f"pixels a side (min_side)",
            limit="min_side", value=min_side, actual=min(width, height),
        )
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height} = {width * height} pixels, "
            f"above the limit of {max_pixels} pixels (max_pixels)",
            limit="max_pixels", value=max_pixels, actual=width * height,
        )


def _upright(img: Image.Image) -> Image.Image:
    """``img`` rotated/flipped as its EXIF Orientation tag says (itself if none).

    The tag is read without Pillow's EXIF parser (see model_core.image_metadata): a TIFF's
    own tags were read, bounded, when it opened; other formats carry raw EXIF bytes.
    Unreadable metadata leaves pixels that decoded fine as they are.
    """
    tags = getattr(img, "tag_v2", None)
    if tags is not None:
        value = tags.get(ORIENTATION_TAG)
        orientation = value if isinstance(value, int) else None
    else:
        raw = img.info.get("exif")
        orientation = exif_orientation(raw) if isinstance(raw, bytes) else None
    method = TRANSPOSE.get(orientation) if orientation is not None else None
    return img if method is None else img.transpose(method)


def _to_rgb64(img: Image.Image, name: str) -> np.ndarray:
    """Decoded image of any mode -> (64, 64, 3) uint8 RGB."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _high_depth_to_rgb64(img)
    if img.mode in ("P", "PA") and img.palette is None:  # asserted, not raised, by Pillow (and not under -O)
        raise DataError(f"{name}: a palette image without its palette (no PLTE chunk)")
    if img.has_transparency_data:
        if img.mode == "La":  # premultiplied; Pillow converts it to RGBA only via LA
            img = img.convert("LA")
        # Resized with straight alpha (Pillow premultiplies internally), then flattened.
        return _over_white(np.asarray(_resized(img.convert("RGBA"))))
    try:
        rgb = img if img.mode == "RGB" else img.convert("RGB")
    except ValueError as exc:
        raise DataError(f"{name}: unsupported image mode {img.mode!r}") from exc
    return np.asarray(_resized(rgb))


def _resized(img: Image.Image) -> Image.Image:
    """Squash to 64x64 (a 64x64 image is returned unchanged by Pillow)."""
    return img.resize((IMAGE_SIDE, IMAGE_SIDE), RESAMPLE, reducing_gap=_REDUCING_GAP)


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) uint8 straight alpha -> (h, w, 3) uint8 composited over white."""
    rgb = rgba[..., :3].astype(np.uint16)
    alpha = rgba[..., 3:].astype(np.uint16)
    # At most 255*255 + 127: fits in uint16; +127 rounds the division to nearest.
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _high_depth_to_rgb64(img: Image.Image) -> np.ndarray:
    """16-bit, 32-bit integer or float grayscale -> (64, 64, 3) uint8 gray."""
    full_scale = _full_scale(img)
    # Resampled as float so no precision is lost before the mapping to 8 bits.
    small = np.asarray(_resized(_as_float_image(img)), dtype=np.float64)
    gray = np.nan_to_num(small * (255.0 / full_scale), nan=0.0, posinf=255.0, neginf=0.0)
    gray8 = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return np.repeat(gray8[:, :, np.newaxis], 3, axis=2)


def _as_float_image(img: Image.Image) -> Image.Image:
    """I, F or I;16* -> mode F with the same values."""
    if img.mode == "F":
        return img
    if img.mode.startswith("I;16"):
        # Via NumPy: not every Pillow version converts each I;16 variant to F directly.
        return Image.fromarray(np.asarray(img, dtype=np.float32))  # 2-D float32 is F
    return img.convert("F")


def _full_scale(img: Image.Image) -> float:
    """The value of ``img`` shown as white (255).

    I;16 has a known range: 65535. Modes I and F carry no nominal range, so the
    smallest usual one that holds the image's maximum is taken: 1.0 (floats only),
    255 (Pillow's own convention for I and F), 65535 (16-bit data); beyond that the
    maximum itself. Negative values become black.
    """
    if img.mode.startswith("I;16"):
        return 65535.0
    # from the full image, not the resized one; I and F have one band: (min, max)
    high = float(cast(tuple[float, float], img.getextrema())[1])
    candidates = (1.0, 255.0, 65535.0) if img.mode == "F" else (255.0, 65535.0)
    for scale in candidates:
        if high <= scale:
            return scale
    return high if np.isfinite(high) else 65535.0


# ----------------------------------------------------------------------------- sources


@contextlib.contextmanager
def _opened(source: ImageSource) -> Iterator[tuple[IO[bytes], str]]:
    """Yield a seekable binary stream for ``source`` and a name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source), "image bytes"
    elif isinstance(source, (str, os.PathLike)):
        name = str(os.fspath(source))
        with _open_file(name) as f:
            yield f, name
    elif hasattr(source, "read"):
        name = str(getattr(source, "name", "image stream"))
        yield _seekable(source, name), name
    else:
        raise DataError(
            "image source must be bytes, a path or a binary file object, "
            f"not {type(source).__name__}"
        )


def _open_file(name: str) -> BinaryIO:
    try:
        return open(name, "rb")
    except FileNotFoundError:
        raise DataError(f"no such file: {name!r}") from None
    except IsADirectoryError:
        raise DataError(f"{name!r} is a directory, not an image file") from None
    except OSError as exc:
        raise DataError(f"cannot read {name!r}: {exc.strerror or exc}") from exc


def _seekable(f: IO[bytes], name: str) -> IO[bytes]:
    """``f`` itself if it can seek (Pillow needs to), else its remaining bytes in memory."""
    if isinstance(f, io.TextIOBase):
        raise DataError(f"{name}: file object is in text mode; open it in binary mode ('rb')")
    try:
        if f.seekable():
            return f
    except (AttributeError, ValueError, OSError):
        pass
    data = f.read()
    if not isinstance(data, (bytes, bytearray)):
        raise DataError(f"{name}: file object returned {type(data).__name__}, not bytes")
    return io.BytesIO(data)


def _stream_length(stream: IO[bytes]) -> int:
    """Total length of a seekable stream; leaves it at position 0 (where Pillow reads)."""
    stream.seek(0, io.SEEK_END)
    length = stream.tell()
    stream.seek(0)
    return length


def stack_columns(vectors: Iterable[np.ndarray], m: int) -> np.ndarray:
    """m vectors of 12288 -> (12288, m) uint8, filled in place (no 2x memory peak)."""
    X = np.empty((N_FEATURES, m), dtype=np.uint8)
    for j, vector in enumerate(vectors):
        X[:, j] = vector
    return X

