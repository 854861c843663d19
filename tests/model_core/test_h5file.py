"""An h5 file must never make the reader open another file: every way HDF5 has of
pointing outside the file (external storage, external and soft links, virtual datasets,
plugin filters) is refused before a byte of data is read, and no message quotes the
file's own names or values.

Two canaries prove "never read": a regular file whose bytes must appear nowhere, and a
FIFO with no writer, which blocks whoever opens it for reading: a reader that followed
the pointer would hang (a bounded wait here), not just return the wrong bytes.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from model_core import DataError, load_dataset
from model_core.h5file import read_course_h5

SECRET = b"CANARY-0123456789-server-secret!"  # 32 bytes: four int64 labels' worth
HOSTILE_NAME = "<script>alert(1)</script>"


def images(m: int = 4) -> np.ndarray:
    return np.random.RandomState(0).randint(0, 256, size=(m, 64, 64, 3)).astype(np.uint8)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "blocking.fifo"
    os.mkfifo(path)
    return path


def load_refused(path: Path, fifo_path: Path | None = None) -> str:
    """load_dataset(path) must raise DataError, within a bound (a reader blocked on the FIFO
    fails the test); returns the message."""
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            load_dataset(path)
            outcome["error"] = None
        except BaseException as e:  # noqa: BLE001  (reported below)
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        if fifo_path is not None:  # unblock the reader that opened the FIFO
            with open(fifo_path, "wb"):
                pass
        pytest.fail("the h5 reader opened a file outside the upload (blocked on the FIFO canary)")
    error = outcome["error"]
    assert isinstance(error, DataError), f"expected a DataError, got {error!r}"
    message = str(error)
    assert SECRET.decode() not in message and HOSTILE_NAME not in message
    return message


def course_file(path: Path, build_y: Callable[[h5py.File], None], m: int = 4) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", data=images(m))
        build_y(f)
    return path


@pytest.mark.parametrize("target", ["canary", "fifo"])
def test_external_storage_is_refused(tmp_path: Path, canary: Path, fifo: Path, target: str) -> None:
    source = canary if target == "canary" else fifo
    path = course_file(tmp_path / "ext.h5", lambda f: f.create_dataset(
        "train_set_y", shape=(4,), dtype="<i8", external=[(str(source), 0, len(SECRET))]))
    assert "labels (*_y) dataset uses external storage" in load_refused(path, fifo)


def test_external_storage_of_the_images_is_refused(tmp_path: Path, fifo: Path) -> None:
    with h5py.File(tmp_path / "ext-x.h5", "w") as f:
        f.create_dataset("train_set_x", shape=(1, 64, 64, 3), dtype="u1", external=[(str(fifo), 0, 12288)])
        f.create_dataset("train_set_y", data=np.array([1]))
    assert "images (*_x) dataset uses external storage" in load_refused(tmp_path / "ext-x.h5", fifo)


def test_external_link_is_refused(tmp_path: Path, fifo: Path) -> None:
    # another h5 on the server's disk, which the link would pull in as the labels
    with h5py.File(tmp_path / "server-side.h5", "w") as other:
        other["y"] = np.array([1, 0, 1, 0])
    path = course_file(tmp_path / "link.h5", lambda f: f.__setitem__(
        "train_set_y", h5py.ExternalLink(str(tmp_path / "server-side.h5"), "/y")))
    assert "is an external link" in load_refused(path)
    # anywhere at the top level, even beside a valid pair, and even to a FIFO
    with h5py.File(tmp_path / "extra.h5", "w") as f:
        f["train_set_x"], f["train_set_y"] = images(4), np.array([1, 0, 1, 0])
        f["zzz"] = h5py.ExternalLink(str(fifo), "/y")
    assert "member #2 is an external link" in load_refused(tmp_path / "extra.h5", fifo)


@pytest.mark.parametrize("target", ["/missing/path", "/train_set_x"])
def test_soft_links_are_refused(tmp_path: Path, target: str) -> None:
    path = course_file(tmp_path / "soft.h5", lambda f: f.__setitem__("train_set_y", h5py.SoftLink(target)))
    assert "is a soft link" in load_refused(path)


def test_virtual_dataset_over_another_file_is_refused(tmp_path: Path, canary: Path) -> None:
    with h5py.File(tmp_path / "source.h5", "w") as src:
        src["y"] = np.frombuffer(SECRET, dtype="<i8")
    layout = h5py.VirtualLayout(shape=(4,), dtype="<i8")
    layout[:] = h5py.VirtualSource(str(tmp_path / "source.h5"), "y", shape=(4,))
    path = course_file(tmp_path / "vds.h5", lambda f: f.create_virtual_dataset("train_set_y", layout))
    assert "labels (*_y) dataset is a virtual dataset" in load_refused(path)


def test_unregistered_filter_is_refused(tmp_path: Path) -> None:
    def build_y(f: h5py.File) -> None:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((4,))
        # an optional filter HDF5 does not have: written unfiltered, but reading it would
        # make HDF5 search its plugin path for filter 32123
        dcpl.set_filter(32123, h5py.h5z.FLAG_OPTIONAL)
        space = h5py.h5s.create_simple((4,))
        h5py.h5d.create(f.id, b"train_set_y", h5py.h5t.STD_I64LE, space, dcpl=dcpl)

    path = course_file(tmp_path / "filter.h5", build_y)
    assert "uses filter #0, which is not one of HDF5's built-in filters" in load_refused(path)


def test_compound_labels_are_refused_without_their_field_names(tmp_path: Path) -> None:
    record = np.dtype([(HOSTILE_NAME, "<i8")])
    path = course_file(tmp_path / "compound.h5", lambda f: f.create_dataset(
        "train_set_y", data=np.zeros(4, dtype=record)))
    assert "holds records (a compound type)" in load_refused(path)


def test_names_and_values_are_never_quoted(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "names.h5", "w") as f:
        f[f"{HOSTILE_NAME}_x"] = images(2)
    assert "no *_x/*_y dataset pair" in load_refused(tmp_path / "names.h5")
    # label values are data: a 422 that quoted them once leaked server files 8 bytes at a time
    path = course_file(tmp_path / "labels.h5", lambda f: f.create_dataset(
        "train_set_y", data=np.frombuffer(SECRET, dtype="<i8")))
    message = load_refused(path)
    assert "4 of 4 are not, the first at index 0" in message
    for value in np.frombuffer(SECRET, dtype="<i8").tolist():
        assert str(value) not in message


@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
def test_honest_files_still_load(tmp_path: Path, compression: str | None) -> None:
    """The course's layout, plain or compressed with a built-in filter, with its extra
    list_classes dataset; read from a file object too."""
    x, y = images(3), np.array([1, 0, 1])
    with h5py.File(tmp_path / "ok.h5", "w") as f:
        f.create_dataset("train_set_x", data=x, compression=compression, shuffle=compression is not None)
        f.create_dataset("train_set_y", data=y, compression=compression)
        f["list_classes"] = np.array([b"non-cat", b"cat"])
    X, Y = load_dataset(tmp_path / "ok.h5")
    np.testing.assert_array_equal(X, x.reshape(3, -1).T)
    np.testing.assert_array_equal(Y, y.reshape(1, 3))
    with open(tmp_path / "ok.h5", "rb") as fh:
        x_read, y_read = read_course_h5(fh, "ok.h5", max_bytes=1 << 20)
    np.testing.assert_array_equal(x_read, x)
    np.testing.assert_array_equal(y_read, y)
