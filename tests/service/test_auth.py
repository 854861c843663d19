"""Bearer tokens (service/api/auth.py): 401 without, 403 wrong, open where unset."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.errors import Code
from service.settings import Settings
from service.state.backend import open_state

from .realserver import course_npz, seed_models

ADMIN, PREDICT = "admin-token-0123456789abcdef", "predict-token-0123456789abcdef"
INSTANCE = {"instances": [[0] * 12288]}

# (method, path, body) of every endpoint the admin token guards
ADMIN_ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/train", {"json": {}}),
    ("DELETE", "/train/0123456789abcdef", {}),
    ("POST", "/datasets", {"files": {"file": ("x.npz", b"junk")}}),
    ("PUT", "/params", {"files": {"file": ("p.npz", b"junk")}}),
    ("POST", "/models/1/activate", {}),
    ("DELETE", "/models/1", {}),
]
OPEN_ENDPOINTS = ["/health/live", "/health/ready", "/docs", "/openapi.json", "/train", "/datasets", "/models",
                  "/params", "/params/download"]


@pytest.fixture
def guarded(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(admin_token=ADMIN, predict_token=PREDICT))) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS, ids=lambda v: str(v)[:20])
def test_admin_endpoints_need_the_admin_token(guarded: TestClient, method: str, path: str, body: dict) -> None:
    r = guarded.request(method, path, **body)
    assert r.status_code == 401
    assert r.json()["code"] == Code.AUTH_REQUIRED and "CATSVC_ADMIN_TOKEN" in r.json()["error"]
    assert r.headers["www-authenticate"] == 'Bearer realm="catvnoncat"'
    for wrong in ("nope", PREDICT, ADMIN + "x", ADMIN[:-1]):
        r = guarded.request(method, path, headers=bearer(wrong), **body)
        assert r.status_code == 403, wrong
        assert r.json()["code"] == Code.AUTH_INVALID
        assert wrong not in r.text
    r = guarded.request(method, path, headers={"Authorization": f"Basic {ADMIN}"}, **body)
    assert r.status_code == 401  # another scheme is no bearer token
    r = guarded.request(method, path, headers=bearer(ADMIN), **body)
    assert r.status_code not in (401, 403), r.text


def test_the_admin_token_does_the_work(guarded: TestClient) -> None:
    r = guarded.put("/params", files={"file": ("p.npz", course_npz())}, headers=bearer(ADMIN))
    assert r.status_code == 201
    r = guarded.post("/models/1/activate", headers=bearer(ADMIN))
    assert r.status_code == 200
    r = guarded.post("/train", json={}, headers={"authorization": f"bearer {ADMIN}"})  # scheme in any case
    assert r.status_code == 202


def test_predict_needs_its_token_and_accepts_the_admin_one(guarded: TestClient) -> None:
    r = guarded.post("/predict", json=INSTANCE)
    assert r.status_code == 401
    assert r.json()["code"] == Code.AUTH_REQUIRED and "CATSVC_PREDICT_TOKEN" in r.json()["error"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert guarded.post("/predict", json=INSTANCE, headers=bearer("wrong")).status_code == 403
    guarded.put("/params", files={"file": ("p.npz", course_npz())}, headers=bearer(ADMIN))
    for token in (PREDICT, ADMIN):
        r = guarded.post("/predict", json=INSTANCE, headers=bearer(token))
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", OPEN_ENDPOINTS)
def test_health_docs_and_reads_stay_open(guarded: TestClient, path: str) -> None:
    assert guarded.get(path).status_code not in (401, 403)


def test_without_tokens_everything_is_open(client: TestClient) -> None:
    assert client.put("/params", files={"file": ("p.npz", course_npz())}).status_code == 201
    assert client.post("/predict", json=INSTANCE).status_code == 200


def test_an_admin_token_alone_leaves_predictions_open(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(admin_token=ADMIN))) as c:
        c.put("/params", files={"file": ("p.npz", course_npz())}, headers=bearer(ADMIN))
        assert c.post("/predict", json=INSTANCE).status_code == 200
        assert c.post("/models/1/activate").status_code == 401


def test_openapi_declares_the_schemes_on_the_guarded_endpoints(guarded: TestClient) -> None:
    spec = guarded.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["AdminToken"]["scheme"] == schemes["PredictToken"]["scheme"] == "bearer"
    for method, path, _ in ADMIN_ENDPOINTS:
        template = {"/train/0123456789abcdef": "/train/{job_id}", "/models/1/activate": "/models/{version}/activate",
                    "/models/1": "/models/{version}"}
        operation = spec["paths"][template.get(path, path)][method.lower()]
        assert operation["security"] == [{"AdminToken": []}]
        assert {"401", "403"} <= set(operation["responses"])
    predict = spec["paths"]["/predict"]["post"]
    assert predict["security"] == [{"PredictToken": []}, {"AdminToken": []}]
    assert {"401", "403"} <= set(predict["responses"])
    for path in ("/health/live", "/health/ready", "/models"):
        assert "security" not in spec["paths"][path]["get"]


# -- no admin token on an address beyond loopback (a container): the admin endpoints are off
@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS, ids=lambda v: str(v)[:20])
def test_beyond_loopback_without_a_token_the_admin_endpoints_are_403(
    make_settings: Callable[..., Settings], method: str, path: str, body: dict
) -> None:
    settings = make_settings(host="0.0.0.0")
    seed_models(settings.data_dir, store=open_state(settings).store)
    with TestClient(create_app(settings)) as c:
        r = c.request(method, path, **body)
        assert r.status_code == 403
        assert r.json()["code"] == Code.ADMIN_DISABLED
        assert "CATSVC_ADMIN_TOKEN" in r.json()["error"] and "CATSVC_ALLOW_OPEN_ADMIN" in r.json()["error"]
        assert c.request(method, path, headers=bearer(ADMIN), **body).status_code == 403  # no token to match
        # predictions, reads and health stay open: the service is useful at once
        assert c.post("/predict", json=INSTANCE).status_code == 200
        for open_path in OPEN_ENDPOINTS:
            assert c.get(open_path).status_code == 200, open_path
        assert [m["version"] for m in c.get("/models").json()["models"]] == [1]


@pytest.mark.parametrize("overrides", [{"host": "0.0.0.0", "allow_open_admin": True}, {"host": "127.0.0.2"},
                                       {"host": "::1"}, {"host": "localhost"}], ids=str)
def test_allowed_open_or_on_loopback_the_admin_endpoints_are_open(make_settings: Callable[..., Settings],
                                                                 overrides: dict) -> None:
    with TestClient(create_app(make_settings(**overrides))) as c:
        assert c.put("/params", files={"file": ("p.npz", course_npz())}).status_code == 201
        assert c.post("/models/1/activate").status_code == 200


def test_beyond_loopback_an_admin_token_guards_as_anywhere(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(host="0.0.0.0", admin_token=ADMIN))) as c:
        assert c.post("/models/1/activate").status_code == 401
        assert c.put("/params", files={"file": ("p.npz", course_npz())}, headers=bearer(ADMIN)).status_code == 201
