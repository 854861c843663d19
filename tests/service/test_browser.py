"""Issue 12 section 3 against the real server (``python -m service``): what a web page could
do to a service with the open default, and what a container without an admin token does.

One server per configuration; each test states the attack, then that nothing changed.
"""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.api.errors import Code

from .realserver import ROOT, Server, course_npz, seed_models

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

EVIL = "https://evil.example"
TOKEN = "file-SECRET-token-0123456789abcdef"


def jobs_and_versions(c: httpx.Client) -> tuple[list, list]:
    return c.get("/train").json()["jobs"], [m["version"] for m in c.get("/models").json()["models"]]


def test_the_open_default_refuses_what_a_web_page_would_send(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    with Server(data, tmp_path / "server.log", workers=1) as server, server.client() as c:
        before = jobs_and_versions(c)
        assert before == ([], [1])

        # a cross-site form posts text/plain: no CORS preflight, so the browser sends it
        r = c.post("/train", content=b'{"iterations": 1}', headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and r.json()["code"] == Code.UNSUPPORTED_MEDIA_TYPE
        r = c.put("/params", content=course_npz(seed=4), headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 415 and r.json()["code"] == Code.UNSUPPORTED_MEDIA_TYPE

        # a page of another origin sends what would otherwise be accepted
        for method, path, body in [("POST", "/train", {"json": {}}),
                                   ("PUT", "/params", {"files": {"file": ("p.npz", course_npz(seed=4))}}),
                                   ("POST", "/models/1/activate", {}),
                                   ("POST", "/predict", {"json": {"instances": [[0] * 12288]}})]:
            r = c.request(method, path, headers={"Origin": EVIL}, **body)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["code"] == Code.ORIGIN_NOT_ALLOWED and "CATSVC_ALLOWED_ORIGINS" in r.json()["error"]
        r = c.post("/train", json={}, headers={"Origin": "null"})
        assert r.status_code == 403

        # DNS rebinding: the page's own name now resolves to 127.0.0.1; the Host says which name
        rebound = f"evil.example:{server.port}"
        for method, path in (("GET", "/params/download"), ("GET", "/train"), ("POST", "/train")):
            r = c.request(method, path, headers={"Host": rebound, "Origin": f"http://{rebound}"},
                          json={} if method == "POST" else None)
            assert r.status_code == 400, (path, r.text)
            assert r.json()["code"] == Code.HOST_NOT_ALLOWED and "CATSVC_ALLOWED_HOSTS" in r.json()["error"]
            assert "evil" not in r.text
        assert c.get("/health/live", headers={"Host": rebound}).status_code == 200  # probes send any Host

        assert jobs_and_versions(c) == before  # nothing queued, nothing uploaded, nothing switched
        # the service's own page, and curl, still work
        assert c.post("/train", json={}, headers={"Origin": server.url}).status_code == 202
        assert c.post("/models/1/activate").status_code == 200
    log = server.log.read_text()
    assert "evil.example" not in log


def test_a_container_without_an_admin_token_refuses_the_admin_endpoints(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    # 0.0.0.0 as in the image; reachable, and served, as 127.0.0.1
    with Server(data, tmp_path / "closed.log", host="0.0.0.0", workers=1) as server, server.client() as c:
        for method, path, body in [("POST", "/train", {"json": {}}), ("POST", "/models/1/activate", {}),
                                   ("PUT", "/params", {"files": {"file": ("p.npz", course_npz(seed=4))}})]:
            r = c.request(method, path, **body)
            assert r.status_code == 403, r.text
            assert r.json()["code"] == Code.ADMIN_DISABLED
            assert "CATSVC_ADMIN_TOKEN" in r.json()["error"] and "CATSVC_ALLOW_OPEN_ADMIN" in r.json()["error"]
        assert c.post("/predict", json={"instances": [[0] * 12288]}).status_code == 200  # useful at once
        assert jobs_and_versions(c) == ([], [1])
    assert any("ADMIN_DISABLED" in line["msg"] for line in server.log_lines() if line["level"] == "warning")

    with Server(data, tmp_path / "open.log", host="0.0.0.0", workers=1, allow_open_admin="true") as server, \
            server.client() as c:
        assert c.post("/models/1/activate").status_code == 200
        assert c.post("/train", json={}).status_code == 202


def test_an_admin_token_from_a_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    (tmp_path / "admin_token").write_text(TOKEN + "\n")
    with Server(data, tmp_path / "server.log", host="0.0.0.0", workers=1,
                admin_token_file=tmp_path / "admin_token") as server, server.client() as c:
        assert c.post("/models/1/activate").status_code == 401
        assert c.post("/models/1/activate", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 403
        assert c.post("/models/1/activate", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert "SECRET" not in server.log.read_text()


def test_compose_s_generated_admin_token(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    path = data / "admin_token"
    server = Server(data, tmp_path / "server.log", host="0.0.0.0", workers=1, generate_admin_token="true")
    with server, server.client() as c:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text().strip()
        assert len(token) == 64
        assert c.post("/models/1/activate").status_code == 401
        assert c.post("/models/1/activate", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    log = server.log.read_text()
    assert str(path) in log and token not in log
    with server, server.client() as c:  # a restart keeps the token
        assert path.read_text().strip() == token
        assert c.post("/models/1/activate", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def start_failure(tmp_path: Path, **settings: object) -> tuple[int, str]:
    """The exit code and stderr of a service that should not start."""
    env = Server(tmp_path / "data", tmp_path / "unused.log", **settings).env
    proc = subprocess.run([sys.executable, "-m", "service"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, proc.stderr


def test_a_token_and_its_file_both_set_or_an_unreadable_file_stop_start_up(tmp_path: Path) -> None:
    (tmp_path / "admin_token").write_text(TOKEN)
    code, err = start_failure(tmp_path, admin_token=TOKEN, admin_token_file=tmp_path / "admin_token")
    assert code == 2
    assert err.count("\n") == 1 and "CATSVC_ADMIN_TOKEN or CATSVC_ADMIN_TOKEN_FILE, not both" in err
    assert "SECRET" not in err

    code, err = start_failure(tmp_path, predict_token_file=tmp_path / "missing")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("invalid setting: CATSVC_PREDICT_TOKEN_FILE: ")
    assert "cannot read" in err
