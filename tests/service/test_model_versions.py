"""Model versions that are wrong or too many: metadata of the wrong type refused at upload,
an unreadable stored version listed (never a failing listing) and deletable, DELETE
/models/{version}, include=values bounded, and the retention of versions."""
from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.errors import Code
from service.settings import Settings
from service.state.store import METADATA_FILE, MODEL_FILE, ModelStore

from .realserver import Server, course_npz, seed_models

N = 12288


def npz_with_metadata(meta: object, hidden: int = 3) -> bytes:
    rng = np.random.RandomState(1)
    buf = io.BytesIO()
    np.savez(buf, W1=rng.randn(hidden, N) * 0.01, b1=np.zeros((hidden, 1)), W2=rng.randn(1, hidden),
             b2=np.zeros((1, 1)), __metadata__=np.array(json.dumps(meta)))
    return buf.getvalue()


def upload(c: TestClient, data: bytes):  # type: ignore[no-untyped-def]
    return c.put("/params", params={"activate": "true"}, files={"file": ("m.npz", data)})


def break_metadata(store: ModelStore, version: int, meta: object) -> None:
    """What an older release stored without checking: a version whose record is wrong."""
    (store.models_dir / str(version) / METADATA_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize(("meta", "field"), [
    ({"layer_dims": 12288}, "layer_dims"),
    ({"hidden_activation": ["relu"]}, "hidden_activation"),
    ({"created_at": 1733000000}, "created_at"),
    ({"metrics": "high"}, "metrics"),
    ({"output_activation": "softmax"}, "output_activation"),
])
def test_wrong_metadata_is_refused_naming_the_field(client: TestClient, model_version: int, meta: dict,
                                                    field: str) -> None:
    before = client.get("/models").json()
    r = upload(client, npz_with_metadata(meta))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == Code.INVALID_PARAMS and f"field {field}" in r.json()["error"]
    assert r.json()["field"] == field
    assert client.get("/models").json() == before  # nothing stored, the active one unchanged


@pytest.mark.embedded_only  # writes the data directory's files by hand
def test_an_unreadable_version_is_listed_and_can_be_deleted(client: TestClient, model_version: int) -> None:
    store: ModelStore = client.app.state.services.store  # type: ignore[attr-defined]
    assert upload(client, course_npz(seed=2)).status_code == 201  # version 2, active
    client.post(f"/models/{model_version}/activate")
    break_metadata(store, 2, {"layer_dims": [N, 3, 1], "created_at": 17, "metrics": "x"})
    body = client.get("/models").json()
    assert [(m["version"], m["unreadable"]) for m in body["models"]] == [(2, True), (1, False)]
    assert "field created_at" in body["models"][0]["reason"]
    for r in (client.get("/models/2"), client.get("/params?version=2"), client.post("/models/2/activate")):
        assert r.status_code == 409 and r.json()["code"] == Code.MODEL_UNREADABLE, r.text
        assert "DELETE /models/2" in r.json()["error"]
    assert client.delete("/models/2").status_code == 204
    assert [m["version"] for m in client.get("/models").json()["models"]] == [1]
    assert client.delete("/models/2").status_code == 404
    # a deleted number is never given again
    r = upload(client, course_npz(seed=3))
    assert r.status_code == 201 and r.json()["version"] == 3


def test_the_active_version_cannot_be_deleted(client: TestClient, model_version: int) -> None:
    r = client.delete(f"/models/{model_version}")
    assert r.status_code == 409 and r.json()["code"] == Code.MODEL_ACTIVE
    assert client.get("/health/ready").json()["version"] == model_version
    assert client.delete("/models/99").json()["code"] == Code.MODEL_NOT_FOUND


@pytest.fixture
def limited(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(max_values=N * 3 + 3 + 3 + 1, keep_versions=3,
                                             keep_version_bytes=1 << 30))) as c:
        yield c


