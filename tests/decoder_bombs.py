"""Images built to make a decoder work for seconds: small on the wire, each within every
pixel and byte limit.

* A progressive JPEG whose last refinement scan is repeated: libjpeg decodes every scan,
  a pass over every 8x8 block of the picture however few bytes the scan holds (1210 scans
  of 36 Mpx, a 261 KB file, took 11 s).
* An RLE BMP whose every row is one pixel then end-of-line: 27 KB declaring 6000x6666,
  which Pillow's RLE decoder, written in Python, took 5.5 s to expand.
* A palette PNG with no PLTE chunk, which Pillow meets with an ``assert``.
* AVIF files that libavif cannot parse or decode, which Pillow's AVIF plugin meets with a
  ``RuntimeError``.
"""
from __future__ import annotations

import functools
import io
import struct
import subprocess
import sys
import zlib

from PIL import Image


def scan_segments(jpeg: bytes) -> list[bytes]:
    """The SOS segments of ``jpeg`` with their entropy-coded data, in order."""
    i, out = 2, []
    while jpeg[i + 1] != 0xD9:
        j = i + 2 + struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
        if jpeg[i + 1] == 0xDA:  # data runs to the next marker that is no stuffing or RSTn
            while not (jpeg[j] == 0xFF and jpeg[j + 1] not in (0, *range(0xD0, 0xD8))):
                j += 1
            out.append(jpeg[i:j])
        i = j
    return out


def progressive(size: tuple[int, int], scans: int) -> bytes:
    """A grey progressive JPEG of ``size`` with exactly ``scans`` scans (its last refinement
    scan repeated: libjpeg decodes it again, a valid file)."""
    out = io.BytesIO()
    Image.new("L", size, 128).save(out, "JPEG", progressive=True, quality=50)
    data = out.getvalue()
    own = scan_segments(data)
    assert 1 < len(own) <= scans
    return data[:-2] + own[-1] * (scans - len(own)) + b"\xff\xd9"


def rle_bmp(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP of ``height`` rows of one pixel each then end-of-line."""
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    pixels = b"\x01\x80\x00\x00" * height + b"\x00\x01"
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_without_palette(side: int = 16) -> bytes:
    """A PNG of colour type 3 (palette) whose PLTE chunk is missing."""
    header = struct.pack(">IIBBBBB", side, side, 8, 3, 0, 0, 0)
    rows = zlib.compress(b"".join(b"\x00" + bytes(side) for _ in range(side)))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows)
            + _png_chunk(b"IEND", b""))


def broken_avif(broken: str) -> bytes:
    """A real 64x64 AVIF spoiled: ``"no-item"`` (its primary-item box renamed: refused
    while Pillow opens it) or ``"planes"`` (its coded data inverted: refused as it decodes)."""
    out = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").resize((64, 64)).save(out, "AVIF")
    data = bytearray(out.getvalue())
    if broken == "no-item":
        return bytes(data).replace(b"pitm", b"pitX", 1)
    start = data.index(b"mdat") + 4
    data[start:] = bytes(b ^ 0xFF for b in data[start:])
    return bytes(data)


@functools.cache
def lying_avif(coded: tuple[int, int], declared: tuple[int, int] = (64, 64)) -> bytes:
    """A real AVIF coding a ``coded`` frame (flat colour: 2 KB for 12000x12000) whose ``ispe``
    property declares ``declared``: Pillow reports the declared size, libavif decodes the frame.

    Encoded in a child process: the 432 MB picture Pillow builds for it would otherwise leave
    this process's heap with hundreds of MB free and mapped, which a job process forked from
    it later uses past its address-space cap (test_job_process's runaway job then succeeded).
    """
    script = (
        "import io, sys; from PIL import Image; out = io.BytesIO(); "
        f"Image.new('RGB', {tuple(coded)!r}, (100, 150, 200)).save(out, 'AVIF', speed=10, quality=5); "
        "sys.stdout.buffer.write(out.getvalue())"
    )
    data = bytearray(subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout)
    at = data.index(b"ispe") + 8  # past the type, version and flags
    data[at : at + 8] = struct.pack(">II", *declared)
    return bytes(data)
