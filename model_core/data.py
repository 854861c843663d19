"""Data sets in the course's layout: ``X`` (12288, m) uint8, one example per column, and
``Y`` (1, m) int64 with 1 = cat, 0 = non-cat.

Read from a course .h5, an .npz, a folder of cat/ and non-cat/ images or a .zip of one.
Everything read here may come from an untrusted upload: zips are never extracted to
disk and their uncompressed size is bounded, and ``.npy`` arrays are loaded without
pickle. Images go through model_core.images.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .errors import DataError, describe_dtype
from .h5file import open_course_h5
from .images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SHAPE,
    IMAGE_SIDE,
    N_FEATURES,
    ImageSource,
    ImageTooLargeError,
    ImageTooSmallError,
    image_to_vector,
    images_to_matrix,
    stack_columns,
    stream_to_vector,
)
from .limits import check_limit
from .npyfile import check_npy_header

__all__ = [
    "ACCEPTED_KINDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_MEMBERS",
    "MAX_MEMBER_DEPTH",
    "MAX_MEMBER_NAME",
    "dataset_sha256",
    "load_dataset",
    # the image API, re-exported: model_core.data is where the course's callers look
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SHAPE",
    "IMAGE_SIDE",
    "N_FEATURES",
    "ImageSource",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "image_to_vector",
    "images_to_matrix",
]

DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_MAX_MEMBERS = 100_000
MAX_MEMBER_NAME = 1024  # characters of a zip member's path
MAX_MEMBER_DEPTH = 32  # folders of a zip member's path

_H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Local file header, or the end-of-central-directory record that opens an empty zip.
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
ACCEPTED_KINDS = (
    "a course .h5 file (a *_x/*_y dataset pair), an .npz with arrays X and Y, "
    "a folder with cat/ and non-cat/ subfolders of images, or a .zip of such a folder"
)
_LABEL_DIRS = {"cat": 1, "non-cat": 0}
_ZIP_ERRORS = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError
)


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
    image. Raises DataError for anything missing, unsafe or malformed; one for a limit
    passed carries its name and value (``limit``, ``value``: see ModelCoreError).
    """
    check_limit("max_bytes", max_bytes)
    check_limit("max_members", max_members)
    check_limit("max_pixels", max_pixels, allow_none=True)
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
            x, y = open_course_h5(p, str(p), max_bytes)
            X = _images_to_columns(x, f"{p}: the images (*_x)")
            Y = _labels(y, X.shape[1], f"{p}: the labels (*_y)")
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
    if a.dtype.kind not in "iuf" or a.dtype.fields is not None:
        raise DataError(f"{name}: pixels are {describe_dtype(a.dtype)}; expected uint8 or integer values 0..255")
    if a.size == 0:
        return a.astype(np.uint8)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError(f"{name}: pixels contain NaN or infinity; expected values 0..255")
    # The values themselves are never quoted: they are the uploader's data.
    if a.min() < 0 or a.max() > 255:
        raise DataError(f"{name}: pixel values outside 0..255; expected whole values 0..255")
    if a.dtype.kind == "f" and not (a == np.floor(a)).all():
        # Casting would silently floor e.g. images already divided by 255 to zeros.
        raise DataError(f"{name}: pixels are non-integer floats; expected whole values 0..255 (not scaled by 1/255)")
    return a.astype(np.uint8)