def test_include_values_is_bounded(limited: TestClient) -> None:
    assert upload(limited, course_npz(hidden=3)).status_code == 201  # 36871 weights: at the limit
    values = limited.get("/params?include=values").json()["values"]
    assert len(values["W1"]) == 3 and len(values["W1"][0]) == N
    assert upload(limited, course_npz(hidden=4)).status_code == 201  # one unit more
    r = limited.get("/params?include=values")
    assert r.status_code == 413 and r.json()["code"] == Code.VALUES_TOO_LARGE
    assert "CATSVC_MAX_VALUES" in r.json()["error"] and "/params/download?version=2" in r.json()["error"]
    assert r.json()["limit"] == N * 3 + 7
    assert limited.get("/params/download").status_code == 200  # the whole file, always


@pytest.mark.embedded_only  # writes the data directory's files by hand
def test_retention_keeps_the_newest(limited: TestClient) -> None:
    store: ModelStore = limited.app.state.services.store  # type: ignore[attr-defined]
    for seed in range(5):
        assert upload(limited, course_npz(seed=seed)).status_code == 201
    # versions seconds old are kept: another process may be about to activate one
    assert len(limited.get("/models").json()["models"]) == 5
    old = time.time() - 120
    for v in store.versions():
        os.utime(store.models_dir / str(v) / MODEL_FILE, (old, old))
    assert upload(limited, course_npz(seed=9)).status_code == 201
    # CATSVC_KEEP_VERSIONS=3: the oldest go as new ones come
    assert [m["version"] for m in limited.get("/models").json()["models"]] == [6, 5, 4]


def test_retention_never_removes_a_recent_jobs_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    from model_core import load_parameters
    from service.state.store import Retention

    parameters, meta = load_parameters(course_npz())
    job = store.add(parameters, {**meta, "source": {"kind": "job", "job_id": "x"}})
    old_job = store.add(parameters, {**meta, "source": {"kind": "job", "job_id": "y"}})
    hour_ago = time.time() - 7200
    os.utime(store.models_dir / str(old_job) / MODEL_FILE, (hour_ago, hour_ago))
    uploads = [store.add(parameters, {**meta, "source": {"kind": "upload"}}) for _ in range(4)]
    store.activate(uploads[0])
    # a version seconds old is kept (another process may be about to activate it) ...
    assert store.enforce_retention(Retention(count=1, bytes=1 << 30)) == [old_job]
    old_job = store.add(parameters, {**meta, "source": {"kind": "job", "job_id": "y"}})
    os.utime(store.models_dir / str(old_job) / MODEL_FILE, (hour_ago, hour_ago))
    for v in uploads:  # ... until it is not
        os.utime(store.models_dir / str(v) / MODEL_FILE, (hour_ago, hour_ago))
    deleted = store.enforce_retention(Retention(count=1, bytes=1 << 30), keep=(uploads[-1],))
    # kept: the recent job's, the active one, the one just added; all else goes, oldest first
    assert deleted == sorted([old_job, *uploads[1:-1]])
    assert store.versions() == [job, uploads[0], uploads[-1]]
    # bytes count too
    assert store.enforce_retention(Retention(count=10, bytes=1)) == [uploads[-1]]
    assert store.versions() == [job, uploads[0]]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.embedded_only  # writes the data directory's files by hand
def test_on_a_real_server(tmp_path: Path) -> None:
    """The issue's cases against the real service: every listing keeps answering."""
    seed_models(tmp_path / "data", count=2)
    break_metadata(ModelStore(tmp_path / "data"), 1, {"layer_dims": [N, 3, 1], "created_at": 1733000000})
    with Server(tmp_path / "data", tmp_path / "server.log", max_values=1000) as s, s.client() as c:
        body = c.get("/models")
        assert body.status_code == 200 and body.json()["models"][1]["unreadable"] is True
        for meta in ({"hidden_activation": ["relu"]}, {"layer_dims": 12288}, {"output_activation": "softmax"},
                     {"metrics": "0.9"}):
            r = c.put("/params", files={"file": ("m.npz", npz_with_metadata(meta))})
            assert r.status_code == 422 and r.json()["code"] == Code.INVALID_PARAMS, r.text
        r = c.get("/params?include=values")
        assert r.status_code == 413 and r.json()["code"] == Code.VALUES_TOO_LARGE
        assert c.delete("/models/2").json()["code"] == Code.MODEL_ACTIVE
        assert c.delete("/models/1").status_code == 204
        assert [m["version"] for m in c.get("/models").json()["models"]] == [2]
        assert c.get("/health/ready").json()["version"] == 2
