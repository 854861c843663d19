"""service.middleware and service.logs: the request id, the line per request, JSON lines.

The real server's log (stderr, every process) is checked in test_logs.py.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.errors import Code
from service.state.logs import JsonFormatter, request_id
from service.settings import Settings


def test_a_request_id_is_made_and_returned(client: TestClient) -> None:
    a, b = client.get("/health/live"), client.get("/health/live")
    assert len(a.headers["x-request-id"]) == 16
    assert a.headers["x-request-id"] != b.headers["x-request-id"]


@pytest.mark.parametrize("given", ["abc-123", "req_1.2:3", "A" * 128])
def test_a_sane_incoming_request_id_is_kept(client: TestClient, given: str) -> None:
    assert client.get("/health/live", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize("given", [b"", b"has space", b"A" * 129, b"semi;colon", b"<script>", "ünï".encode()])
def test_an_insane_request_id_is_replaced(client: TestClient, given: bytes) -> None:
    got = client.get("/health/live", headers={"X-Request-ID": given}).headers
    assert got["x-request-id"].encode() != given and len(got["x-request-id"]) == 16


def test_errors_carry_the_request_id_too(client: TestClient) -> None:
    r = client.get("/no/such/path", headers={"X-Request-ID": "rid-404"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "rid-404"


def test_a_500_s_id_is_the_request_id(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internal detail")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom", headers={"X-Request-ID": "rid-500"})
    assert r.status_code == 500
    assert r.json()["id"] == "rid-500" and r.headers["x-request-id"] == "rid-500"
    assert r.json()["code"] == Code.INTERNAL


def test_one_line_per_request_with_its_fields(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "service.access"):
        client.get("/health/live?secret=1", headers={"X-Request-ID": "rid-1"})
        client.post("/train", json={"learning_rate": -1}, headers={"X-Request-ID": "rid-2"})
    records = [r for r in caplog.records if r.name == "service.access"]
    assert [r.getMessage() for r in records] == ["request", "request"]
    first, second = (r.__dict__["fields"] for r in records)
    assert first["method"] == "GET" and first["path"] == "/health/live" and first["status"] == 200
    assert first["client"] == "testclient" and first["duration_ms"] >= 0
    assert (second["method"], second["path"], second["status"]) == ("POST", "/train", 422)


def test_the_access_log_can_be_turned_off(make_settings: Callable[..., Settings],
                                          caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(create_app(make_settings(access_log=False))) as c, caplog.at_level(logging.INFO):
        c.get("/health/live")
    assert not [r for r in caplog.records if r.name == "service.access"]


def test_the_json_formatter_writes_one_object_with_the_request_id_and_fields() -> None:
    record = logging.LogRecord("service.jobs", logging.INFO, __file__, 1, "job %s", ("queued",), None)
    record.fields = {"job_id": "j1", "status": "queued"}
    token = request_id.set("rid-9")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id.reset(token)
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["msg"] == "job queued" and doc["level"] == "info" and doc["logger"] == "service.jobs"
    assert doc["request_id"] == "rid-9" and doc["job_id"] == "j1" and doc["ts"].endswith("Z")


def test_an_exception_stays_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    doc = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in doc["exc"]
