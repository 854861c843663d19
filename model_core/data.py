"""Images and data sets in the course's layout.

An image becomes a 12288-vector of uint8: 64x64 RGB unrolled in C order (row, column,
channel). A data set is ``X`` of shape ``(12288, m)`` uint8, one example per column,
and ``Y`` of shape ``(1, m)`` int64 with 1 = cat, 0 = non-cat. Pixels stay uint8 (the
caller scales by 1/255) so a data set costs about ``m * 12288`` bytes.

Everything read here may come from an untrusted upload: images are size-checked from
their header before decoding, zips are never extracted to disk and their uncompressed
size is bounded, and ``.npy`` arrays are loaded without pickle.

Limitation: to turn Pillow's DecompressionBombWarning into an error, decoding runs in
``warnings.catch_warnings()``, whose filter state is process-global before Python 3.14.
Under concurrent threads another thread's filter change can interleave; the own
``max_pixels`` check (below Pillow's warning threshold by default) still applies.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, TypeAlias

import h5py
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ConfigError, DataError

IMAGE_SIDE = 64
IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 3)
N_FEATURES = IMAGE_SIDE * IMAGE_SIDE * 3  # 12288
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_MAX_MEMBERS = 100_000

# LANCZOS: Pillow widens the kernel by the downscale factor, so it is a proper
# anti-aliasing low-pass (fine texture such as fur does not alias into moire) and it
# is the sharpest of Pillow's filters at a 64-pixel target. reducing_gap first shrinks
# huge images by an integer box reduce(); the result is visually the same, much faster.
RESAMPLE = Image.Resampling.LANCZOS
_REDUCING_GAP = 3.0

_H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Local file header, or the end-of-central-directory record that opens an empty zip.
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
ACCEPTED_KINDS = (
    "a course .h5 file (a *_x/*_y dataset pair), an .npz with arrays X and Y, "
    "a folder with cat/ and non-cat/ subfolders of images, or a .zip of such a folder"
)
_LABEL_DIRS = {"cat": 1, "non-cat": 0}

# What Pillow (and its plugins, on hostile input) raise for a broken file.
_DECODE_ERRORS = (
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
_ZIP_ERRORS = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError
)

ImageSource: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO


class ImageTooLargeError(DataError):
    """An image's pixel count (from its header) is above the allowed maximum."""


# ----------------------------------------------------------------------------- images


