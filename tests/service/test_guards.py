"""service.guards: Host (DNS rebinding) and Origin (cross-site requests), in-process.

The real server's answers to the same attacks are in test_browser.py.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.errors import Code
from service.api.http.guards import BrowserGuard
from service.settings import Settings

from .realserver import course_npz, seed_models

OWN = "http://127.0.0.1:8000"
INSTANCE = {"instances": [[0] * 12288]}
# (method, path, body) of every endpoint that changes something, /predict included
CHANGES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/train", {"json": {}}),
    ("DELETE", "/train/0123456789abcdef", {}),
    ("POST", "/datasets", {"files": {"file": ("x.npz", b"junk")}}),
    ("PUT", "/params", {"files": {"file": ("p.npz", course_npz())}}),
    ("POST", "/models/1/activate", {}),
    ("POST", "/predict", {"json": INSTANCE}),
]


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """A client of an app with these settings (default: the default allowed hosts), sending
    ``Host: 127.0.0.1:8000`` as a browser on the service's own page would; one version active."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = make_settings(**{"allowed_hosts": (), **overrides})
        seed_models(settings.data_dir)
        client = TestClient(create_app(settings), base_url=OWN).__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def assert_refused(r: Any, status: int, code: str, setting: str, *not_echoed: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and setting in r.json()["error"]
    assert r.headers["x-request-id"]  # inside the request middleware: logged like any request
    for value in not_echoed:
        assert value not in r.text


# -- Host
@pytest.mark.parametrize("host", ["127.0.0.1:8000", "127.0.0.1", "localhost:8000", "LocalHost", "[::1]:8000"])
def test_the_default_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get("/models", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil",
                                  "testserver", "0.0.0.0:8000", "[::2]:8000", "::1"])
def test_another_host_is_400_naming_the_setting(client: TestClient, host: str) -> None:
    for method, path in (("GET", "/params"), ("GET", "/docs"), ("POST", "/predict")):
        r = client.request(method, path, headers={"Host": host}, json=INSTANCE if method == "POST" else None)
        assert_refused(r, 400, Code.HOST_NOT_ALLOWED, "CATSVC_ALLOWED_HOSTS", host)


def test_health_answers_any_host(client: TestClient) -> None:
    # orchestrators' probes send the pod's address as Host
    for path in ("/health/live", "/health/ready"):
        assert client.get(path, headers={"Host": "10.0.3.7:8000"}).status_code == 200


def test_the_bound_address_is_served_but_not_the_any_address(make_client: Callable[..., TestClient]) -> None:
    c = make_client(host="10.1.2.3")
    assert c.get("/models", headers={"Host": "10.1.2.3:8000"}).status_code == 200
    assert c.get("/models", headers={"Host": "localhost"}).status_code == 200
    c = make_client(host="0.0.0.0")
    assert c.get("/models", headers={"Host": "0.0.0.0:8000"}).status_code == 400
    assert c.get("/models", headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_a_list_replaces_the_default_and_star_allows_any(make_client: Callable[..., TestClient]) -> None:
    c = make_client(allowed_hosts="Cats.Example.com:443, [::1]")
    assert c.get("/models", headers={"Host": "cats.example.com"}).status_code == 200
    assert c.get("/models", headers={"Host": "CATS.example.com:8000"}).status_code == 200
    assert c.get("/models", headers={"Host": "[::1]:8000"}).status_code == 200
    assert c.get("/models", headers={"Host": "127.0.0.1:8000"}).status_code == 400
    c = make_client(allowed_hosts="*")
    assert c.get("/models", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize("headers", [[], [(b"host", b"127.0.0.1"), (b"host", b"127.0.0.1")]], ids=["none", "two"])
def test_no_host_or_two_are_400(make_settings: Callable[..., Settings], headers: list) -> None:
    # HTTP/1.1 clients cannot send these through httpx; the guard's own decision, on a scope
    guard = BrowserGuard.from_settings(None, make_settings(allowed_hosts=()))  # type: ignore[arg-type]
    refusal = guard.refusal({"type": "http", "method": "GET", "path": "/models", "headers": headers})
    assert refusal is not None and refusal[0] == 400 and refusal[1]["code"] == Code.HOST_NOT_ALLOWED
    assert guard.refusal({"type": "http", "method": "GET", "path": "/health/live", "headers": headers}) is None


# -- Origin
@pytest.mark.parametrize(("method", "path", "body"), CHANGES, ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:9999", "http://localhost:8000"])
def test_a_change_from_another_origin_is_403(client: TestClient, method: str, path: str, body: dict,
                                             origin: str) -> None:
    r = client.request(method, path, headers={"Origin": origin}, **body)
    assert_refused(r, 403, Code.ORIGIN_NOT_ALLOWED, "CATSVC_ALLOWED_ORIGINS", "evil.example", "9999")


def test_a_refused_change_changes_nothing(client: TestClient) -> None:
    evil = {"Origin": "https://evil.example"}
    assert client.post("/train", json={}, headers=evil).status_code == 403
    assert client.put("/params", files={"file": ("p.npz", course_npz(seed=5))}, headers=evil).status_code == 403
    assert client.get("/train").json()["jobs"] == []
    assert [m["version"] for m in client.get("/models").json()["models"]] == [1]


@pytest.mark.parametrize("origin", [OWN, "https://127.0.0.1:8000", "HTTP://127.0.0.1:8000"])
def test_the_service_s_own_origin_may_change(client: TestClient, origin: str) -> None:
    assert client.post("/train", json={}, headers={"Origin": origin}).status_code == 202
    assert client.post("/predict", json=INSTANCE, headers={"Origin": origin}).status_code == 200


def test_listed_origins_may_change(make_client: Callable[..., TestClient]) -> None:
    c = make_client(allowed_origins="https://app.example.org, http://localhost:3000/")
    for origin in ("https://app.example.org", "http://localhost:3000"):
        r = c.post("/train", json={}, headers={"Origin": origin, "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 202, r.text
    assert c.post("/train", json={}, headers={"Origin": "https://other.example.org"}).status_code == 403


def test_reads_from_another_origin_pass(client: TestClient) -> None:
    # a GET changes nothing, and without CORS headers the page cannot read the answer
    assert client.get("/models", headers={"Origin": "https://evil.example"}).status_code == 200


@pytest.mark.parametrize(("site", "status"), [("cross-site", 403), ("same-origin", 202), ("none", 202)])
def test_sec_fetch_site_without_origin(client: TestClient, site: str, status: int) -> None:
    r = client.post("/train", json={}, headers={"Sec-Fetch-Site": site})
    assert r.status_code == status, r.text


def test_no_origin_is_no_browser_and_passes(client: TestClient) -> None:
    assert client.post("/train", json={}).status_code == 202  # curl, scripts, other services
