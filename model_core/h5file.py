"""The course's .h5 layout, read without letting the file reach outside itself.

An HDF5 file can make its reader open other files: a dataset's data may live in
*external storage* (any path, e.g. ``/proc/self/environ``), a link may be an
*ExternalLink* to another file or a *soft* link to any path, a *virtual dataset* maps
other files' datasets, and a filter id may make HDF5 load a plugin from disk. An
uploaded h5 must do none of that. So the file is opened from its bytes (a file object:
HDF5 never learns a file name to resolve paths against), and before a single byte of
data is read, every top-level link must be a hard link, and the two datasets used must
keep their data inside the file (contiguous, chunked or compact layout, no external
storage), use only HDF5's built-in filters and hold plain numbers. Anything else is
refused with a DataError that names what was refused and where (a member number), never
the file's own names or values: those are the uploader's content.
"""
from __future__ import annotations

import os
from typing import BinaryIO

import h5py
import numpy as np

from .errors import DataError, describe_dtype

__all__ = ["open_course_h5", "read_course_h5"]

# Layouts that keep the data inside the file; VIRTUAL (and anything newer) maps other files.
_INTERNAL_LAYOUTS = {h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED, h5py.h5d.COMPACT}
# HDF5's own filters, and h5py's LZF (built into h5py): nothing that loads a plugin.
_BUILTIN_FILTERS = {
    h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32,
    h5py.h5z.FILTER_NBIT, h5py.h5z.FILTER_SCALEOFFSET, h5py.h5z.FILTER_LZF,
}
_LINK_KINDS = {
    h5py.h5l.TYPE_SOFT: "a soft link (a path that may point anywhere)",
    h5py.h5l.TYPE_EXTERNAL: "an external link (to another file)",
}
_ROLES = {"x": "images (*_x)", "y": "labels (*_y)"}


def read_course_h5(
    f: BinaryIO, name: str, max_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a course h5 read from the open binary file ``f``.

    images: the ``<prefix>_x`` dataset as stored, e.g. (m, 64, 64, 3) uint8; labels: the
    ``<prefix>_y`` dataset, e.g. (m,) int64. ``max_bytes`` bounds their declared size
    (HDF5's declared shapes are authoritative, so this also bounds a compressed bomb).
    """
    try:
        with h5py.File(f, "r", driver="fileobj", locking=False) as h5:
            x_set, y_set = _course_pair(h5, name)
            size = x_set.size * x_set.dtype.itemsize + y_set.size * y_set.dtype.itemsize
            if size > max_bytes:
                raise DataError(f"{name}: datasets hold {size} bytes, above the limit max_bytes={max_bytes}",
                                limit="max_bytes", value=max_bytes, actual=size)
            return x_set[()], y_set[()]
    except DataError:
        raise
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        # HDF5's messages quote the file's own names: the type of the failure is enough
        raise DataError(f"{name}: unreadable HDF5 file ({type(exc).__name__})") from exc


def open_course_h5(path: str | os.PathLike, name: str, max_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_course_h5` of the file at ``path``."""
    with open(path, "rb") as f:
        return read_course_h5(f, name, max_bytes)


def _course_pair(h5: h5py.File, name: str) -> tuple[h5py.Dataset, h5py.Dataset]:
    """The one ``<prefix>_x`` / ``<prefix>_y`` pair at the top level, both checked safe."""
    names = _hard_link_names(h5, name)
    datasets = {n for n in names if isinstance(h5[n], h5py.Dataset)}
    prefixes = [n[:-2] for n in sorted(datasets) if n.endswith("_x") and f"{n[:-2]}_y" in datasets]
    if len(prefixes) != 1:
        problem = "no" if not prefixes else "more than one"
        raise DataError(
            f"{name}: {problem} *_x/*_y dataset pair at the top level "
            f"({len(datasets)} dataset(s) there); expected the course's layout, e.g. train_set_x and train_set_y"
        )
    pair = h5[f"{prefixes[0]}_x"], h5[f"{prefixes[0]}_y"]
    for role, dataset in zip(_ROLES, pair):
        _check_dataset(dataset, f"{name}: the {_ROLES[role]} dataset")
    return pair


def _hard_link_names(h5: h5py.File, name: str) -> list[str]:
    """The top level's link names, in HDF5's name order, refusing any link but a hard one.

    Read from the link table alone: nothing is dereferenced (an external link would open
    its file, a soft link resolve its path) before every link is known to be hard.
    """
    raw: list[bytes] = []
    h5.id.links.iterate(raw.append)  # a callback returning None goes on to the next link
    for number, link in enumerate(raw):
        kind = h5.id.links.get_info(link).type
        if kind != h5py.h5l.TYPE_HARD:
            what = _LINK_KINDS.get(kind, "a user-defined link")
            raise DataError(
                f"{name}: top-level member #{number} is {what}; only data stored in the file itself is read"
            )
    return [link.decode("utf-8", "replace") for link in raw]


def _check_dataset(dataset: h5py.Dataset, where: str) -> None:
    """Refuse a dataset whose data is not plain numbers stored inside this file."""
    plist = dataset.id.get_create_plist()
    layout = plist.get_layout()
    if layout not in _INTERNAL_LAYOUTS:
        what = "a virtual dataset (mapped from other files)" if layout == h5py.h5d.VIRTUAL else "of an unknown layout"
        raise DataError(f"{where} is {what}; only data stored in the file itself is read")
    if plist.get_external_count() > 0:
        raise DataError(f"{where} uses external storage (its data sits in other files); only data stored "
                        "in the file itself is read")
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in _BUILTIN_FILTERS:
            raise DataError(f"{where} uses filter #{i}, which is not one of HDF5's built-in filters "
                            "(gzip, shuffle, fletcher32, nbit, scaleoffset, lzf); refused")
    if dataset.dtype.kind not in "biuf" or dataset.dtype.fields is not None:
        raise DataError(f"{where} holds {describe_dtype(dataset.dtype)}; expected plain numbers")
