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
