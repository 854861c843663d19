"""Saving and loading parameters: one .npz holding the arrays and a JSON metadata record.

The file is read with ``allow_pickle=False``; loading validates everything it reads and
names the problem. Files written by the course's own code (``np.savez(f, **parameters)``:
W1..WL, b1..bL, no metadata) load too, as relu/sigmoid networks on X / 255.
"""
from __future__ import annotations

import io
import json
import os
import re
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from .architecture import Spec, parameter_shapes
from .architecture import layer_dims as architecture_dims
from .errors import ParameterFileError, describe_dtype
from .limits import check_limit
from .metadata import MAX_METADATA_BYTES, architecture_of, check_metadata
from .npyfile import check_npy_header

__all__ = [
    "FORMAT",
    "METADATA_KEY",
    "Source",
    "check_parameters",
    "describe_bytes",
    "load_parameters",
    "metadata_json",
    "metadata_record",
    "save_parameters",
    "serialize",
]

METADATA_KEY = "__metadata__"
FORMAT = "catvnoncat-params/1"
_KEY = re.compile(r"^([Wb])([1-9][0-9]*)$")

Source = str | os.PathLike[str] | bytes | IO[bytes]


def save_parameters(
    path: str | os.PathLike[str], parameters: Mapping[str, np.ndarray], metadata: Mapping[str, Any]
) -> None:
    """Write ``parameters`` and ``metadata`` (JSON-serializable) to ``path`` atomically.

    The file is written beside its destination, fsynced, then renamed over it, so a
    reader never sees half a file and a crash leaves the old file intact.
    """
    path = Path(path)
    data = serialize(parameters, metadata)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def serialize(parameters: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> bytes:
    """The .npz bytes of ``parameters`` plus :func:`metadata_record` as a JSON string array."""
    record = metadata_record(parameters, metadata)
    buf = io.BytesIO()
    # Any: savez's own keyword allow_pickle (a bool) is never among these names (W1.., b1.., __metadata__:
    # metadata_record refused any other)
    arrays: dict[str, Any] = {k: np.ascontiguousarray(v) for k, v in parameters.items()}
    arrays[METADATA_KEY] = np.array(metadata_json(record))
    np.savez(buf, **arrays)
    return buf.getvalue()


def metadata_record(parameters: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The record a file of ``parameters`` stores: ``metadata`` with the format and the
    defaults, checked against the schema and, as :func:`metadata_json`, against
    MAX_METADATA_BYTES (nothing is written that a reader would refuse)."""
    record = check_metadata({"format": FORMAT, **metadata},
                            check_parameters(parameters, architecture_of({"format": FORMAT, **metadata})))
    size = len(metadata_json(record))
    if size > MAX_METADATA_BYTES:
        raise ParameterFileError(f"the metadata takes {size} bytes as JSON, above {MAX_METADATA_BYTES}",
                                 limit="MAX_METADATA_BYTES", value=MAX_METADATA_BYTES, actual=size)
    return record


def metadata_json(record: Mapping[str, Any]) -> str:
    """The one JSON text of a metadata record, in the .npz and beside it (a store's
    metadata.json): compact and ASCII, so that its length in characters is its size in
    bytes and every copy meets the same MAX_METADATA_BYTES (an indented copy of a record
    that fit was once 4.6 MB, past what the store reads back)."""
    return json.dumps(record, allow_nan=False, separators=(",", ":"))


def load_parameters(
    source: Source, *, max_bytes: int | None = None, max_arrays: int | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a parameter file; return ``(parameters, metadata)``.

    ``source`` is a path, the file's bytes, or a binary file object. ``max_bytes`` bounds
    the uncompressed bytes its arrays declare in all, ``max_arrays`` its arrays (None:
    unbounded); both are checked from the zip's and the .npy headers before any array is
    read, and every array's header must fit the bytes it holds. Raises
    ParameterFileError naming the problem: not an .npz, truncated, a pickled (object)
    array, missing or extra arrays, a W or b of the wrong shape, non-finite values; one
    for a limit passed carries ``limit`` ("max_bytes", "max_arrays"), ``value`` and
    ``actual``. For a course file without metadata, ``layer_dims`` is inferred and
    relu/sigmoid with input_norm ``scale`` assumed.
    """
    check_limit("max_bytes", max_bytes, allow_none=True)
    check_limit("max_arrays", max_arrays, allow_none=True)
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        head = _head(source)
        if head[:4] not in _ZIP_SIGNATURES:
            # numpy would take anything else for a pickle and say so: say what it is instead
            raise ParameterFileError(f"not an .npz parameter file: {describe_bytes(head)}")
        _check_members(source, max_bytes=max_bytes, max_arrays=max_arrays)  # before np.load allocates
        npz = np.load(source, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ParameterFileError("not an .npz archive (a single .npy array was given)")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
        # NpzFile hands back the raw bytes of a member that is no .npy (of the members read:
        # any other is refused by name count below, as a zip of images is)
        if any(not isinstance(a, np.ndarray) for k, a in arrays.items() if k == METADATA_KEY or _KEY.match(k)):
            raise ParameterFileError("a member of the archive is not an .npy array; save the file with numpy.savez")
    except ParameterFileError:
        raise
    except FileNotFoundError as e:
        raise ParameterFileError(f"no such parameter file: {e.filename}") from None
    except ValueError as e:
        if "pickle" in str(e):
            raise ParameterFileError("the file holds a pickled (object) array; refusing to load it") from None
        # numpy's and zipfile's messages quote the file's header and member names
        raise ParameterFileError("not a valid .npz parameter file (an array's header is malformed)") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as e:
        raise ParameterFileError(f"not a valid .npz parameter file: truncated or corrupt ({type(e).__name__})") from None
    except (RuntimeError, zlib.error, zipfile.LargeZipFile):  # NotImplementedError is a RuntimeError
        # zipfile's messages quote member names too
        raise ParameterFileError("not a readable .npz parameter file (corrupt, encrypted or compressed with an "
                                 "unsupported method)") from None

    # the same values in this machine's byte order: BLAS and JSON writers (orjson) take no other
    arrays = {k: a.astype(a.dtype.newbyteorder("=")) if isinstance(a, np.ndarray) and not a.dtype.isnative else a
              for k, a in arrays.items()}
    raw_meta = arrays.pop(METADATA_KEY, None)
    meta = None if raw_meta is None else _parse_metadata(raw_meta)
    layer_dims = check_parameters(arrays, architecture_of(meta))
    if raw_meta is None:
        # the course's np.savez(f, **parameters): everything else is the course's choice
        return _ordered(arrays), {"format": "course", **check_metadata({}, layer_dims)}
    return _ordered(arrays), check_metadata(meta, layer_dims)


_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive
_SIGNATURES = (
    (b"\x93NUMPY", "a single .npy array; save all arrays into one .npz (np.savez)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a data set goes to POST /datasets or --data)"),
    (b"\x1f\x8b", "a gzip file"), (b"%PDF", "a PDF document"),
)


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")


def _check_members(
    source: str | os.PathLike[str] | IO[bytes], *, max_bytes: int | None, max_arrays: int | None
) -> None:
    """Bound the .npz from its zip and .npy headers alone; a stream is left where it was.

    zipfile never inflates a member past the size the zip declares for it, so the
    declared sizes bound what np.load reads, and each header must ask for no more than
    its member holds (see model_core.npyfile). zipfile's own errors pass through.
    """
    stream = None if isinstance(source, (str, os.PathLike)) else source
    position = stream.tell() if stream is not None else 0
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
            if max_arrays is not None and len(infos) > max_arrays:
                raise ParameterFileError(
                    f"the file holds {len(infos)} arrays; a parameter file has W1..WL, b1..bL (at most "
                    f"{max_arrays} arrays)", limit="max_arrays", value=max_arrays, actual=len(infos),
                )
            declared = sum(info.file_size for info in infos)
            if max_bytes is not None and declared > max_bytes:
                raise ParameterFileError(
                    f"the arrays take {declared} bytes uncompressed, above the limit max_bytes={max_bytes}",
                    limit="max_bytes", value=max_bytes, actual=declared,
                )
            for info in infos:
                with zf.open(info) as member:
                    check_npy_header(member, info.file_size, ParameterFileError)
    finally:
        if stream is not None:
            stream.seek(position)


def _head(source: str | os.PathLike[str] | IO[bytes]) -> bytes:
    """The first 16 bytes of ``source``; a stream is left where it was."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read(16)
    position = source.tell()
    head = source.read(16)
    source.seek(position)
    return head


def describe_bytes(head: bytes) -> str:
    """What a file that starts with ``head`` looks like, in words (for "not an X" messages)."""
    if not head:
        return "the file is empty"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "it is a WebP image"
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return f"it is {what}"
    for cut in range(4):  # the 16 bytes may end inside a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text and all(c.isprintable() or c in "\t\r\n" for c in text):
            return "it is text"
        break
    return "it is binary data of an unknown kind"


def check_parameters(parameters: Mapping[str, np.ndarray], architecture: list[Spec] | None = None) -> list[int]:
    """Validate W1..WL, b1..bL (against a checked ``architecture``'s shapes, if given);
    return the layer_dims they imply."""
    extra = [k for k in parameters if not _KEY.match(k)]
    if extra:
        # counted, not named: an array's name is the uploader's content
        images = any(k.lower().endswith(_IMAGE_SUFFIXES) for k in extra)
        hint = "; a zip of images is a data set (POST /datasets, or --data)" if images else ""
        raise ParameterFileError(f"{len(extra)} unexpected array(s); expected only W1..WL and b1..bL{hint}")
    if architecture is not None:
        return _check_layer_parameters(parameters, architecture)
    layers = sorted({int(k[1:]) for k in parameters})  # every key is W<l> or b<l> (checked above)
    if not layers:
        raise ParameterFileError("no parameters found: expected arrays W1..WL and b1..bL")
    L = layers[-1]
    missing = [f"{p}{l}" for l in range(1, L + 1) for p in "Wb" if f"{p}{l}" not in parameters]
    if missing:
        raise ParameterFileError(f"missing array(s) {', '.join(missing)}")
    for key, P in parameters.items():
        P = np.asarray(P)
        _check_floats(key, P)
        if P.ndim != 2:
            raise ParameterFileError(f"{key} must be 2-dimensional; got shape {P.shape}")
    dims = [parameters["W1"].shape[1]] + [parameters[f"W{l}"].shape[0] for l in range(1, L + 1)]
    for l in range(1, L + 1):
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        if W.shape != (dims[l], dims[l - 1]):
            raise ParameterFileError(f"W{l} must have shape ({dims[l]}, {dims[l - 1]}); got {W.shape}")
        if b.shape != (dims[l], 1):
            raise ParameterFileError(f"b{l} must have shape ({dims[l]}, 1); got {b.shape}")
    if dims[-1] != 1:
        raise ParameterFileError(f"the last layer W{L} must have 1 unit (binary output); got {dims[-1]}")
    for key, P in parameters.items():
        if not np.isfinite(P).all():
            raise ParameterFileError(f"{key} holds non-finite values (nan or inf)")
    return dims


def _check_layer_parameters(parameters: Mapping[str, np.ndarray], architecture: list[Spec]) -> list[int]:
    """The arrays of a network of layers: exactly the architecture's, of its shapes, finite floats."""
    expected = parameter_shapes(architecture)
    missing = [k for k in expected if k not in parameters]
    if missing:
        raise ParameterFileError(f"missing array(s) {', '.join(missing)} of the architecture")
    if len(parameters) != len(expected):
        raise ParameterFileError(f"{len(parameters) - len(expected)} array(s) the architecture does not have; "
                                 f"it has {', '.join(expected)}")
    for key, shape in expected.items():
        P = np.asarray(parameters[key])
        _check_floats(key, P)
        if P.shape != shape:
            raise ParameterFileError(f"{key} must have shape {shape} (the architecture's); got {P.shape}")
        if not np.isfinite(P).all():
            raise ParameterFileError(f"{key} holds non-finite values (nan or inf)")
    return architecture_dims(architecture)


def _check_floats(key: str, P: np.ndarray) -> None:
    if P.dtype.kind != "f":
        raise ParameterFileError(f"{key} must hold floats; it holds {describe_dtype(P.dtype)}")
    if P.dtype.itemsize > 8:  # long double: neither BLAS nor a JSON writer (GET /params) takes it
        raise ParameterFileError(f"{key} holds {P.dtype.itemsize * 8}-bit extended-precision floats; "
                                 "save float64, float32 or float16")


def _parse_metadata(raw: np.ndarray) -> Any:
    """The metadata array's JSON, decoded (not yet checked)."""
    if raw.dtype.kind != "U" or raw.shape != ():
        raise ParameterFileError(f"{METADATA_KEY} must be one JSON string")
    text = str(raw)
    if len(text) > MAX_METADATA_BYTES:
        raise ParameterFileError(f"{METADATA_KEY} is longer than {MAX_METADATA_BYTES} characters",
                                 limit="MAX_METADATA_BYTES", value=MAX_METADATA_BYTES, actual=len(text))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ParameterFileError(f"{METADATA_KEY} is not valid JSON ({e.msg})") from None
    except RecursionError:  # "[[[[...": Python's decoder recurses once per level
        raise ParameterFileError(f"{METADATA_KEY} is JSON nested too deeply to read") from None
    except ValueError:  # not a JSONDecodeError: Python reads no integer of over 4300 digits
        raise ParameterFileError(f"{METADATA_KEY} holds a number too long to read (over "
                                 f"{sys.get_int_max_str_digits()} digits)") from None


def _ordered(parameters: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    L = max(int(k[1:]) for k in parameters if k.startswith("W"))
    return {k: parameters[k] for l in range(1, L + 1) for k in (f"W{l}", f"b{l}")}


def _fsync_dir(directory: Path) -> None:
    # the rename itself must reach the disk too, or a crash can bring the old name back
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
