"""load_dataset's refusals, each with its exact message (naming the file, the member and
what is wrong, never the uploader's values), and each bound at its edge; real files built
in tmp_path with h5py, NumPy, Pillow and zipfile."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from model_core import ConfigError, DataError, load_dataset
from model_core.data import ACCEPTED_KINDS, MAX_MEMBER_DEPTH, MAX_MEMBER_NAME, dataset_sha256


def refused(path: Path, **limits: int | None) -> DataError:
    with pytest.raises(DataError) as caught:
        load_dataset(path, **limits)  # type: ignore[arg-type]
    return caught.value


def course_h5(path: Path, x: np.ndarray, y: np.ndarray, userblock: int = 0) -> Path:
    with h5py.File(path, "w", userblock_size=userblock) as f:
        f["train_set_x"], f["train_set_y"] = x, y
    return path


def images(m: int, dtype: str = "u1") -> np.ndarray:
    return (np.arange(m * 64 * 64 * 3) % 256).astype(dtype).reshape(m, 64, 64, 3)


def png(value: int = 90, size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def a_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


@pytest.mark.parametrize("limit", ["max_bytes", "max_members", "max_pixels"])
def test_each_limit_must_be_a_positive_int_and_is_named(tmp_path: Path, limit: str) -> None:
    path = course_h5(tmp_path / "ok.h5", images(2), np.array([0, 1]))
    with pytest.raises(ConfigError) as caught:
        load_dataset(path, **{limit: 0})  # type: ignore[arg-type]
    assert str(caught.value) == f"{limit} must be a positive int, got 0"
    load_dataset(path, **{limit: 1 << 30})  # type: ignore[arg-type]


def test_max_pixels_may_be_none_and_reaches_folder_and_zip_images(tmp_path: Path) -> None:
    for sub in ("cat", "non-cat"):
        (tmp_path / "set" / sub).mkdir(parents=True)
        (tmp_path / "set" / sub / "a.png").write_bytes(png(size=80))
    X, _ = load_dataset(tmp_path / "set", max_pixels=None)
    assert X.shape == (12288, 2)
    load_dataset(tmp_path / "set", max_pixels=80 * 80)
    with pytest.raises(DataError, match="6400 pixels"):
        load_dataset(tmp_path / "set", max_pixels=80 * 80 - 1)
    zipped = a_zip(tmp_path / "set.zip", {"cat/a.png": png(size=80), "non-cat/b.png": png(size=80)})
    load_dataset(zipped, max_pixels=80 * 80)
    with pytest.raises(DataError, match="6400 pixels"):
        load_dataset(zipped, max_pixels=80 * 80 - 1)


def test_a_missing_path_is_named_in_its_refusal(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "train.h5"
    assert str(refused(missing)) == f"no such file or directory: {str(missing)!r}"


def test_a_fifo_is_not_a_data_set(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert str(refused(tmp_path / "pipe")) == f"{tmp_path / 'pipe'}: not a regular file or folder; expected {ACCEPTED_KINDS}"


@pytest.mark.parametrize(("content", "kind"), [(b"", "empty file"), (b"x", "no HDF5 or zip signature"),
                                               (b"\0" * 3000, "no HDF5 or zip signature")])
def test_a_file_of_no_known_kind_is_described(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    assert str(refused(path)) == f"{path}: unknown data set format ({kind}); expected {ACCEPTED_KINDS}"


@pytest.mark.parametrize("userblock", [512, 1024, 2048, 4096])
def test_an_h5_after_a_user_block_is_found_at_each_power_of_two(tmp_path: Path, userblock: int) -> None:
    X, Y = load_dataset(course_h5(tmp_path / "ub.h5", images(2), np.array([1, 0]), userblock))
    assert X.shape == (12288, 2) and Y.tolist() == [[1, 0]]


def test_h5_refusals_name_the_file_and_the_dataset(tmp_path: Path) -> None:
    path = course_h5(tmp_path / "a.h5", np.zeros((3, 10), np.uint8), np.array([0, 1, 0]))
    assert str(refused(path)) == (f"{path}: the images (*_x): images have shape (3, 10); "
                                  "expected (12288, m) or (m, 64, 64, 3)")
    path = course_h5(tmp_path / "b.h5", images(3), np.array([0, 1, 2]))
    assert str(refused(path)) == (f"{path}: the labels (*_y): labels must be 0 (non-cat) or 1 (cat); "
                                  "1 of 3 are not, the first at index 2")
    path = course_h5(tmp_path / "c.h5", images(3), np.array([0, 1, 0]))
    error = refused(path, max_bytes=100)
    assert str(error) == f"{path}: datasets hold {3 * 12288 + 24} bytes, above the limit max_bytes=100"
    path = course_h5(tmp_path / "d.h5", np.zeros((0, 64, 64, 3), np.int64), np.zeros(0, np.int64))
    assert str(refused(path)) == f"{path}: data set has no examples"


def test_pixels_are_whole_values_0_to_255(tmp_path: Path) -> None:
    x = images(2, "i2")
    x[1, 0, 0, 0] = 255
    X, _ = load_dataset(course_h5(tmp_path / "ok.h5", x, np.array([0, 1])))
    assert X.dtype == np.uint8 and X[0, 1] == 255
    x[1, 0, 0, 0] = 256
    path = course_h5(tmp_path / "over.h5", x, np.array([0, 1]))
    assert str(refused(path)) == (f"{path}: the images (*_x): pixel values outside 0..255; "
                                  "expected whole values 0..255")


@pytest.mark.parametrize(("shape", "ok"), [((3,), True), ((1, 3), True), ((3, 1), True), ((1, 1, 3), False),
                                           ((4, 1, 1), False)])
def test_labels_are_m_values_shaped_m_or_1_m_or_m_1(tmp_path: Path, shape: tuple[int, ...], ok: bool) -> None:
    m = int(np.prod(shape)) if shape != (4, 1, 1) else 4
    path = course_h5(tmp_path / "l.h5", images(m), (np.arange(m) % 2).reshape(shape))
    if ok:
        assert load_dataset(path)[1].tolist() == [[0, 1, 0]]
    else:
        assert str(refused(path)) == (f"{path}: the labels (*_y): labels have shape {shape}; "
                                      f"expected {m} labels, (m,) or (1, m)")


def test_labels_of_m_values_in_a_matrix_without_a_1_are_refused(tmp_path: Path) -> None:
    path = course_h5(tmp_path / "sq.h5", images(4), np.array([[0, 1], [1, 0]]))
    assert str(refused(path)) == (f"{path}: the labels (*_y): labels have shape (2, 2); "
                                  "expected 4 labels, (m,) or (1, m)")


def test_an_npz_names_its_missing_arrays_and_its_bad_array(tmp_path: Path) -> None:
    path = a_zip(tmp_path / "none.npz", {"A.npy": npy(np.zeros(3)), "B.npy": npy(np.zeros(3))})
    assert str(refused(path)) == f"{path}: npz must hold arrays 'X' and 'Y'; 'X' and 'Y' missing among its 2 arrays"
    path = a_zip(tmp_path / "x.npz", {"X.npy": npy(np.zeros((3, 5), np.uint8)), "Y.npy": npy(np.zeros(3))})
    assert str(refused(path)) == (f"{path}:X: images have shape (3, 5); expected (12288, m) or (m, 64, 64, 3)")
    path = a_zip(tmp_path / "y.npz", {"X.npy": npy(images(2)), "Y.npy": npy(np.array([0, 7]))})
    assert str(refused(path)) == (f"{path}:Y: labels must be 0 (non-cat) or 1 (cat); 1 of 2 are not, "
                                  "the first at index 1")


def test_an_npy_member_must_be_a_plain_array(tmp_path: Path) -> None:
    labels = npy(np.array([0, 1]))
    buf = io.BytesIO()
    np.save(buf, np.array([1, "a"], dtype=object), allow_pickle=True)
    path = a_zip(tmp_path / "o.npz", {"X.npy": buf.getvalue(), "Y.npy": labels})
    assert str(refused(path)) == f"{path}:X: not a plain array (pickled object arrays are refused)"
    buf = io.BytesIO()
    np.savez(buf, X=images(2))  # an npz where an .npy belongs: np.load gives no array
    path = a_zip(tmp_path / "z.npz", {"X.npy": buf.getvalue(), "Y.npy": labels})
    assert str(refused(path)) == f"{path}:X: not an array"
    path = a_zip(tmp_path / "e.npz", {"X.npy": b"", "Y.npy": labels})
    assert str(refused(path)) == f"{path}:X: corrupt .npy data (EOFError)"
    path = a_zip(tmp_path / "c.npz", {"X.npy": npy(images(2))[:128] + b"\0" * 10, "Y.npy": labels})
    assert str(refused(path)) == (f"{path}:X: an array declares more data than its file holds; "
                                  "the file is corrupt or forged")


def test_zip_members_declared_bytes_may_equal_max_bytes(tmp_path: Path) -> None:
    members = {"cat/a.png": png(), "non-cat/b.png": png(7)}
    path = a_zip(tmp_path / "s.zip", members)
    declared = sum(len(v) for v in members.values())
    assert load_dataset(path, max_bytes=declared)[0].shape == (12288, 2)
    error = refused(path, max_bytes=declared - 1)
    assert str(error) == (f"{path}: zip declares {declared} uncompressed bytes, above the limit "
                          f"max_bytes={declared - 1}; possible zip bomb")


def test_a_member_name_may_be_max_member_name_long_and_depth_max_member_depth(tmp_path: Path) -> None:
    long_name = "cat/" + "a" * (MAX_MEMBER_NAME - 8) + ".png"
    assert len(long_name) == MAX_MEMBER_NAME
    ok = a_zip(tmp_path / "ok.zip", {long_name: png(), "non-cat/b.png": png()})
    assert load_dataset(ok)[0].shape == (12288, 2)
    too_long = a_zip(tmp_path / "long.zip", {"non-cat/b.png": png(), long_name[:-4] + "x.png": png()})
    error = refused(too_long)
    assert str(error) == f"{too_long}: member #1 has a name longer than {MAX_MEMBER_NAME} characters"
    assert (error.limit, error.value, error.actual) == ("MAX_MEMBER_NAME", MAX_MEMBER_NAME, MAX_MEMBER_NAME + 1)
    deep = "cat/" + "d/" * (MAX_MEMBER_DEPTH - 2) + "a.png"
    assert deep.count("/") + 1 == MAX_MEMBER_DEPTH
    assert load_dataset(a_zip(tmp_path / "deep.zip", {deep: png(), "non-cat/b.png": png()}))[0].shape == (12288, 2)
    deeper = a_zip(tmp_path / "deeper.zip", {"cat/d/" + deep[4:]: png(), "non-cat/b.png": png()})
    error = refused(deeper)
    assert str(error) == f"{deeper}: member #0 is more than {MAX_MEMBER_DEPTH} folders deep"
    assert (error.limit, error.actual) == ("MAX_MEMBER_DEPTH", MAX_MEMBER_DEPTH + 1)


@pytest.mark.parametrize("name", ["/cat/a.png", "C:/cat/a.png", "c:cat/a.png", "cat/../../a.png"])
def test_an_unsafe_member_path_is_refused(tmp_path: Path, name: str) -> None:
    path = a_zip(tmp_path / "u.zip", {"non-cat/b.png": png(), name: png()})
    assert str(refused(path)) == f"{path}: member #1 has an unsafe path (absolute or with '..')"


def test_macosx_folders_are_hidden_and_cats_come_first_then_by_path(tmp_path: Path) -> None:
    path = a_zip(tmp_path / "m.zip", {
        "non-cat/b.png": png(1), "cat/z.png": png(2), "cat/a.png": png(3),
        # hidden whatever its files are called: else a second folder holding cat/ and non-cat/
        "__MACOSX/cat/a.png": b"not an image", "__MACOSX/non-cat/x.png": b"junk",
    })
    X, Y = load_dataset(path)
    assert Y.tolist() == [[1, 1, 0]] and Y.dtype == np.int64
    assert X[0].tolist() == [3, 2, 1]


def test_zip_examples_are_ordered_by_their_normalized_path(tmp_path: Path) -> None:
    # a Windows zip's backslashes count as slashes: cat\\a.png is cat/a.png, before cat/b.png
    path = a_zip(tmp_path / "w.zip", {"cat/b.png": png(2), "cat\\a.png": png(3), "non-cat/c.png": png(1)})
    assert load_dataset(path)[0][0].tolist() == [3, 2, 1]


def test_an_npz_may_declare_exactly_max_bytes_and_every_byte_is_read(tmp_path: Path) -> None:
    members = {"X.npy": npy(images(2)), "Y.npy": npy(np.array([0, 1]))}
    path = a_zip(tmp_path / "exact.npz", members)
    X, Y = load_dataset(path, max_bytes=sum(len(v) for v in members.values()))
    assert X.shape == (12288, 2) and Y.tolist() == [[0, 1]]


def test_zip_layout_refusals_say_what_was_found(tmp_path: Path) -> None:
    two = a_zip(tmp_path / "two.zip", {"a/cat/x.png": png(), "a/non-cat/y.png": png(),
                                       "b/cat/x.png": png(), "b/non-cat/y.png": png()})
    assert str(refused(two)) == (f"{two}: expected cat/ and non-cat/ folders at the top of the zip or inside "
                                 "one top-level folder; more than one folder holds them")
    none = a_zip(tmp_path / "none.zip", {"a/x.png": png(), "b.png": png(), "c/d/e.png": png()})
    assert str(refused(none)) == (f"{none}: expected cat/ and non-cat/ folders at the top of the zip or inside "
                                  "one top-level folder; none among its 3 top-level entries")


def test_a_file_directly_in_the_root_is_no_example(tmp_path: Path) -> None:
    path = a_zip(tmp_path / "r.zip", {"set/cat/a.png": png(), "set/non-cat/b.png": png(), "set/c.png": png(),
                                      "set/cat": b""})
    assert load_dataset(path)[1].tolist() == [[1, 0]]


def test_a_corrupt_zip_names_the_failure_type(tmp_path: Path) -> None:
    path = a_zip(tmp_path / "bad.zip", {"cat/a.png": png(), "non-cat/b.png": png()})
    data = bytearray(path.read_bytes())
    at = data.index(b"IDAT")  # inside the first member's stored bytes: its CRC no longer matches
    data[at + 8] ^= 0xFF
    path.write_bytes(bytes(data))
    assert str(refused(path)) == f"{path}: corrupt or unsupported zip (BadZipFile)"


def test_dataset_sha256_needs_integer_labels() -> None:
    X = np.zeros((12288, 2), np.uint8)
    assert dataset_sha256(X, np.array([[0, 1]], np.uint8)) == dataset_sha256(X, np.array([[0, 1]]))
    assert dataset_sha256(X, np.array([[True, False]])) == dataset_sha256(X, np.array([[1, 0]]))
    with pytest.raises(DataError) as caught:
        dataset_sha256(X, np.array([[0.0, 1.0]]))
    assert str(caught.value) == "dataset_sha256 needs integer labels Y, got dtype float64"
