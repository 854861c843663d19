"""save_parameters' temporary file and its syncs, observed on the real filesystem (issue 15).

``os.fsync`` is wrapped, not replaced: each call still syncs, and the wrapper notes which
file it synced and what its directory held at that moment (the only time the temporary
file exists).
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model_core import ParameterFileError, initialize_parameters, load_parameters, save_parameters


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, list[str]]]:
    """(the synced file's path, its directory's listing then), one per os.fsync call."""
    calls: list[tuple[Path, list[str]]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        calls.append((path, sorted(os.listdir(path if path.is_dir() else path.parent))))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_a_save_writes_a_hidden_temporary_beside_its_destination_then_syncs_that_directory(
        tmp_path: Path, synced: list[tuple[Path, list[str]]], monkeypatch: pytest.MonkeyPatch) -> None:
    models, elsewhere = tmp_path / "models", tmp_path / "cwd"
    models.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the temporary file nor the sync may fall back to "."
    params = initialize_parameters([6, 3, 1], "he", seed=0)
    save_parameters(models / "m.npz", params, {})
    (tmp, listing), (directory, after) = synced
    # the temporary file: in the destination's directory (the rename stays on one
    # filesystem), hidden and named for its destination, so no "*.npz" scan meets half a file
    assert tmp.parent == models.resolve() and listing == [tmp.name]
    assert tmp.name.startswith(".m.npz.") and tmp.name.endswith(".tmp")
    # then the directory itself, after the rename: the new name reaches the disk too
    assert directory == models.resolve() and after == ["m.npz"]
    assert os.listdir(elsewhere) == []
    np.testing.assert_array_equal(load_parameters(models / "m.npz")[0]["W1"], params["W1"])


def _saved(tmp_path: Path, **arrays: np.ndarray) -> Path:
    np.savez(tmp_path / "p.npz", **arrays)
    return tmp_path / "p.npz"


def test_missing_arrays_are_all_named_from_the_first_layer(tmp_path: Path) -> None:
    params = initialize_parameters([6, 4, 3, 1], "he", seed=0)
    for drop, named in ((("W1",), "W1"), (("W1", "b1"), "W1, b1"), (("b1", "W3"), "b1, W3")):
        kept = {k: v for k, v in params.items() if k not in drop}
        with pytest.raises(ParameterFileError) as caught:
            load_parameters(_saved(tmp_path, **kept))
        assert str(caught.value) == f"missing array(s) {named}"


def test_an_empty_archive_is_described_exactly(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "e.npz", "w"):
        pass
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(tmp_path / "e.npz")
    assert str(caught.value) == "no parameters found: expected arrays W1..WL and b1..bL"


def test_a_last_layer_of_more_units_names_its_count(tmp_path: Path) -> None:
    rng = np.random.RandomState(0)
    dims = [6, 4, 3, 2]  # dims[-1] = 2; dims[1] = 4, dims[-2] = 3
    params = {k: rng.randn(dims[l], dims[l - 1] if k[0] == "W" else 1)
              for l in range(1, 4) for k in (f"W{l}", f"b{l}")}
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(_saved(tmp_path, **params))
    assert str(caught.value) == "the last layer W3 must have 1 unit (binary output); got 2"


@pytest.mark.parametrize("tail", [b"\x00" * 64, b"\xff\xfe" * 2**16])
def test_only_the_first_16_bytes_describe_a_file(tmp_path: Path, tail: bytes) -> None:
    """A file is sniffed from its head, never read whole: 16 printable bytes are text,
    whatever follows (a multi-gigabyte upload is not pulled into memory to be named)."""
    data = b"W1,b1,W2,b2;0.1," + tail  # 16 bytes of text, then binary
    (tmp_path / "f").write_bytes(data)
    for source in (tmp_path / "f", io.BytesIO(data), data):
        with pytest.raises(ParameterFileError) as caught:
            load_parameters(source)
        assert str(caught.value) == "not an .npz parameter file: it is text"


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _malformed_header() -> bytes:
    """A member whose .npy header is no dict numpy reads (np.load raises ValueError)."""
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'junk'}".ljust(117) + b"\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("W1.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 48)
    return buf.getvalue()


def _encrypted() -> bytes:
    data = bytearray(_npz_bytes(**initialize_parameters([6, 3, 1], "he", seed=0)))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the "encrypted" flag, both headers
        data[data.find(signature) + offset] |= 1
    return bytes(data)


GOOD = _npz_bytes(**initialize_parameters([6, 3, 1], "he", seed=0))


@pytest.mark.parametrize(("data", "message"), [
    (_npz_bytes(W1=np.array([{"a": 1}], dtype=object)),
     "the file holds a pickled (object) array; refusing to load it"),
    (_malformed_header(), "not a valid .npz parameter file (an array's header is malformed)"),
    (GOOD[: len(GOOD) // 2], "not a valid .npz parameter file: truncated or corrupt (BadZipFile)"),
    (_encrypted(), "not a readable .npz parameter file (corrupt, encrypted or compressed with an unsupported method)"),
], ids=["pickle", "header", "truncated", "encrypted"])
def test_each_unreadable_file_is_described_exactly(data: bytes, message: str) -> None:
    with pytest.raises(ParameterFileError) as caught:
        load_parameters(data)
    assert str(caught.value) == message
