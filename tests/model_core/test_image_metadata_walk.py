"""The metadata walk, rule by rule: which directories are followed, what is counted, where
each bound sits (at the bound accepted, one past refused), and how each container (TIFF,
BigTIFF, JPEG's APP1/APP2, PNG's eXIf, WebP's EXIF) is walked to its block.

The files are built byte by byte (a TIFF block is a few directories of 12- or 20-byte
entries) around real images written by Pillow; ``check_metadata`` runs in this process.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from model_core.image_metadata import (
    MAX_IFD_ENTRIES,
    MAX_IFDS,
    MAX_JPEG_SEGMENTS,
    MAX_TAG_BYTES,
    ImageMetadataError,
    check_metadata,
    exif_orientation,
)

EXIF_IFD, GPS_IFD, INTEROP_IFD, SUB_IFDS = 0x8769, 0x8825, 0xA005, 0x014A
UNDEFINED, SHORT, LONG, IFD, LONG8, IFD8 = 7, 3, 4, 13, 16, 18
STRIP = "strip the metadata (e.g. exiftool -all=) and resend"


def filler(n: int, *, big: bool = False) -> list[tuple[int, int, int, object]]:
    """``n`` entries whose data fits inline (4 bytes, 8 in BigTIFF): nothing declared."""
    return [(0x1000 + i, UNDEFINED, 8 if big else 4, 0) for i in range(n)]


def tiff(dirs: list[tuple[list[tuple[int, int, int, object]], object]], *, order: str = "<",
         big: bool = False, first: int | None = None, tail: bytes = b"") -> bytes:
    """A TIFF block: ``dirs`` are (entries, next) laid out one after the other; an entry's
    value or a ``next`` is an int, ``("ifd", j)`` (directory j's offset) or None (0);
    ``first`` is IFD0's offset (by default the first directory's)."""
    head = 16 if big else 8
    count_size, entry_size, pointer = (8, 20, "Q") if big else (2, 12, "I")
    offsets, position = [], head
    for entries, _ in dirs:
        offsets.append(position)
        position += count_size + entry_size * len(entries) + struct.calcsize(pointer)

    def resolve(value: object) -> int:
        if value is None:
            return 0
        if isinstance(value, tuple):
            return offsets[value[1]]
        assert isinstance(value, int)
        return value

    ifd0 = first if first is not None else (offsets[0] if offsets else 0)
    out = [(b"II" if order == "<" else b"MM")]
    out.append(struct.pack(order + "HHHQ", 43, 8, 0, ifd0) if big else struct.pack(order + "HI", 42, ifd0))
    for entries, nxt in dirs:
        out.append(struct.pack(order + ("Q" if big else "H"), len(entries)))
        for tag, kind, count, value in entries:
            out.append(struct.pack(order + ("HHQQ" if big else "HHII"), tag, kind, count, resolve(value)))
        out.append(struct.pack(order + pointer, resolve(nxt)))
    return b"".join(out) + tail


def chain(dirs: list[list[tuple[int, int, int, object]]], **kw: object) -> bytes:
    """Directories linked by their next pointers, in order."""
    return tiff([(entries, ("ifd", i + 1) if i + 1 < len(dirs) else None) for i, entries in enumerate(dirs)],
                **kw)  # type: ignore[arg-type]


def check(data: bytes, name: str = "up.img") -> None:
    check_metadata(io.BytesIO(data), name)


def refused(data: bytes, name: str = "up.img") -> ImageMetadataError:
    with pytest.raises(ImageMetadataError) as caught:
        check(data, name)
    return caught.value


def entries_message(where: str, count: int) -> str:
    return (f"{where}: a directory holds {count} tags, above the bound of {MAX_IFD_ENTRIES}; "
            f"no camera writes that many: {STRIP}")


def bytes_message(where: str, declared: int) -> str:
    return (f"{where}: the tags declare {declared} bytes of data, above the bound of {MAX_TAG_BYTES} "
            f"bytes; {STRIP}")


def declares(n: int, *, tag: int = 0x2000) -> tuple[int, int, int, object]:
    """One entry declaring ``n`` bytes of data (UNDEFINED, count n) at offset 0."""
    return (tag, UNDEFINED, n, 0)


# -- containers: real images by Pillow, the TIFF block put where each format keeps it


def picture(fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(buf, fmt, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with(block: bytes, *, header: bytes = b"", after_iend: bool = False) -> bytes:
    png = picture("PNG")
    iend = png.rindex(b"IEND") - 4
    exif = png_chunk(b"eXIf", header + block)
    return png + exif if after_iend else png[:iend] + exif + png[iend:]


def app_segment(block: bytes, *, app: int = 0xE1, prefix: bytes = b"Exif\x00\x00") -> bytes:
    payload = prefix + block
    return bytes([0xFF, app]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with(block: bytes, *, app: int = 0xE1, prefix: bytes = b"Exif\x00\x00", before: bytes = b"",
              after: bytes = b"", first: bool = False) -> bytes:
    """Pillow's JPEG with an APPn segment holding ``block`` after its JFIF APP0 (or, ``first``,
    right after SOI, as a camera writes it)."""
    jpeg = picture("JPEG")
    at = 2 if first else 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:at] + before + app_segment(block, app=app, prefix=prefix) + after + jpeg[at:]


def riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)


def webp_with(block: bytes, *, before: bytes = b"", after: bytes = b"") -> bytes:
    """A WebP by Pillow with an EXIF chunk (``before`` and ``after`` it: other bytes) appended."""
    webp = picture("WEBP")
    body = webp[12:] + before + riff_chunk(b"EXIF", block) + after
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


CONTAINERS = {
    "tiff": (lambda b: b, "{name}: TIFF tags"),
    "jpeg-exif": (jpeg_with, "{name}: EXIF/MPF metadata"),
    "jpeg-exif-first": (lambda b: jpeg_with(b, first=True), "{name}: EXIF/MPF metadata"),
    "jpeg-mpf": (lambda b: jpeg_with(b, app=0xE2, prefix=b"MPF\x00"), "{name}: EXIF/MPF metadata"),
    "png": (png_with, "{name}: EXIF metadata"),
    "png-exif-header": (lambda b: png_with(b, header=b"Exif\x00\x00"), "{name}: EXIF metadata"),
    "webp": (webp_with, "{name}: EXIF metadata"),
}


@pytest.mark.parametrize("container", sorted(CONTAINERS))
@pytest.mark.parametrize(("order", "big"), [("<", False), (">", False), ("<", True), (">", True)])
def test_a_directory_of_max_ifd_entries_passes_and_one_more_is_refused_with_its_message(
        container: str, order: str, big: bool) -> None:
    wrap, where = CONTAINERS[container]
    check(wrap(chain([filler(MAX_IFD_ENTRIES, big=big)], order=order, big=big)), "cat.img")
    error = refused(wrap(chain([filler(MAX_IFD_ENTRIES + 1, big=big)], order=order, big=big)), "cat.img")
    assert str(error) == entries_message(where.format(name="cat.img"), MAX_IFD_ENTRIES + 1)
    assert (error.limit, error.value, error.actual) == ("MAX_IFD_ENTRIES", MAX_IFD_ENTRIES, MAX_IFD_ENTRIES + 1)


@pytest.mark.parametrize("container", sorted(CONTAINERS))
@pytest.mark.parametrize(("order", "big"), [("<", False), (">", False), ("<", True), (">", True)])
def test_tags_may_declare_max_tag_bytes_in_all_and_one_byte_more_is_refused(
        container: str, order: str, big: bool) -> None:
    wrap, where = CONTAINERS[container]
    half = MAX_TAG_BYTES // 2
    # two directories (IFD0 and the next) each declaring half: the sum is what is bounded
    check(wrap(chain([[declares(half)], [declares(half)]], order=order, big=big)), "cat.img")
    error = refused(wrap(chain([[declares(half)], [declares(half + 1)]], order=order, big=big)), "cat.img")
    assert str(error) == bytes_message(where.format(name="cat.img"), MAX_TAG_BYTES + 1)
    assert (error.limit, error.value, error.actual) == ("MAX_TAG_BYTES", MAX_TAG_BYTES, MAX_TAG_BYTES + 1)


@pytest.mark.parametrize("big", [False, True])
def test_data_that_fits_in_the_entry_is_not_counted_and_one_byte_more_is(big: bool) -> None:
    inline = 8 if big else 4  # bytes of data an entry holds itself
    check(chain([[declares(MAX_TAG_BYTES), declares(inline, tag=0x2001)]], big=big))
    error = refused(chain([[declares(MAX_TAG_BYTES), declares(inline + 1, tag=0x2001)]], big=big))
    assert error.actual == MAX_TAG_BYTES + inline + 1


@pytest.mark.parametrize(("kind", "size"), [(1, 1), (2, 1), (3, 2), (4, 4), (5, 8), (6, 1), (7, 1), (8, 2), (9, 4),
                                            (10, 8), (11, 4), (12, 8), (13, 4), (16, 8), (17, 8), (18, 8)])
def test_each_tiff_type_declares_count_times_its_size(kind: int, size: int) -> None:
    count = MAX_TAG_BYTES // size  # exactly the bound
    check(chain([[(0x2000, kind, count, 0)]]))
    error = refused(chain([[(0x2000, kind, count, 0), (0x2001, kind, 5, 0)]]))  # 5 x size > 4 bytes: counted
    assert error.actual == (count + 5) * size


def test_a_tag_of_an_unknown_type_declares_nothing() -> None:
    check(chain([[(0x2000, 99, MAX_TAG_BYTES + 1, 0), (0x2001, 0, 2**32 - 1, 0)]]))


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("tag", [EXIF_IFD, GPS_IFD, INTEROP_IFD, SUB_IFDS])
def test_a_sub_directory_is_followed_through_each_pointer_tag_and_type(tag: int, big: bool) -> None:
    kinds = [LONG, IFD, LONG8, IFD8] if big else [LONG, IFD]
    for kind in kinds:
        bomb = tiff([([(tag, kind, 1, ("ifd", 1))], None), (filler(MAX_IFD_ENTRIES + 1, big=big), None)], big=big)
        assert refused(bomb).actual == MAX_IFD_ENTRIES + 1, kind
    # a SHORT or an unknown tag of type LONG is no pointer: the bomb behind it is never read
    for entry in [(tag, SHORT, 1, ("ifd", 1)), (0x2000, LONG, 1, ("ifd", 1))]:
        check(tiff([([entry], None), (filler(MAX_IFD_ENTRIES + 1, big=big), None)], big=big))


def test_all_max_ifd_entries_of_a_directory_are_read() -> None:
    # the last of 1024 entries is read: it alone declares too much
    assert refused(chain([filler(MAX_IFD_ENTRIES - 1) + [declares(MAX_TAG_BYTES + 1)]])).actual == MAX_TAG_BYTES + 1


@pytest.mark.parametrize(("big", "count"), [(False, 0xFFFF), (False, 0x8000), (True, 2**63 + 5), (True, 2**16 + 2)])
def test_a_directorys_count_is_unsigned_and_as_wide_as_the_format(big: bool, count: int) -> None:
    block = bytearray(tiff([(filler(2, big=big), None)], big=big))
    at = 16 if big else 8
    block[at:at + (8 if big else 2)] = struct.pack("<Q" if big else "<H", count)
    assert refused(bytes(block)).actual == count


def test_max_ifds_directories_are_read_and_the_next_is_not() -> None:
    bomb = filler(MAX_IFD_ENTRIES + 1)
    assert refused(chain([filler(1)] * (MAX_IFDS - 1) + [bomb])).actual == MAX_IFD_ENTRIES + 1
    check(chain([filler(1)] * MAX_IFDS + [bomb]))


def test_a_directory_seen_before_is_not_read_again() -> None:
    half = MAX_TAG_BYTES // 2 + 1  # once passes, twice would not
    check(tiff([([declares(half)], ("ifd", 0))]))  # next points back at itself
    check(tiff([([declares(half), (EXIF_IFD, LONG, 1, ("ifd", 0))], None)]))  # a sub-IFD pointing at itself


def test_a_null_or_repeated_pointer_does_not_end_the_walk() -> None:
    bomb = filler(MAX_IFD_ENTRIES + 1)
    for pointer in (None, ("ifd", 0)):  # 0, or IFD0 again: skipped, and the next still read
        block = tiff([([(EXIF_IFD, LONG, 1, pointer)], ("ifd", 1)), (bomb, None)])
        assert refused(block).actual == MAX_IFD_ENTRIES + 1


def test_a_pointer_past_the_end_is_skipped_and_the_walk_goes_on() -> None:
    bomb = filler(MAX_IFD_ENTRIES + 1)
    block = tiff([([(EXIF_IFD, LONG, 1, 100_000)], ("ifd", 1)), (bomb, None)])
    assert refused(png_with(block)).actual == MAX_IFD_ENTRIES + 1


@pytest.mark.parametrize("big", [False, True])
def test_an_offset_with_its_top_bit_set_is_unsigned_and_reads_nothing(big: bool) -> None:
    # read as signed, it would be -16: the last 16 bytes, which hold a count of 0xFFFF...
    far = (2**64 if big else 2**32) - 16
    tail = b"\xff" * 8 + b"\x00" * 8
    for block in (tiff([([(EXIF_IFD, LONG8 if big else LONG, 1, far)], None)], big=big, tail=tail),
                  tiff([(filler(1, big=big), far)], big=big, tail=tail),
                  tiff([], first=far, big=big, tail=tail)):
        check(png_with(block))


def test_a_truncated_directory_still_counts_its_whole_entries() -> None:
    block = chain([[declares(MAX_TAG_BYTES + 1), declares(1)]])
    truncated = block[:8 + 2 + 12 + 11]  # the second entry cut one byte short, no next pointer
    assert refused(png_with(truncated)).actual == MAX_TAG_BYTES + 1


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_missing_next_pointer_ends_the_walk(order: str) -> None:
    # a last directory that runs to the end of the block, with no room for its next pointer:
    # nothing more is read (offset 1 would read a count of 0x2A49 or 0x4D00)
    block = chain([filler(2)], order=order)[:-4]
    check(png_with(block))
    # in BigTIFF, 4 of its 8 bytes are no pointer either
    check(png_with(chain([filler(2, big=True)], order=order, big=True)[:-4]))


def test_an_app1_block_ends_with_its_segment_even_where_junk_follows() -> None:
    # IFD0 is last and has no next pointer; the 4 junk bytes after the segment would read as
    # one, pointing at the bomb directory that sits, unreferenced, before IFD0
    bomb = filler(MAX_IFD_ENTRIES + 1)
    ifd0_at = 8 + 2 + 12 * len(bomb) + 4
    block = tiff([(bomb, None), (filler(1), None)], first=ifd0_at)[:-4]
    check(jpeg_with(block, after=struct.pack("<I", 8)))


@pytest.mark.parametrize("order", ["<", ">"])
def test_bigtiff_next_pointers_are_8_bytes(order: str) -> None:
    bomb = filler(MAX_IFD_ENTRIES + 1, big=True)
    block = chain([filler(3, big=True), bomb], order=order, big=True, tail=b"\x00" * 16)
    assert refused(block).actual == MAX_IFD_ENTRIES + 1
    # a BigTIFF directory's count is 8 bytes: 2**16 + 2 tags read as a 2-byte count would be 2
    wide = tiff([(filler(2, big=True), None)], big=True, order=order)
    count_at = 16
    patched = bytearray(wide)
    patched[count_at:count_at + 8] = struct.pack(order + "Q", 2**16 + 2)
    assert refused(bytes(patched)).actual == 2**16 + 2


@pytest.mark.parametrize(("head", "big"), [(b"II*\x00", False), (b"MM\x00*", False), (b"II+\x00", True),
                                           (b"MM\x00+", True)])
def test_each_tiff_signature_is_walked_from_the_files_first_byte(head: bytes, big: bool) -> None:
    order = "<" if head[:2] == b"II" else ">"
    block = chain([filler(MAX_IFD_ENTRIES + 1, big=big)], order=order, big=big)
    assert block[:4] == head
    assert str(refused(block, "scan.tif")) == entries_message("scan.tif: TIFF tags", MAX_IFD_ENTRIES + 1)


def test_not_a_tiff_structure_is_left_to_pillow() -> None:
    for block in (b"", b"XX*\x00\x08\x00\x00\x00", b"II*\x00", b"II+\x00\x08\x00"):
        check(png_with(block))
        check(jpeg_with(block))
    # magic 44, with what would be a BigTIFF bomb behind it: neither classic nor BigTIFF
    block = bytearray(chain([filler(MAX_IFD_ENTRIES + 1, big=True)], big=True))
    block[2:4] = struct.pack("<H", 44)
    check(png_with(bytes(block)))


def test_the_stream_is_left_at_its_start() -> None:
    bomb = chain([filler(MAX_IFD_ENTRIES + 1)])
    for data in (jpeg_with(bomb), png_with(bomb), webp_with(bomb), bomb):
        stream = io.BytesIO(data)
        stream.seek(5)
        with pytest.raises(ImageMetadataError):
            check_metadata(stream, "x")
        assert stream.tell() == 0
    for data in (jpeg_with(chain([filler(2)])), png_with(chain([filler(2)])), webp_with(chain([filler(2)])),
                 chain([filler(2)]), b"GIF89a"):
        stream = io.BytesIO(data)
        stream.seek(5)
        check_metadata(stream, "x")
        assert stream.tell() == 0


def test_other_formats_are_not_walked() -> None:
    bomb = chain([filler(MAX_IFD_ENTRIES + 1)])
    check(b"GIF89a" + bomb)
    check(b"riff" + bomb)
    check(b"RIFF\x00\x00\x00\x00WAVE" + riff_chunk(b"EXIF", bomb))  # RIFF, but not WebP
    check(b"\x89PNX" + bomb)


# -- PNG and WebP chunks


def test_png_chunks_after_iend_are_not_read() -> None:
    check(png_with(chain([filler(MAX_IFD_ENTRIES + 1)]), after_iend=True))


def test_a_png_chunk_longer_than_2_31_ends_the_walk() -> None:
    png = picture("PNG")
    huge = struct.pack(">I", 0xFFFFFFF0) + b"tEXt"  # read as signed, it would step back
    check(png[:33] + huge + png_chunk(b"eXIf", chain([filler(MAX_IFD_ENTRIES + 1)])) + png[33:])


def test_the_exif_chunk_is_read_to_its_length_and_no_further() -> None:
    # the directory says 2 entries, the chunk holds 1; the bytes after it would read as an
    # entry declaring too much (type 7, count MAX_TAG_BYTES + 1)
    block = tiff([([declares(1), declares(2)], None)])[:8 + 2 + 12]
    after = b"XX\x07\x00" + struct.pack("<I", MAX_TAG_BYTES + 1) + b"\x00" * 4
    check(webp_with(block, after=after))


def test_a_riff_chunk_length_is_unsigned() -> None:
    # a chunk whose length, read as signed, would step back into the previous chunk's data,
    # where an EXIF chunk is nested: read as unsigned, the walk ends there
    nested = riff_chunk(b"EXIF", chain([filler(MAX_IFD_ENTRIES + 1)]))
    holder = riff_chunk(b"XTRA", nested)
    back = -(len(holder) - 8)  # from the end of the next chunk's header to the holder's data
    webp = webp_with(b"")
    body = webp[12:] + holder + b"YYYY" + struct.pack("<I", 2**32 + back - 8)
    check(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body)


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_webp_chunks_are_padded_to_an_even_size(size: int) -> None:
    bomb = chain([filler(MAX_IFD_ENTRIES + 1)])
    error = refused(webp_with(bomb, before=riff_chunk(b"XTRA", b"\x01" * size)), "p.webp")
    assert str(error) == entries_message("p.webp: EXIF metadata", MAX_IFD_ENTRIES + 1)


# -- JPEG segments


def jpeg_bomb(before: bytes = b"") -> bytes:
    return jpeg_with(chain([filler(MAX_IFD_ENTRIES + 1)]), before=before)


def assert_bomb_refused(data: bytes) -> None:
    error = refused(data, "p.jpg")
    assert str(error) == entries_message("p.jpg: EXIF/MPF metadata", MAX_IFD_ENTRIES + 1)


@pytest.mark.parametrize("size", [5, 1 << 16, (1 << 16) + 7, 200_000])
def test_junk_between_segments_is_skipped_as_pillow_skips_it(size: int) -> None:
    assert_bomb_refused(jpeg_bomb(before=b"\x00" * size))
    with Image.open(io.BytesIO(jpeg_bomb(before=b"\x00" * 5))) as img:  # Pillow reads past it too
        assert "exif" in img.info


@pytest.mark.parametrize("size", [2, 5000, 70_000, 150_000])
def test_0xff_fill_before_a_marker_is_skipped(size: int) -> None:
    assert_bomb_refused(jpeg_bomb(before=b"\xff" * size))
    assert_bomb_refused(jpeg_bomb(before=b"\x00junk" + b"\xff" * size))  # junk, then fill


@pytest.mark.parametrize("code", [0x00, 0x01, 0xC8, 0xD0, 0xD7, 0xD8, 0xD9, 0xF0, 0xFD])
def test_markers_without_a_length_are_stepped_over_as_pillow_does(code: int) -> None:
    # Pillow reads no length after these (and walks on past an EOI before the scan): a bomb
    # after one is parsed by Pillow, so it must be checked here too (EOI, SOI, JPG, JPGn once
    # hid one: the walk read a length from the bomb's own marker and skipped it)
    assert_bomb_refused(jpeg_bomb(before=bytes([0xFF, code])))


@pytest.mark.parametrize("size", [3, 0x7FFF, 0x8000, 0xFFFF])
def test_a_segment_length_is_unsigned(size: int) -> None:
    com = b"\xff\xfe" + struct.pack(">H", size) + b"\x00" * (size - 2)
    assert_bomb_refused(jpeg_bomb(before=com))


def test_a_segment_with_a_length_is_skipped_whole() -> None:
    # a COM segment whose data holds what looks like an APP1 bomb: it is comment, not metadata
    inner = b"\xff\xe1" + struct.pack(">H", 300) + b"Exif\x00\x00" + chain([filler(MAX_IFD_ENTRIES + 1)])[:200]
    com = b"\xff\xfe" + struct.pack(">H", len(inner) + 2) + inner
    check(jpeg_with(chain([filler(2)]), before=com))
    # and a real APP1 right after such a segment is found
    assert_bomb_refused(jpeg_bomb(before=com))


def sos_end(jpeg: bytes) -> int:
    at = jpeg.index(b"\xff\xda")
    return at + 2 + struct.unpack(">H", jpeg[at + 2:at + 4])[0]


def test_nothing_after_the_start_of_scan_is_read() -> None:
    jpeg = picture("JPEG")
    app1 = app_segment(chain([filler(MAX_IFD_ENTRIES + 1)]))
    end = sos_end(jpeg)
    check(jpeg[:end] + app1 + jpeg[end:])  # image data, whatever it looks like
    check(jpeg + b"\x00\x04" + app1)  # after the end of the image


def test_an_app_segment_other_than_app1_and_app2_is_not_metadata() -> None:
    for app, prefix in [(0xE3, b"Exif\x00\x00"), (0xE0, b"Exif\x00\x00"), (0xE1, b"EXIF\x00\x00"),
                        (0xE2, b"mpf\x00"), (0xE2, b"XXMPF\x00XX")]:
        check(jpeg_with(chain([filler(MAX_IFD_ENTRIES + 1)]), app=app, prefix=prefix))
    for app, prefix in [(0xE1, b"MPF\x00"), (0xE2, b"Exif\x00\x00")]:  # either header in either segment
        assert_bomb_refused(jpeg_with(chain([filler(MAX_IFD_ENTRIES + 1)]), app=app, prefix=prefix))


def test_an_app1_payload_is_its_segment_to_the_last_byte_and_no_further() -> None:
    # the block ends with an entry declaring too much (no next pointer): read to its last byte
    assert refused(jpeg_with(chain([[declares(MAX_TAG_BYTES + 1)]])[:-4])).actual == MAX_TAG_BYTES + 1
    # the directory says 2 entries, the segment holds 1; the COM segment after it would read
    # as an entry declaring too much (tag 0xFEFF, type 7, count MAX_TAG_BYTES + 1)
    block = tiff([([declares(1), declares(2)], None)])[:8 + 2 + 12]
    com = b"\xff\xfe\x07\x00" + struct.pack("<I", MAX_TAG_BYTES + 1) + b"\x00" * (0x0700 - 6)
    check(jpeg_with(block, after=com))
    # the payload may be empty (length 2): nothing to check, the walk goes on
    assert_bomb_refused(jpeg_bomb(before=b"\xff\xe1\x00\x02"))


def segments(n: int) -> bytes:
    return b"".join(b"\xff\xfe\x00\x03" + bytes([i % 251]) for i in range(n))


def test_max_jpeg_segments_before_the_scan_pass_and_one_more_is_refused() -> None:
    jpeg = picture("JPEG")
    end = jpeg.index(b"\xff\xda")
    walked, position = 0, 2
    while position < end:  # the segments Pillow wrote before the scan
        walked += 1
        position += 2 + struct.unpack(">H", jpeg[position + 2:position + 4])[0]
    room = MAX_JPEG_SEGMENTS - 1 - walked  # the scan marker itself takes the last step
    check(jpeg[:2] + segments(room) + jpeg[2:])
    error = refused(jpeg[:2] + segments(room + 1) + jpeg[2:], "many.jpg")
    assert str(error) == (f"many.jpg: more than {MAX_JPEG_SEGMENTS} JPEG segments before the image data; "
                          "no camera writes that many: strip the metadata and resend")
    assert (error.limit, error.value) == ("MAX_JPEG_SEGMENTS", MAX_JPEG_SEGMENTS)


def test_a_jpeg_that_ends_before_its_scan_is_left_to_pillow() -> None:
    jpeg = picture("JPEG")
    check(jpeg[:jpeg.index(b"\xff\xda")])
    check(jpeg[:jpeg.index(b"\xff\xda")] + b"\x00" * 100)


# -- the orientation


@pytest.mark.parametrize(("order", "big"), [("<", False), (">", False), ("<", True), (">", True)])
def test_exif_orientation_is_the_first_directorys_short_tag_0x0112(order: str, big: bool) -> None:
    def block(entries: list[tuple[int, int, int, object]]) -> bytes:
        packed = []
        for tag, kind, count, value in entries:
            assert isinstance(value, int)
            raw = struct.pack(order + "H", value) + b"\x00" * (6 if big else 2)
            packed.append((tag, kind, count, struct.unpack(order + ("Q" if big else "I"), raw)[0]))
        return tiff([(packed, None)], order=order, big=big)

    for orientation in range(1, 9):
        assert exif_orientation(block([(0x0100, SHORT, 1, 7), (0x0112, SHORT, 1, orientation)])) == orientation
        assert exif_orientation(b"Exif\x00\x00" + block([(0x0112, SHORT, 1, orientation)])) == orientation
    for value in (0, 9, 0x8001, 0xFFFF):
        assert exif_orientation(block([(0x0112, SHORT, 1, value)])) is None
    assert exif_orientation(block([(0x0112, LONG, 1, 6)])) is None  # not a SHORT
    assert exif_orientation(block([(0x0100, SHORT, 1, 6)])) is None  # another tag
