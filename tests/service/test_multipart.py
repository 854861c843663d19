"""service.multipart: the in-memory multipart/form-data splitter of /predict and PUT /params."""
from __future__ import annotations

import httpx
import pytest

from service.api.multipart import MultipartError, parse_multipart


def encoded(files: list, data: dict | None = None) -> tuple[bytes, str]:
    """The body and Content-Type httpx (a real client) sends."""
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.read(), request.headers["content-type"]


def test_parts_as_httpx_sends_them() -> None:
    body, ctype = encoded(
        [("file", ("a.png", b"\x89PNG\r\n--not-a-boundary\r\n")), ("file", ("été.jpg", b"")),
         ("file", ("b.bin", bytes(range(256)) * 10))],
        data={"note": "hello"},
    )
    parts = parse_multipart(body, ctype)
    assert [(p.name, p.filename) for p in parts] == [("note", None), ("file", "a.png"), ("file", "été.jpg"),
                                                      ("file", "b.bin")]
    assert parts[0].data == b"hello"
    assert parts[1].data == b"\x89PNG\r\n--not-a-boundary\r\n"
    assert parts[2].data == b""
    assert parts[3].data == bytes(range(256)) * 10


def test_preamble_and_epilogue_are_ignored() -> None:
    body = (b"preamble\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n"
            b"Content-Type: image/png\r\n\r\nDATA\r\n--B--\r\nepilogue")
    [part] = parse_multipart(body, "multipart/form-data; boundary=B")
    assert (part.name, part.filename, part.content_type, part.data) == ("file", "x", "image/png", b"DATA")


@pytest.mark.parametrize(
    ("body", "ctype", "fragment"),
    [
        (b"--B\r\n", "multipart/form-data", "boundary"),
        (b"--B\r\n", "text/plain; boundary=B", "multipart/form-data"),
        (b"no boundary here", "multipart/form-data; boundary=B", "no part"),
        (b"--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata", "multipart/form-data; boundary=B",
         "truncated"),
        (b"--B\r\nContent-Disposition: form-data; name=\"f\"", "multipart/form-data; boundary=B", "truncated"),
        (b"--B\r\nContent-Type: a/b\r\n\r\nx\r\n--B--", "multipart/form-data; boundary=B", "name"),
    ],
    ids=["no-boundary", "not-multipart", "boundary-missing", "no-closing", "headers-open", "no-name"],
)
def test_malformed_bodies_raise(body: bytes, ctype: str, fragment: str) -> None:
    with pytest.raises(MultipartError, match=fragment):
        parse_multipart(body, ctype)


HEADERS = [
    "multipart/form-data; boundary=abc", "Multipart/Form-Data;boundary=a'b+c", "multipart/form-data; boundary=x" * 1,
    'multipart/form-data; boundary="quoted"', "multipart/form-data; charset=utf-8; boundary=b",
    "multipart/form-data; boundary=" + "b" * 201,
]
DISPOSITIONS = [
    'form-data; name="file"; filename="cat.png"', 'form-data; name="file"', 'form-data; name=""; filename=""',
    'form-data; name="f"; filename="C:\\\\dir\\\\x.png"', 'form-data; name="a;b"', 'form-data;name="file"',
    'form-data; name="file"; filename="\xc3\xa9t\xc3\xa9.jpg"', 'form-data; name="x"; filename*=utf-8\'\'y',
]


@pytest.mark.parametrize("ctype", HEADERS)
def test_the_quick_reading_of_a_content_type_is_the_general_parser_s(ctype: str) -> None:
    from python_multipart.multipart import parse_options_header

    from service.api.multipart import boundary_of

    kind, options = parse_options_header(ctype)
    if kind == b"multipart/form-data" and 0 < len(options.get(b"boundary", b"")) <= 200:
        assert boundary_of(ctype) == options[b"boundary"]
    else:
        with pytest.raises(MultipartError):
            boundary_of(ctype)


@pytest.mark.parametrize("disposition", DISPOSITIONS)
def test_the_quick_reading_of_a_part_s_disposition_is_the_general_parser_s(disposition: str) -> None:
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(disposition)
    body = f"--B\r\nContent-Disposition: {disposition}\r\n\r\nDATA\r\n--B--".encode("latin-1")
    [part] = parse_multipart(body, "multipart/form-data; boundary=B")

    def text(raw: bytes | None) -> str | None:
        return None if raw is None else raw.decode("utf-8", errors="strict")

    assert (part.name, part.filename) == (text(options.get(b"name")), text(options.get(b"filename")))
