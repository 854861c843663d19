"""The frame size an AVIF's AV1 data codes, read from its sequence headers, nothing decoded.

Pillow takes an AVIF's size from its ``ispe`` property, and libavif decodes the AV1 frame
its item holds whatever that property says: a 2.3 KB file declaring 64x64 and coding
12000x12000 passed every pixel limit and took 0.35 s and 300 MB to decode (16 of them in
one request, 5.3 s). :func:`coded_size` walks the file's boxes (``meta``: ``iinf`` for the
items' types, ``iloc`` for where their data lies), reads the OBU headers at the start of
each ``av01`` item's data to its sequence header, and returns the largest
``max_frame_width x max_frame_height`` among them (AV1 spec, 5.5.1): what the decoder can
produce for any item. ``model_core.images`` checks its limits against the larger of the
two sizes.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["coded_size"]

_MAX_BOXES = 4096  # boxes walked at one level; a camera's AVIF has a few dozen
_OBU_SEQUENCE_HEADER = 1


class _Malformed(Exception):
    """A box or an OBU that runs past its data: there is no size to report."""


def coded_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of the largest frame any ``av01`` item's sequence header allows;
    None when the file holds no readable one (Pillow, then libavif, say why)."""
    try:
        meta = _child(data, 0, len(data), b"meta")
        if meta is None:
            return None
        start, end = meta[0] + 4, meta[1]  # a full box: version and flags first
        iinf, iloc = _child(data, start, end, b"iinf"), _child(data, start, end, b"iloc")
        if iinf is None or iloc is None:
            return None
        av01 = _av01_items(data, *iinf)
        sizes = [_sequence_size(data, offset, length) for item, offset, length in _extents(data, *iloc)
                 if item in av01]
    except (_Malformed, struct.error, IndexError):
        return None
    found = [s for s in sizes if s is not None]
    return max(found, key=lambda s: s[0] * s[1]) if found else None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    at = start
    for _ in range(_MAX_BOXES):
        if at + 8 > end:
            return
        size, kind = struct.unpack_from(">I4s", data, at)
        head = 8
        if size == 1:
            size, head = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:
            size = end - at
        if size < head or at + size > end:
            raise _Malformed
        yield kind, at + head, at + size
        at += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def _av01_items(data: bytes, start: int, end: int) -> set[int]:
    """The item IDs whose ``infe`` (version 2 or 3) says ``av01``."""
    version = data[start]
    at = start + 4 + (2 if version == 0 else 4)  # the entry count
    found = set()
    for kind, s, e in _boxes(data, at, end):
        if kind != b"infe" or data[s] < 2:
            continue
        if data[s] == 2:
            item, item_type = struct.unpack_from(">H2x4s", data, s + 4)
        else:
            item, item_type = struct.unpack_from(">I2x4s", data, s + 4)
        if item_type == b"av01":
            found.add(item)
    return found


def _extents(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(item ID, file offset, length) of each item's first extent in the file itself
    (construction method 0); ISO/IEC 14496-12, 8.11.3."""
    version = data[start]
    sizes = struct.unpack_from(">BB", data, start + 4)
    offset_size, length_size = sizes[0] >> 4, sizes[0] & 15
    base_size, index_size = sizes[1] >> 4, (sizes[1] & 15) if version in (1, 2) else 0
    at = start + 6
    count, at = _uint(data, at, 2 if version < 2 else 4)
    for _ in range(min(count, _MAX_BOXES)):
        item, at = _uint(data, at, 2 if version < 2 else 4)
        method = 0
        if version in (1, 2):
            method, at = _uint(data, at, 2)
            method &= 15
        at += 2  # data_reference_index
        base, at = _uint(data, at, base_size)
        extents, at = _uint(data, at, 2)
        first: tuple[int, int] | None = None
        for _ in range(min(extents, _MAX_BOXES)):
            at += index_size
            offset, at = _uint(data, at, offset_size)
            length, at = _uint(data, at, length_size)
            first = first or (base + offset, length)
        if at > end:
            raise _Malformed
        if method == 0 and first is not None:
            yield item, *first


def _uint(data: bytes, at: int, size: int) -> tuple[int, int]:
    if at + size > len(data):
        raise _Malformed
    return int.from_bytes(data[at : at + size], "big"), at + size


def _sequence_size(data: bytes, offset: int, length: int) -> tuple[int, int] | None:
    """The sequence header's max frame size, from the OBUs that open an item's data."""
    end = min(len(data), offset + (length or len(data)))
    at = offset
    while at < end:
        header = data[at]
        obu_type, extension, has_size = (header >> 3) & 15, (header >> 2) & 1, (header >> 1) & 1
        at += 1 + extension
        size, at = _leb128(data, at) if has_size else (end - at, at)
        if at + size > end:
            raise _Malformed
        if obu_type == _OBU_SEQUENCE_HEADER:
            return _frame_size(_Bits(data[at : at + size]))
        at += size
    return None


def _leb128(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at + i + 1
    raise _Malformed


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.at >> 3]  # IndexError past the end: malformed
            value = (value << 1) | ((byte >> (7 - (self.at & 7))) & 1)
            self.at += 1
        return value

    def uvlc(self) -> int:
        zeros = 0
        while not self.read(1):
            zeros += 1
            if zeros >= 32:
                raise _Malformed
        return self.read(zeros)


def _frame_size(bits: _Bits) -> tuple[int, int]:
    """sequence_header_obu() to max_frame_height_minus_1 (AV1 spec, 5.5.1)."""
    bits.read(3)  # seq_profile
    bits.read(1)  # still_picture
    if bits.read(1):  # reduced_still_picture_header
        bits.read(5)  # seq_level_idx[0]
    else:
        decoder_model, delay_length = False, 0
        if bits.read(1):  # timing_info_present_flag
            bits.read(32), bits.read(32)  # num_units_in_display_tick, time_scale
            if bits.read(1):  # equal_picture_interval
                bits.uvlc()
            if bits.read(1):  # decoder_model_info_present_flag
                decoder_model = True
                delay_length = bits.read(5) + 1
                bits.read(32), bits.read(5), bits.read(5)
        initial_display_delay = bits.read(1)
        for _ in range(bits.read(5) + 1):  # operating points
            bits.read(12)  # operating_point_idc
            if bits.read(5) > 7:  # seq_level_idx
                bits.read(1)  # seq_tier
            if decoder_model and bits.read(1):
                bits.read(delay_length), bits.read(delay_length), bits.read(1)
            if initial_display_delay and bits.read(1):
                bits.read(4)
    width_bits, height_bits = bits.read(4) + 1, bits.read(4) + 1
    return bits.read(width_bits) + 1, bits.read(height_bits) + 1