def image_to_vector(
    source: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS
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
    (None: only Pillow's own decompression-bomb limit applies), DataError if the data
    is empty, not an image, truncated or corrupt.
    """
    _check_limit("max_pixels", max_pixels, allow_none=True)
    with _opened(source) as (stream, name):
        return _stream_to_vector(stream, name, max_pixels)


def images_to_matrix(
    sources: Iterable[ImageSource], max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Images -> X of shape (12288, m) uint8, image j in column j."""
    items = list(sources)
    vectors = (image_to_vector(s, max_pixels=max_pixels) for s in items)
    return _stack_columns(vectors, len(items))


def _stream_to_vector(stream: IO[bytes], name: str, max_pixels: int | None) -> np.ndarray:
    """Seekable stream of an encoded image -> (12288,) uint8."""
    if _stream_length(stream) == 0:
        raise DataError(f"{name}: empty file (0 bytes), not an image")
    try:
        # Pillow warns (and above twice its limit raises) on decompression bombs; the
        # warning is made an error so that no huge image is ever silently decoded.
        # catch_warnings is process-global before Python 3.14: see the module notes.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as img:
                _check_pixels(img.size, name, max_pixels)
                img.draft("RGB", (IMAGE_SIDE, IMAGE_SIDE))  # no-op except for JPEG
                img.load()  # decode now, inside the try, so truncation is reported here
                _apply_exif_orientation(img)
                pixels = _to_rgb64(img, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(
            f"{name}: too large for Pillow's decompression-bomb guard: {exc}"
        ) from exc
    except UnidentifiedImageError as exc:
        raise DataError(f"{name}: not an image Pillow can read") from exc
    except DataError:
        raise
    except _DECODE_ERRORS as exc:
        raise DataError(f"{name}: truncated or corrupt image ({exc})") from exc
    return pixels.reshape(N_FEATURES)


def _check_pixels(size: tuple[int, int], name: str, max_pixels: int | None) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height} = {width * height} pixels, "
            f"above the limit of {max_pixels} pixels (max_pixels)"
        )


def _apply_exif_orientation(img: Image.Image) -> None:
    """Rotate/flip ``img`` in place as its EXIF Orientation tag says."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except _DECODE_ERRORS:
        # Unreadable EXIF metadata must not reject pixels that decoded fine.
        pass


def _to_rgb64(img: Image.Image, name: str) -> np.ndarray:
    """Decoded image of any mode -> (64, 64, 3) uint8 RGB."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _high_depth_to_rgb64(img)
    if img.has_transparency_data:
        if img.mode == "La":  # premultiplied; Pillow converts it to RGBA only via LA
            img = img.convert("LA")
        # Resized with straight alpha (Pillow premultiplies internally), then flattened.
        return _over_white(np.asarray(_resized(img.convert("RGBA"))))
    try:
        rgb = img if img.mode == "RGB" else img.convert("RGB")
    except ValueError as exc:
        raise DataError(f"{name}: unsupported image mode {img.mode!r} ({exc})") from exc
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
    high = float(img.getextrema()[1])  # from the full image, not the resized one
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


def _stack_columns(vectors: Iterable[np.ndarray], m: int) -> np.ndarray:
    """m vectors of 12288 -> (12288, m) uint8, filled in place (no 2x memory peak)."""
    X = np.empty((N_FEATURES, m), dtype=np.uint8)
    for j, vector in enumerate(vectors):
        X[:, j] = vector
    return X


def _check_limit(what: str, value: int | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive int, got {value!r}")


# ----------------------------------------------------------------------------- data sets


def load_dataset(
    path: str | os.PathLike,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, np.ndarray]:
    """A data set -> (X (12288, m) uint8 C-contiguous, Y (1, m) int64 of 0/1).

    ``path`` is a course .h5 file, an .npz with ``X`` and ``Y``, a folder with cat/
    and non-cat/ subfolders of images, or a .zip of such a folder; the kind is
    detected from the content. Folder and zip examples are ordered cats first, then
    by path. ``max_bytes`` bounds the uncompressed bytes read from a zip, npz or h5
    (against zip bombs), ``max_members`` the entries of a zip, ``max_pixels`` each
    image. Raises DataError for anything missing, unsafe or malformed.
    """
    _check_limit("max_bytes", max_bytes)
    _check_limit("max_members", max_members)
    _check_limit("max_pixels", max_pixels, allow_none=True)
    p = Path(path)
    if p.is_dir():
        X, Y = _load_folder(p, max_pixels)
    elif not p.exists():
        raise DataError(f"no such file or directory: {str(p)!r}")
    elif not p.is_file():
        raise DataError(f"{p}: not a regular file or folder; expected {ACCEPTED_KINDS}")
    else:
        kind = _sniff(p)
        if kind == "h5":
            X, Y = _load_h5(p, max_bytes)
        elif kind == "zip":
            X, Y = _load_zip(
                p, max_bytes=max_bytes, max_members=max_members, max_pixels=max_pixels
            )
        else:
            raise DataError(f"{p}: unknown data set format ({kind}); expected {ACCEPTED_KINDS}")
    _check_dataset(X, Y, str(p))
    return X, Y


def dataset_sha256(X: np.ndarray, Y: np.ndarray) -> str:
    """Hex sha256 of X's bytes (uint8, C order) then Y's (little-endian int64).

    Identifies training data in model metadata; the same data in any memory layout
    hashes the same. X must be the uint8 data as loaded, not the scaled floats.
    """
    X, Y = np.asarray(X), np.asarray(Y)
    if X.dtype != np.uint8:
        raise DataError(f"dataset_sha256 needs X as uint8 (as loaded), got dtype {X.dtype}")
    if Y.dtype.kind not in "biu":
        raise DataError(f"dataset_sha256 needs integer labels Y, got dtype {Y.dtype}")
    digest = hashlib.sha256(np.ascontiguousarray(X).data)
    digest.update(np.ascontiguousarray(Y, dtype="<i8").data)
    return digest.hexdigest()


def _sniff(p: Path) -> str:
    """'h5', 'zip', or a short description of what the file is not."""
    size = p.stat().st_size
    if size == 0:
        return "empty file"
    with p.open("rb") as f:
        head = f.read(8)
        if head[:4] in _ZIP_SIGNATURES:
            return "zip"
        # The HDF5 superblock is at 0 or, after a user block, at 512, 1024, 2048, ...
        offset = 0
        while offset < size:
            f.seek(offset)
            if f.read(8) == _H5_SIGNATURE:
                return "h5"
            offset = max(512, offset * 2)
    return "no HDF5 or zip signature"


def _check_dataset(X: np.ndarray, Y: np.ndarray, name: str) -> None:
    """Final invariants every loader's result must meet."""
    if X.shape[1] == 0:
        raise DataError(f"{name}: data set has no examples")
    if X.dtype != np.uint8 or X.shape[0] != N_FEATURES:
        raise DataError(f"{name}: X is {X.dtype} {X.shape}; expected uint8 ({N_FEATURES}, m)")
    if Y.shape != (1, X.shape[1]) or Y.dtype != np.int64 or not np.isin(Y, (0, 1)).all():
        raise DataError(
            f"{name}: Y must be (1, {X.shape[1]}) int64 of 0/1, got {Y.dtype} {Y.shape}"
        )


def _images_to_columns(x: np.ndarray, name: str) -> np.ndarray:
    """(12288, m) or (m, 64, 64, 3) pixel values 0..255 -> (12288, m) uint8 C-contiguous."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[1:] == IMAGE_SHAPE:
        # Row j of the reshape is image j unrolled in (row, column, channel) order.
        columns = x.reshape(x.shape[0], N_FEATURES).T
    elif x.ndim == 2 and x.shape[0] == N_FEATURES:
        columns = x
    else:
        raise DataError(
            f"{name}: images have shape {x.shape}; expected ({N_FEATURES}, m) or (m, 64, 64, 3)"
        )
    return np.ascontiguousarray(_as_uint8(columns, name))


def _as_uint8(a: np.ndarray, name: str) -> np.ndarray:
    """Whole pixel values 0..255 of any int/float dtype -> uint8; anything else is refused."""
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind not in "iuf":
        raise DataError(
            f"{name}: pixels have dtype {a.dtype}; expected uint8 or integer values 0..255"
        )
    if a.size == 0:
        return a.astype(np.uint8)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError(f"{name}: pixels contain NaN or infinity; expected values 0..255")
    low, high = a.min(), a.max()
    if low < 0 or high > 255:
        raise DataError(f"{name}: pixel values span {low}..{high}; expected 0..255")
    if a.dtype.kind == "f" and not (a == np.floor(a)).all():
        # Casting would silently floor e.g. images already divided by 255 to zeros.
        raise DataError(
            f"{name}: pixels are non-integer floats ({low}..{high}); expected whole values 0..255"
        )
    return a.astype(np.uint8)


def _labels(y: np.ndarray, m: int, name: str) -> np.ndarray:
    """m labels shaped (m,), (1, m) or (m, 1), each 0 or 1 -> (1, m) int64."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DataError(f"{name}: labels have dtype {y.dtype}; expected integers 0/1")
    if y.size != m or y.ndim > 2 or (y.ndim == 2 and 1 not in y.shape):
        raise DataError(
            f"{name}: labels have shape {y.shape}; expected {m} labels, (m,) or (1, m)"
        )
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        found = np.unique(y[bad])[:5].tolist()
        raise DataError(f"{name}: labels must be 0 (non-cat) or 1 (cat); found {found}")
    return y.reshape(1, m).astype(np.int64)


# h5 ------------------------------------------------------------------------------------


def _load_h5(p: Path, max_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Course layout: a ``<prefix>_x`` (m, 64, 64, 3) and ``<prefix>_y`` (m,) pair."""
    try:
        with h5py.File(p, "r") as f:
            prefix = _h5_prefix(f, str(p))
            x_set, y_set = f[f"{prefix}_x"], f[f"{prefix}_y"]
            # Declared shapes are authoritative in HDF5, so this bounds a compressed bomb.
            size = x_set.size * x_set.dtype.itemsize + y_set.size * y_set.dtype.itemsize
            if size > max_bytes:
                raise DataError(
                    f"{p}: datasets hold {size} bytes, above the limit max_bytes={max_bytes}"
                )
            x, y = x_set[()], y_set[()]
    except DataError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{p}: unreadable HDF5 file ({exc})") from exc
    X = _images_to_columns(x, f"{p}:{prefix}_x")
    return X, _labels(y, X.shape[1], f"{p}:{prefix}_y")


def _h5_prefix(f: h5py.File, name: str) -> str:
    """The one ``prefix`` with datasets ``prefix_x`` and ``prefix_y`` (e.g. 'train_set')."""
    keys = sorted(k for k in f.keys() if isinstance(f[k], h5py.Dataset))
    prefixes = [k[:-2] for k in keys if k.endswith("_x") and f"{k[:-2]}_y" in keys]
    if len(prefixes) != 1:
        problem = "no" if not prefixes else "more than one"
        raise DataError(f"{name}: {problem} *_x/*_y dataset pair (datasets: {keys})")
    return prefixes[0]


# folder --------------------------------------------------------------------------------


def _load_folder(root: Path, max_pixels: int | None) -> tuple[np.ndarray, np.ndarray]:
    """cat/ and non-cat/ subfolders of images (searched recursively) -> X, Y."""
    for sub in _LABEL_DIRS:
        if not (root / sub).is_dir():
            raise DataError(
                f"{root}: missing folder {sub}/; expected cat/ and non-cat/ subfolders"
            )
    items = [
        (file, label) for sub, label in _LABEL_DIRS.items() for file in _image_files(root / sub)
    ]
    if not items:
        raise DataError(f"{root}: no images in cat/ or non-cat/")
    vectors = (image_to_vector(file, max_pixels=max_pixels) for file, _ in items)
    X = _stack_columns(vectors, len(items))
    return X, np.array([[label for _, label in items]], dtype=np.int64)


def _image_files(folder: Path) -> list[Path]:
    """Files under ``folder``, sorted, without hidden ones (.DS_Store, ._x, .git/...)."""
    return sorted(
        file
        for file in folder.rglob("*")
        if file.is_file() and not _is_hidden(PurePosixPath(*file.relative_to(folder).parts))
    )


def _is_hidden(path: PurePosixPath) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


# zip -----------------------------------------------------------------------------------


@dataclass
class _ByteBudget:
    """Uncompressed bytes still allowed from one zip. Counted on the bytes actually
    inflated, because the sizes in a zip's headers can lie."""

    left: int
    limit: int
    archive: str

    def read(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        with zf.open(info) as member:
            data = member.read(self.left + 1)
        if len(data) > self.left:
            raise DataError(
                f"{self.archive}: uncompressed contents exceed the limit max_bytes={self.limit} "
                f"(while reading {info.filename!r}); possible zip bomb"
            )
        self.left -= len(data)
        return data


def _load_zip(
    p: Path, *, max_bytes: int, max_members: int, max_pixels: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """An .npz (all members .npy) or a zipped cat/non-cat folder, read in memory."""
    archive = str(p)
    try:
        with zipfile.ZipFile(p) as zf:
            members = _checked_members(zf, archive, max_bytes=max_bytes, max_members=max_members)
            budget = _ByteBudget(max_bytes, max_bytes, archive)
            files = [(path, info) for path, info in members if not info.is_dir()]
            if files and all(path.suffix == ".npy" for path, _ in files):
                return _load_npz(zf, files, budget, archive)
            return _load_zip_folder(zf, members, budget, archive, max_pixels)
    except DataError:
        raise
    except _ZIP_ERRORS as exc:
        raise DataError(f"{archive}: corrupt or unsupported zip ({exc})") from exc


def _checked_members(
    zf: zipfile.ZipFile, archive: str, *, max_bytes: int, max_members: int
) -> list[tuple[PurePosixPath, zipfile.ZipInfo]]:
    """All entries with their paths, after the count, path and declared-size checks."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise DataError(
            f"{archive}: {len(infos)} zip entries, above the limit max_members={max_members}"
        )
    members = [(_member_path(info.filename, archive), info) for info in infos]
    declared = sum(info.file_size for info in infos)
    if declared > max_bytes:
        raise DataError(
            f"{archive}: zip declares {declared} uncompressed bytes, above the limit "
            f"max_bytes={max_bytes}; possible zip bomb"
        )
    return members


def _member_path(filename: str, archive: str) -> PurePosixPath:
    """A member's relative path; absolute or '..' paths are refused even though nothing
    is extracted, as no honest data set contains them."""
    normalized = filename.replace("\\", "/")
    path = PurePosixPath(normalized)
    if normalized.startswith("/") or re.match(r"[A-Za-z]:", normalized) or ".." in path.parts:
        raise DataError(f"{archive}: unsafe path {filename!r} in zip (absolute or with '..')")
    return path


def _load_npz(
    zf: zipfile.ZipFile,
    files: list[tuple[PurePosixPath, zipfile.ZipInfo]],
    budget: _ByteBudget,
    archive: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Arrays 'X' and 'Y' of an npz; other arrays are ignored and not read."""
    arrays = {
        path.stem: _npy(budget.read(zf, info), f"{archive}:{path.stem}")
        for path, info in files
        if str(path.with_suffix("")) in ("X", "Y")
    }
    if arrays.keys() != {"X", "Y"}:
        found = sorted(str(path.with_suffix("")) for path, _ in files)
        raise DataError(f"{archive}: npz must hold arrays 'X' and 'Y'; found {found}")
    X = _images_to_columns(arrays["X"], f"{archive}:X")
    return X, _labels(arrays["Y"], X.shape[1], f"{archive}:Y")


def _npy(data: bytes, name: str) -> np.ndarray:
    """Bytes of one .npy file -> array, never unpickling."""
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        # allow_pickle=False makes NumPy refuse object (pickled) arrays with a ValueError.
        raise DataError(
            f"{name}: not a plain array (pickled object arrays are refused): {exc}"
        ) from exc
    except (OSError, EOFError, TypeError, SyntaxError) as exc:
        raise DataError(f"{name}: corrupt .npy data ({exc})") from exc
    if not isinstance(array, np.ndarray):
        raise DataError(f"{name}: not an array")
    return array


def _load_zip_folder(
    zf: zipfile.ZipFile,
    members: list[tuple[PurePosixPath, zipfile.ZipInfo]],
    budget: _ByteBudget,
    archive: str,
    max_pixels: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """cat/ and non-cat/ at the top of the zip or inside its one top-level folder."""
    visible = [(path, info) for path, info in members if not _is_hidden(path)]
    root = _zip_root([path for path, _ in visible], archive)
    labelled = [
        (label, path, info)
        for path, info in visible
        if not info.is_dir() and (label := _zip_label(path, root)) is not None
    ]
    items = sorted(labelled, key=lambda item: (-item[0], str(item[1])))  # cats first, like folders
    if not items:
        raise DataError(f"{archive}: no images in cat/ or non-cat/")

    def vector(info: zipfile.ZipInfo) -> np.ndarray:
        name = f"{archive}:{info.filename}"
        return _stream_to_vector(io.BytesIO(budget.read(zf, info)), name, max_pixels)

    X = _stack_columns((vector(info) for _, _, info in items), len(items))
    return X, np.array([[label for label, _, _ in items]], dtype=np.int64)


def _zip_root(paths: list[PurePosixPath], archive: str) -> PurePosixPath:
    """The folder holding cat/ and non-cat/: the zip's top, or one top-level folder."""
    # Directories implied by member paths: zips need not store directory entries.
    folders = {parent for path in paths for parent in path.parents} | set(paths)
    roots = sorted(
        folder
        for folder in folders
        if len(folder.parts) <= 1 and all(folder / sub in folders for sub in _LABEL_DIRS)
    )
    if len(roots) != 1:
        top = sorted({path.parts[0] for path in paths if path.parts})[:10]
        raise DataError(
            f"{archive}: expected cat/ and non-cat/ folders at the top of the zip or inside "
            f"one top-level folder; top-level entries: {top}"
        )
    return roots[0]


def _zip_label(path: PurePosixPath, root: PurePosixPath) -> int | None:
    """1 for a file under root/cat, 0 under root/non-cat, None elsewhere."""
    parts = path.parts[len(root.parts):]
    if path.parts[: len(root.parts)] != root.parts or len(parts) < 2:
        return None
    return _LABEL_DIRS.get(parts[0])
