"""The service's pure rules, called directly (mutation testing, issue 15): the progress
plan, the limits and their refusals, the media type of a Content-Type, the Host/Origin
guard's decisions and the body framing checks. Each refusal is pinned whole: status,
code, message (with the setting's variable), extra fields and headers."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.requests import Request

from model_core import TrainConfig, config_parameter_count, training_memory_bytes
from service.api import limits, uploads
from service.api.errors import ApiError, Code
from service.api.http import framing
from service.api.http.framing import FramingError, check_head, check_parsed, parser_refusal
from service.api.http.guards import CROSS_SITE, HOST_NOT_ALLOWED, NO_HOST, ORIGIN_NOT_ALLOWED, BrowserGuard, host_of
from service.state.jobs import progress_plan


def request(headers: list[tuple[bytes, bytes]], chunks: list[bytes] = []) -> Request:  # noqa: B006 (read only)
    """A starlette Request whose body arrives as ``chunks``, one ASGI message each."""
    messages: Iterator[dict[str, object]] = iter(
        [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
        or [{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, object]:
        return next(messages)

    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive)


def refusal(error: ApiError) -> tuple[int, str, str, dict[str, object], dict[str, str] | None]:
    return error.status, error.code, error.message, error.extra, error.headers


# -- service/state/jobs.py: progress_plan

def test_progress_is_counted_in_epochs_with_mini_batches_else_iterations() -> None:
    assert progress_plan(TrainConfig(iterations=7, epochs=3)) == (3, "epoch")
    assert progress_plan(TrainConfig(iterations=7)) == (7, "iteration")


# -- service/api/limits.py

BODY_413 = (413, Code.BODY_TOO_LARGE,
            "the request body is larger than the limit of 5 bytes (CATSVC_MAX_BODY_BYTES); send less data",
            {"limit": 5}, {"Connection": "close"})


def test_body_too_large_names_the_limit_and_closes() -> None:
    assert refusal(limits.body_too_large(5, "max_body_bytes")) == BODY_413


@pytest.mark.parametrize(("declared", "refused"), [("5", False), ("6", True), ("abc", False), (None, False)])
def test_a_declared_length_is_refused_only_over_the_limit(declared: str | None, refused: bool) -> None:
    headers = [] if declared is None else [(b"content-length", declared.encode())]
    if refused:
        with pytest.raises(ApiError) as caught:
            limits.check_declared_length(request(headers), 5, "max_body_bytes")
        assert refusal(caught.value) == BODY_413
    else:
        limits.check_declared_length(request(headers), 5, "max_body_bytes")


def test_a_body_is_read_whole_up_to_the_limit_inclusive() -> None:
    assert asyncio.run(limits.read_body(request([], [b"ab", b"", b"cde"]), 5, "max_body_bytes")) == b"abcde"
    assert asyncio.run(limits.read_body(request([], [b"abcde"]), 5, "max_body_bytes")) == b"abcde"


def test_the_stream_drops_empty_chunks() -> None:
    async def chunks() -> list[bytes]:
        return [c async for c in limits.limited_stream(request([], [b"ab", b"", b"c"]), 5, "max_body_bytes")]

    assert asyncio.run(chunks()) == [b"ab", b"c"]


def test_a_body_one_byte_over_is_refused_whatever_its_declared_length() -> None:
    with pytest.raises(ApiError) as caught:
        asyncio.run(limits.read_body(request([(b"content-length", b"2")], [b"abc", b"def"]), 5, "max_body_bytes"))
    assert refusal(caught.value) == BODY_413
    with pytest.raises(ApiError):
        asyncio.run(limits.read_body(request([(b"content-length", b"6")], [b"a"]), 5, "max_body_bytes"))


def test_a_batch_at_its_limit_passes_and_one_more_is_refused() -> None:
    limits.check_batch(3, 3, "images")
    with pytest.raises(ApiError) as caught:
        limits.check_batch(4, 3, "images")
    assert refusal(caught.value) == (
        413, Code.BATCH_TOO_LARGE,
        "4 images in one request; the limit is 3 (CATSVC_MAX_BATCH): split the batch", {"limit": 3}, None)
    with pytest.raises(ApiError) as caught:
        limits.check_batch(4, 3, "rows", "max_rows")
    assert "(CATSVC_MAX_ROWS)" in caught.value.message


def test_each_refusal_names_its_limit_and_setting() -> None:
    assert refusal(limits.image_too_large(2, 100)) == (
        413, Code.IMAGE_TOO_LARGE, "file #2 has more pixels than the limit of 100 pixels "
        "(CATSVC_MAX_IMAGE_PIXELS); send a smaller image", {"limit": 100, "index": 2}, None)
    assert refusal(limits.request_pixels_too_large(300, 200)) == (
        413, Code.REQUEST_PIXELS_TOO_LARGE, "the images of this request hold 300 pixels, more than the limit "
        "of 200 pixels per request (CATSVC_MAX_REQUEST_PIXELS); send fewer or smaller images per request",
        {"limit": 200, "pixels": 300}, None)
    assert refusal(limits.predict_queue_full(2, 8)) == (
        503, Code.PREDICT_QUEUE_FULL, "this worker is busy: 2 predictions are running and 8 are waiting, the "
        "limit (CATSVC_PREDICT_THREADS, CATSVC_PREDICT_QUEUE); retry in a second", {"limit": 8},
        {"Retry-After": "1"})
    assert refusal(limits.image_too_small(1, 16)) == (
        422, Code.IMAGE_TOO_SMALL, "file #1 is smaller than 16 pixels on a side (CATSVC_MIN_IMAGE_SIDE); "
        "send a real picture", {"limit": 16, "index": 1}, None)
    assert refusal(limits.queue_full(4)) == (
        429, Code.QUEUE_FULL, "4 training jobs are already queued, the limit (CATSVC_MAX_QUEUED_JOBS); retry "
        "when one has started, or cancel one with DELETE /train/{job_id}", {"limit": 4}, {"Retry-After": "30"})
    assert refusal(limits.params_too_large(1000)) == (
        413, Code.PARAMS_TOO_LARGE, "the parameter file's arrays hold more than the limit of 1000 bytes "
        "uncompressed (CATSVC_MAX_PARAMS_BYTES); send a smaller model", {"limit": 1000}, None)
    assert limits.MAX_PARAM_ARRAYS == 201  # W1..W100, b1..b100 and the metadata


def test_layers_are_counted_with_weights_and_bounded_inclusive() -> None:
    limits.check_layer_count([12288, 20, 7, 1], 3)
    with pytest.raises(ApiError) as caught:
        limits.check_layer_count([12288, 20, 7, 5, 1], 3)
    assert refusal(caught.value) == (
        422, Code.TOO_MANY_LAYERS, "layer_dims: 4 layers; the limit is 3 (CATSVC_MAX_LAYERS): use fewer layers",
        {"limit": 3, "field": "layer_dims"}, None)


def test_parameters_are_bounded_inclusive_naming_the_first_layer() -> None:
    config = TrainConfig(layer_dims=(12, 3, 1))
    count = config_parameter_count(config)
    assert count == 12 * 3 + 3 + 3 + 1
    limits.check_parameters(config, count)
    with pytest.raises(ApiError) as caught:
        limits.check_parameters(config, count - 1)
    assert refusal(caught.value) == (
        422, Code.TOO_MANY_PARAMETERS, f"layer_dims: {count} parameters; the limit is {count - 1} "
        "(CATSVC_MAX_PARAMETERS): use fewer units (the first layer alone has n_1 x 13)",
        {"limit": count - 1, "field": "layer_dims", "parameters": count}, None)


def test_memory_is_bounded_inclusive_on_the_examples_and_the_dev_set() -> None:
    config = TrainConfig(layer_dims=(12, 3, 1))
    estimate = training_memory_bytes(config, 50, 7)
    assert estimate != training_memory_bytes(config, 50, 0)  # m_dev counts
    limits.check_memory(config, 50, 7, estimate)
    with pytest.raises(ApiError) as caught:
        limits.check_memory(config, 50, 7, estimate - 1)
    budget = estimate - 1
    assert refusal(caught.value) == (
        422, Code.JOB_TOO_LARGE, f"the job would need about {estimate / (1 << 20):,.0f} MiB of memory on this "
        f"data set's 50 examples; a job may use {budget / (1 << 20):,.0f} MiB (CATSVC_TRAINER_MEMORY, {budget} "
        "bytes): use fewer units, mini-batches (epochs, batch_size), dtype float32, a smaller data set, or raise "
        "the limit", {"limit": budget, "estimate": estimate}, None)


def test_mib_rounds_to_whole_mebibytes_with_thousands() -> None:
    assert limits.MiB == 1 << 20
    assert limits._mib(3 << 20) == "3 MiB"
    assert limits._mib(2048 << 20) == "2,048 MiB"
    assert limits._mib((3 << 20) + (1 << 19) + 1) == "4 MiB"


# -- service/api/uploads.py: media types

@pytest.mark.parametrize(("content_type", "media"), [
    ("Multipart/Form-Data ; boundary=x", "multipart/form-data"), ("application/json", "application/json"),
    (" TEXT/plain;charset=utf-8", "text/plain"), ("", ""), ("a;b;c", "a")])
def test_a_media_type_is_type_and_subtype_lower_case(content_type: str, media: str) -> None:
    assert uploads.media_type(content_type) == media


def test_only_multipart_form_data_is_taken_for_a_file() -> None:
    content_type = "multipart/FORM-data; boundary=abc"
    assert uploads.multipart_content_type(request([(b"content-type", content_type.encode())])) == content_type
    for headers in ([(b"content-type", b"application/octet-stream")], []):
        with pytest.raises(ApiError) as caught:
            uploads.multipart_content_type(request(headers))
        assert refusal(caught.value) == (
            415, Code.UNSUPPORTED_MEDIA_TYPE, "send the file as multipart/form-data, in a part named 'file' "
            "(curl -F file=@<path>); no other body type is accepted", {}, None)


def test_the_upload_refusals_say_what_to_send() -> None:
    assert refusal(uploads.unsupported_media_type("send JSON")) == (415, Code.UNSUPPORTED_MEDIA_TYPE,
                                                                    "send JSON", {}, None)
    assert refusal(uploads.missing_file()) == (
        422, Code.MISSING_FILE, "send the file as a multipart/form-data part named 'file'", {}, None)
    assert uploads.FILE_FIELD == "file"


# -- service/api/http/guards.py

@pytest.mark.parametrize(("value", "host"), [(b"LocalHost:8000", b"localhost"), (b"[::1]:8000", b"[::1]"),
                                             (b"[::1]", b"[::1]"), (b"a.b", b"a.b"), (b"a:1:2", b"a"),
                                             (b"[::1]:80]", b"[::1]")])  # a bracketed host ends at its first ]
def test_host_of_is_lower_case_without_port(value: bytes, host: bytes) -> None:
    assert host_of(value) == host


def scope(method: str = "POST", path: str = "/train", **headers: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path,
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


GUARD = BrowserGuard(None, hosts=frozenset({"localhost"}), origins=("https://app.example",))  # type: ignore[arg-type]


def test_the_guard_s_decisions() -> None:
    assert GUARD.refusal(scope(host="LocalHost:1")) is None
    assert GUARD.refusal(scope(host="evil")) == (400, HOST_NOT_ALLOWED)
    assert GUARD.refusal(scope()) == (400, NO_HOST)
    two = scope()
    two["headers"] = [(b"host", b"localhost"), (b"host", b"localhost")]
    assert GUARD.refusal(two) == (400, NO_HOST)
    for path in ("/health/live", "/v2/health/ready", "/metrics"):
        assert GUARD.refusal(scope("GET", path, host="evil")) is None
    assert GUARD.refusal(scope("GET", "/healthz", host="evil")) == (400, HOST_NOT_ALLOWED)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert GUARD.refusal(scope(method, host="localhost", origin="https://evil")) == (403, ORIGIN_NOT_ALLOWED)
    for method in ("GET", "HEAD", "OPTIONS"):
        assert GUARD.refusal(scope(method, host="localhost", origin="https://evil")) is None
    for origin in ("http://localhost", "HTTPS://LOCALHOST", "https://app.example", "HTTPS://App.Example"):
        assert GUARD.refusal(scope(host="LocalHost", origin=origin)) is None, origin
    assert GUARD.refusal(scope(host="localhost", origin="ftp://localhost")) == (403, ORIGIN_NOT_ALLOWED)
    assert GUARD.refusal(scope(host="localhost", sec_fetch_site="cross-site")) == (403, CROSS_SITE)
    assert GUARD.refusal(scope(host="localhost", sec_fetch_site="same-site")) is None
    # any host when none is listed, and an origin checked against the one Host sent
    anyhost = BrowserGuard(None, hosts=None, origins=())  # type: ignore[arg-type]
    assert anyhost.refusal(scope(host="x.example", origin="http://x.example")) is None
    assert anyhost.refusal(scope(origin="http://x.example")) == (403, ORIGIN_NOT_ALLOWED)
    assert anyhost.refusal(scope(host="x.example", origin="http://y.example")) == (403, ORIGIN_NOT_ALLOWED)


def test_the_guard_answers_a_refusal_itself_and_passes_the_rest_on() -> None:
    passed: list[dict[str, object]] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        passed.append(scope)

    guard = BrowserGuard(app, hosts=frozenset({"localhost"}), origins=())  # type: ignore[arg-type]
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    asyncio.run(guard(scope(host="evil"), receive, send))  # type: ignore[arg-type]
    assert passed == [] and sent[0]["status"] == 400
    assert b'"HOST_NOT_ALLOWED"' in sent[1]["body"]  # type: ignore[operator]
    lifespan = {"type": "lifespan"}
    asyncio.run(guard(lifespan, receive, send))  # type: ignore[arg-type]
    asyncio.run(guard(scope(host="localhost"), receive, send))  # type: ignore[arg-type]
    assert passed == [lifespan, scope(host="localhost")] and len(sent) == 2


# -- service/api/http/framing.py

def head(*lines: str, version: str = "HTTP/1.1") -> bytes:
    return ("\r\n".join([f"POST / {version}", "Host: a", *lines]) + "\r\n\r\n").encode()


@pytest.mark.parametrize(("lines", "message"), [
    ((), None), (("Content-Length: 5",), None), (("content-length:  12 ",), None),
    (("Content-Length: 1" + "0" * 17,), None), (("Content-Length: 1" + "0" * 18,), framing.BAD_LENGTH),
    (("Content-Length: 5", "Transfer-Encoding: chunked"), framing.BOTH),
    (("Content-Length: 5", "Content-Length: 5"), framing.REPEATED_LENGTH),
    (("Content-Length: 5, 5",), framing.REPEATED_LENGTH), (("Content-Length: +5",), framing.BAD_LENGTH),
    (("Content-Length: ",), framing.BAD_LENGTH), (("Content-Length: 5", " 6"), framing.BAD_LENGTH),
    (("Content-Length: 5", "\t6"), framing.BAD_LENGTH),
    (("Transfer-Encoding: chunked",), None), (("Transfer-Encoding: Chunked \t",), None),
    (("Transfer-Encoding: gzip, chunked",), framing.BAD_CODING),
    (("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), framing.BAD_CODING),
    (("Transfer-Encoding: chunked", " x"), framing.BAD_CODING),
    # OWS is spaces and tabs only (RFC 9110 section 5.6.3): a vertical tab or form feed is not
    (("Content-Length: 5\x0b",), framing.BAD_LENGTH), (("Content-Length: \x0c5",), framing.BAD_LENGTH),
    (("Transfer-Encoding: chunked\x0b",), framing.BAD_CODING),
])
def test_check_head(lines: tuple[str, ...], message: str | None) -> None:
    if message is None:
        check_head(head(*lines))
    else:
        with pytest.raises(FramingError) as caught:
            check_head(head(*lines))
        assert str(caught.value) == message


def test_chunked_in_http_1_0_is_refused_by_its_request_line() -> None:
    with pytest.raises(FramingError, match="^HTTP/1.0 has no Transfer-Encoding"):
        check_head(head("Transfer-Encoding: chunked", version="HTTP/1.0"))
    bare = b"POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n"  # LF only
    with pytest.raises(FramingError, match="^HTTP/1.0 has no"):
        check_head(bare)
    check_head(b"POST /http/1.0 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")


def test_check_parsed_is_check_head_on_the_framing_headers() -> None:
    check_parsed([(b"content-length", b"5"), (b"x", b"1")], "1.1")
    check_parsed([(b"transfer-encoding", b"chunked")], "1.1")
    for headers, version, message in [
        ([(b"content-length", b"5"), (b"transfer-encoding", b"chunked")], "1.1", framing.BOTH),
        ([(b"transfer-encoding", b"Chunked")], "1.0", framing.CODING_IN_HTTP10),
        ([(b"content-length", b"5"), (b"content-length", b"5")], "1.1", framing.REPEATED_LENGTH),
    ]:
        with pytest.raises(FramingError) as caught:
            check_parsed(headers, version)
        assert str(caught.value) == message
    check_parsed([(b"x-content-length", b"no"), (b"transfer-encodingx", b"gzip")], "1.1")


@pytest.mark.parametrize(("reason", "in_body", "message"), [
    ("anything", True, framing.BAD_CHUNKS),
    ("Content-Length can't be present with Transfer-Encoding", False, framing.BOTH),
    ("Duplicate Content-Length", False, framing.REPEATED_LENGTH),
    ("Invalid character in Content-Length", False, framing.BAD_LENGTH),
    ("Invalid Transfer-Encoding header value", False, framing.BAD_CODING),
])
def test_parser_refusal(reason: str, in_body: bool, message: str) -> None:
    error = parser_refusal(reason, in_body)
    assert isinstance(error, FramingError) and str(error) == message
    assert error.code == Code.INVALID_FRAMING and error.error_status_hint == 400


def test_parser_refusal_is_none_for_other_errors() -> None:
    assert parser_refusal("Invalid method encountered", False) is None


def test_the_framing_constants() -> None:
    assert framing.MAX_LENGTH_DIGITS == 18
    assert framing.BAD_LENGTH == "Content-Length must be a decimal number of bytes: 1 to 18 digits, nothing else"
    assert framing.HEAD_END.search(b"a\r\n\r\nb").span() == (2, 5)  # type: ignore[union-attr]
    assert framing.HEAD_END.search(b"a\n\nb").span() == (1, 3)  # type: ignore[union-attr]
    assert framing.LEADING_BLANKS == b"\r\n"
