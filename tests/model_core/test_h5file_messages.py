"""The course h5 reader's refusals, message by message (they name the file and what was
refused, never the file's own names or values), and its size bound at its edge."""
from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest

from model_core import DataError
from model_core.h5file import open_course_h5, read_course_h5

READ = "only data stored in the file itself is read"


def h5_bytes(build) -> io.BytesIO:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    buf.seek(0)
    return buf


def refusal(buf: io.BytesIO, name: str = "up.h5", max_bytes: int = 1 << 20) -> DataError:
    with pytest.raises(DataError) as caught:
        read_course_h5(buf, name, max_bytes)
    return caught.value


def pair(f: h5py.File, prefix: str = "train_set", x_dtype: str = "u1", m: int = 3) -> None:
    f[f"{prefix}_x"] = np.zeros((m, 64, 64, 3), x_dtype)
    f[f"{prefix}_y"] = np.arange(m, dtype="<i8") % 2


def test_the_declared_size_may_equal_max_bytes_and_one_byte_less_is_refused() -> None:
    # float32 images: 4 bytes an element, labels 8 (an element count is not a byte count)
    size = 3 * 64 * 64 * 3 * 4 + 3 * 8
    x, y = read_course_h5(h5_bytes(lambda f: pair(f, x_dtype="<f4")), "f.h5", size)
    assert x.shape == (3, 64, 64, 3) and y.tolist() == [0, 1, 0]
    error = refusal(h5_bytes(lambda f: pair(f, x_dtype="<f4")), "f.h5", size - 1)
    assert str(error) == f"f.h5: datasets hold {size} bytes, above the limit max_bytes={size - 1}"
    assert (error.limit, error.value, error.actual) == ("max_bytes", size - 1, size)


def test_no_pair_and_more_than_one_pair_are_told_apart() -> None:
    error = refusal(h5_bytes(lambda f: (pair(f, "a"), pair(f, "b"))), "two.h5")
    assert str(error) == ("two.h5: more than one *_x/*_y dataset pair at the top level (4 dataset(s) there); "
                          "expected the course's layout, e.g. train_set_x and train_set_y")
    error = refusal(h5_bytes(lambda f: f.__setitem__("train_set_x", np.zeros(3))), "none.h5")
    assert str(error) == ("none.h5: no *_x/*_y dataset pair at the top level (1 dataset(s) there); "
                          "expected the course's layout, e.g. train_set_x and train_set_y")


def test_a_soft_link_is_refused_naming_the_file_and_member_number() -> None:
    def build(f: h5py.File) -> None:
        pair(f)
        f["zz"] = h5py.SoftLink("/train_set_x")

    assert str(refusal(h5_bytes(build), "soft.h5")) == (
        f"soft.h5: top-level member #2 is a soft link (a path that may point anywhere); {READ}")


def test_a_member_name_that_is_not_utf8_is_an_unreadable_file() -> None:
    def build(f: h5py.File) -> None:
        pair(f)
        f.id.links.create_hard(b"\xff\xfe", f.id, b"train_set_y")

    assert str(refusal(h5_bytes(build), "bad.h5")) == "bad.h5: unreadable HDF5 file (KeyError)"


def test_a_file_that_is_not_hdf5_is_unreadable_naming_the_failure_type(tmp_path: Path) -> None:
    assert str(refusal(io.BytesIO(b"\x89HDF\r\n\x1a\nnot really"), "junk.h5")) == (
        "junk.h5: unreadable HDF5 file (OSError)")
    path = tmp_path / "junk.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\nnot really")
    with pytest.raises(DataError) as caught:
        open_course_h5(path, "upload #7", 1 << 20)
    assert str(caught.value) == "upload #7: unreadable HDF5 file (OSError)"


def test_open_course_h5_reads_the_file_at_a_path_under_the_given_name(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "ok.h5", "w") as f:
        pair(f)
    x, y = open_course_h5(tmp_path / "ok.h5", "ok", 1 << 20)
    assert x.shape == (3, 64, 64, 3) and y.tolist() == [0, 1, 0]
    with pytest.raises(DataError) as caught:
        open_course_h5(tmp_path / "ok.h5", "upload #7", 100)
    assert str(caught.value).startswith("upload #7: datasets hold ")


def test_external_storage_filters_and_dtypes_are_refused_with_their_messages(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"\0" * 24)

    def external(f: h5py.File) -> None:
        f["train_set_x"] = np.zeros((3, 64, 64, 3), "u1")
        f.create_dataset("train_set_y", shape=(3,), dtype="<i8", external=[(str(outside), 0, 24)])

    assert str(refusal(h5_bytes(external), "e.h5")) == (
        "e.h5: the labels (*_y) dataset uses external storage (its data sits in other files); "
        "only data stored in the file itself is read")

    def strings(f: h5py.File) -> None:
        f["train_set_x"] = np.zeros((3, 64, 64, 3), "u1")
        f["train_set_y"] = np.array([b"cat", b"dog", b"cat"])

    assert str(refusal(h5_bytes(strings), "s.h5")) == (
        "s.h5: the labels (*_y) dataset holds byte strings; expected plain numbers")

    def filtered(f: h5py.File) -> None:
        f["train_set_x"] = np.zeros((3, 64, 64, 3), "u1")
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((3,))
        dcpl.set_filter(32123, h5py.h5z.FLAG_OPTIONAL)
        h5py.h5d.create(f.id, b"train_set_y", h5py.h5t.STD_I64LE, h5py.h5s.create_simple((3,)), dcpl=dcpl)

    assert str(refusal(h5_bytes(filtered), "p.h5")) == (
        "p.h5: the labels (*_y) dataset uses filter #0, which is not one of HDF5's built-in filters "
        "(gzip, shuffle, fletcher32, nbit, scaleoffset, lzf); refused")