def _labels(y: np.ndarray, m: int, name: str) -> np.ndarray:
    """m labels shaped (m,), (1, m) or (m, 1), each 0 or 1 -> (1, m) int64."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf" or y.dtype.fields is not None:
        raise DataError(f"{name}: labels are {describe_dtype(y.dtype)}; expected integers 0/1")
    if y.size != m or y.ndim > 2 or (y.ndim == 2 and 1 not in y.shape):
        raise DataError(
            f"{name}: labels have shape {y.shape}; expected {m} labels, (m,) or (1, m)"
        )
    bad = ~np.isin(y.reshape(m), (0, 1))
    if bad.any():
        # where, never what: a label's value is the uploader's data (once, a channel that
        # leaked server files read through HDF5 external storage)
        first = int(np.argmax(bad))
        raise DataError(
            f"{name}: labels must be 0 (non-cat) or 1 (cat); {int(bad.sum())} of {m} are not, "
            f"the first at index {first}"
        )
    return y.reshape(1, m).astype(np.int64)


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
    X = stack_columns(vectors, len(items))
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
    numbers: dict[int, int]  # id(ZipInfo) -> its member number, for messages

    def read(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        with zf.open(info) as member:
            data = member.read(self.left + 1)
        if len(data) > self.left:
            raise DataError(
                f"{self.archive}: uncompressed contents exceed the limit max_bytes={self.limit} "
                f"(while reading member #{self.numbers.get(id(info))}); possible zip bomb",
                limit="max_bytes", value=self.limit,  # actual: unknown, inflating stopped at the limit
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
            numbers = {id(info): number for number, info in enumerate(zf.infolist())}
            budget = _ByteBudget(max_bytes, max_bytes, archive, numbers)
            files = [(path, info) for path, info in members if not info.is_dir()]
            if files and all(path.suffix == ".npy" for path, _ in files):
                return _load_npz(zf, files, budget, archive)
            return _load_zip_folder(zf, members, budget, archive, max_pixels)
    except DataError:
        raise
    except _ZIP_ERRORS as exc:
        # zipfile's messages quote member names: the kind of failure is enough
        raise DataError(f"{archive}: corrupt or unsupported zip ({type(exc).__name__})") from exc


def _checked_members(
    zf: zipfile.ZipFile, archive: str, *, max_bytes: int, max_members: int
) -> list[tuple[PurePosixPath, zipfile.ZipInfo]]:
    """All entries with their paths, after the count, path and declared-size checks."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise DataError(
            f"{archive}: {len(infos)} zip entries, above the limit max_members={max_members}",
            limit="max_members", value=max_members, actual=len(infos),
        )
    members = [(_member_path(info.filename, number, archive), info) for number, info in enumerate(infos)]
    declared = sum(info.file_size for info in infos)
    if declared > max_bytes:
        raise DataError(
            f"{archive}: zip declares {declared} uncompressed bytes, above the limit "
            f"max_bytes={max_bytes}; possible zip bomb",
            limit="max_bytes", value=max_bytes, actual=declared,
        )
    return members


def _member_path(filename: str, number: int, archive: str) -> PurePosixPath:
    """A member's relative path; absolute or '..' paths are refused even though nothing
    is extracted, as no honest data set contains them."""
    if len(filename) > MAX_MEMBER_NAME:
        # a path's folders are walked (and kept) per level: bounded before anything splits it
        raise DataError(f"{archive}: member #{number} has a name longer than {MAX_MEMBER_NAME} characters",
                        limit="MAX_MEMBER_NAME", value=MAX_MEMBER_NAME, actual=len(filename))
    normalized = filename.replace("\\", "/")
    path = PurePosixPath(normalized)
    if len(path.parts) > MAX_MEMBER_DEPTH:
        raise DataError(f"{archive}: member #{number} is more than {MAX_MEMBER_DEPTH} folders deep",
                        limit="MAX_MEMBER_DEPTH", value=MAX_MEMBER_DEPTH, actual=len(path.parts))
    if normalized.startswith("/") or re.match(r"[A-Za-z]:", normalized) or ".." in path.parts:
        raise DataError(f"{archive}: member #{number} has an unsafe path (absolute or with '..')")
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
        missing = " and ".join(repr(k) for k in ("X", "Y") if k not in arrays)
        raise DataError(f"{archive}: npz must hold arrays 'X' and 'Y'; {missing} missing among its {len(files)} arrays")
    X = _images_to_columns(arrays["X"], f"{archive}:X")
    return X, _labels(arrays["Y"], X.shape[1], f"{archive}:Y")


def _npy(data: bytes, name: str) -> np.ndarray:
    """Bytes of one .npy file -> array, never unpickling, nor allocating more than ``data`` holds."""
    check_npy_header(io.BytesIO(data), len(data), lambda message: DataError(f"{name}: {message}"))
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        # allow_pickle=False makes NumPy refuse object (pickled) arrays with a ValueError;
        # its message quotes the file's header, so it is not passed on
        raise DataError(f"{name}: not a plain array (pickled object arrays are refused)") from exc
    except (OSError, EOFError, TypeError, SyntaxError) as exc:
        raise DataError(f"{name}: corrupt .npy data ({type(exc).__name__})") from exc
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
        name = f"{archive}: member #{budget.numbers.get(id(info))}"
        return stream_to_vector(io.BytesIO(budget.read(zf, info)), name, max_pixels)

    X = stack_columns((vector(info) for _, _, info in items), len(items))
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
        found = "more than one folder holds them" if roots else (
            f"none among its {len({path.parts[0] for path in paths if path.parts})} top-level entries")
        raise DataError(
            f"{archive}: expected cat/ and non-cat/ folders at the top of the zip or inside "
            f"one top-level folder; {found}"
        )
    return roots[0]


def _zip_label(path: PurePosixPath, root: PurePosixPath) -> int | None:
    """1 for a file under root/cat, 0 under root/non-cat, None elsewhere."""
    parts = path.parts[len(root.parts):]
    if path.parts[: len(root.parts)] != root.parts or len(parts) < 2:
        return None
    return _LABEL_DIRS.get(parts[0])
