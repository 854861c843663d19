"""Hostile files, made by hand: each is small on the wire and built to hurt a careless reader."""
from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import h5py
import numpy as np
from numpy.lib import format as npy_format

from tests.decoder_bombs import broken_avif, lying_avif, png_without_palette, progressive, rle_bmp
from tests.metadata_bombs import BOMBS

from .conftest import image_bytes


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header declares width x height RGB pixels, with little or no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat or zlib.compress(b"\0" * 4096))
            + png_chunk(b"IEND", b""))


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def deflated_zeros_member(name: str, header: bytes, zeros: int) -> bytes:
    """A zip of one member, ``header`` then ``zeros`` zero bytes, deflated about 1000:1.

    Built without deflating the zeros for real: after a full flush deflate starts afresh,
    so 1 MiB of zeros compresses to the same bytes every time and is repeated. (The CRC
    is computed over the real inflated bytes, so the file is valid.)
    """
    chunk = b"\0" * (1 << 20)
    count, rest = divmod(zeros, len(chunk))
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(chunk) + co.flush(zlib.Z_FULL_FLUSH)
    data = head + block * count + co.compress(chunk[:rest]) + co.flush()
    crc = zlib.crc32(header)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(chunk[:rest], crc)
    size = len(header) + zeros
    assert size < 1 << 32, "no zip64 here"
    raw = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0) + raw
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                          len(raw), 0, 0, 0, 0, 0, 0) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


def npz_with_pickle() -> bytes:
    """An .npz holding an object array: loading it with allow_pickle would run code."""
    buf = io.BytesIO()
    np.savez(buf, X=np.array([{"a": 1}, None], dtype=object), Y=np.array([1, 0]), W1=np.array([object()]))
    return buf.getvalue()


def npz_lying_about_its_shape() -> bytes:
    """A few hundred bytes whose W1 header asks numpy for ~100 GB (a MemoryError, unguarded)."""
    return zip_of({"W1.npy": npy_header((10**6, 12288)) + b"\0" * 64, "b1.npy": npy_header((10**6, 1))})


def params_bomb(megabytes: int = 64) -> bytes:
    """A parameter file whose W1 inflates to ``megabytes`` MB from about 1/1000 of that."""
    rows = megabytes * (1 << 20) // (12288 * 8)
    return deflated_zeros_member("W1.npy", npy_header((rows, 12288)), rows * 12288 * 8)


def dataset_bomb(megabytes: int = 1024) -> bytes:
    """A data set .npz whose X inflates to ``megabytes`` MB (uint8 images)."""
    m = megabytes * (1 << 20) // 12288
    return deflated_zeros_member("X.npy", npy_header((12288, m), "|u1"), 12288 * m)


def zip_with_parent_paths() -> bytes:
    """A zip of cat/non-cat folders whose members climb out with ../"""
    return zip_of({"cat/a.png": image_bytes(), "non-cat/b.png": image_bytes(seed=1),
                   "../../etc/evil.png": image_bytes(seed=2), "cat/../../escape.png": image_bytes(seed=3)})


MARKER = "<script>alert(1)</script>"  # a name or value no error message may quote


def zip_with_hostile_names() -> bytes:
    """A cat/non-cat zip whose member names are markup, one of them not an image."""
    return zip_of({"cat/a.png": image_bytes(), f"non-cat/{MARKER}.png": b"not an image " + MARKER.encode()})


def npz_with_hostile_names() -> bytes:
    """An npz whose extra array is named with markup (a parameter file or a data set)."""
    buf = io.BytesIO()
    np.savez(buf, W1=np.zeros((1, 12288)), b1=np.zeros((1, 1)), **{MARKER: np.zeros(1)})
    return buf.getvalue()


def npz_with_hostile_metadata() -> bytes:
    """A parameter file whose metadata names an activation with markup."""
    buf = io.BytesIO()
    meta = json.dumps({"hidden_activation": MARKER, "input_norm": MARKER})
    np.savez(buf, W1=np.zeros((1, 12288)), b1=np.zeros((1, 1)), __metadata__=np.array(meta))
    return buf.getvalue()


def npz_with_deep_metadata(depth: int = 5000) -> bytes:
    """A parameter file whose metadata is JSON nested ``depth`` deep (Python's json recurses)."""
    buf = io.BytesIO()
    np.savez(buf, W1=np.zeros((1, 12288)), b1=np.zeros((1, 1)), __metadata__=np.array("[" * depth + "]" * depth))
    return buf.getvalue()


def h5_with_hostile_keys_and_labels() -> bytes:
    """A course h5 whose labels are 8-byte strings of text read as integers."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f["train_set_x"] = np.zeros((4, 64, 64, 3), np.uint8)
        f["train_set_y"] = np.frombuffer(b"SECRET-1SECRET-2SECRET-3SECRET-4", dtype="<i8")
        f[f"{MARKER}_x"] = np.zeros(1)
    return buf.getvalue()


def zip_with_a_bomb(bomb: bytes) -> bytes:
    """A cat/non-cat data set zip, one of whose images is a metadata bomb."""
    return zip_of({"cat/a.png": image_bytes(), "non-cat/b.png": bomb})


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def hand_made() -> dict[str, bytes]:
    """Every hostile file the issue names, by name."""
    return {
        "truncated.png": truncated(image_bytes("PNG", size=(300, 200))),
        "truncated.jpg": truncated(image_bytes("JPEG", size=(300, 200))),
        "zero-bytes": b"",
        "one-pixel.png": image_bytes("PNG", size=(1, 1)),
        "huge-declared.png": png_declaring(30000, 30000),
        "pickled.npz": npz_with_pickle(),
        "lying-shape.npz": npz_lying_about_its_shape(),
        "zip-bomb.npz": dataset_bomb(1024),
        "params-bomb.npz": params_bomb(256),
        "parent-paths.zip": zip_with_parent_paths(),
        "hostile-names.zip": zip_with_hostile_names(),
        "hostile-names.npz": npz_with_hostile_names(),
        "hostile-metadata.npz": npz_with_hostile_metadata(),
        "deep-metadata.npz": npz_with_deep_metadata(),
        "hostile-keys.h5": h5_with_hostile_keys_and_labels(),
        **{name: make() for name, make in BOMBS.items()},
        "exif-bomb-in.zip": zip_with_a_bomb(BOMBS["exif-bomb.png"]()),
        "tag-bomb-in.zip": zip_with_a_bomb(BOMBS["tag-bomb.tiff"]()),
        # seconds of decoding each, were they decoded (tests/decoder_bombs.py)
        "scan-bomb.jpg": progressive((6000, 6000), 1210),
        "scan-bomb-in.zip": zip_with_a_bomb(progressive((3000, 3000), 1210)),
        "rle-bomb.bmp": rle_bmp(6000, 6666),
        "rle-bomb-in.zip": zip_with_a_bomb(rle_bmp(6000, 6666)),
        "no-palette.png": png_without_palette(),
        "no-palette-in.zip": zip_with_a_bomb(png_without_palette()),
        "no-item.avif": broken_avif("no-item"),
        "broken-planes.avif": broken_avif("planes"),
        "broken-planes-in.zip": zip_with_a_bomb(broken_avif("planes")),
        "lying-size.avif": lying_avif((12000, 12000)),
        "lying-size-in.zip": zip_with_a_bomb(lying_avif((12000, 12000))),
    }
