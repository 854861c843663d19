"""service.settings: one class, CATSVC_* variables, every one documented."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from model_core.data import DEFAULT_MAX_PIXELS
from service.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CATSVC_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port, s.data_dir, s.datasets_dir) == ("127.0.0.1", 8000, Path("var"), Path("data"))
    assert s.workers == (os.cpu_count() or 1)
    assert s.max_image_pixels == DEFAULT_MAX_PIXELS
    # one image of the largest size fits the request budget; two threads and 32 places per worker
    assert (s.max_request_pixels, s.predict_threads, s.predict_queue) == (DEFAULT_MAX_PIXELS, 2, 32)
    assert s.event_loop == "uvloop"  # the faster under a connection flood (README, "The event loop")


def test_environment_variables_with_the_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CATSVC_PORT", "9123")
    monkeypatch.setenv("CATSVC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("catsvc_max_batch", "5")
    monkeypatch.setenv("PORT", "1")  # no prefix: not ours
    s = Settings()
    assert (s.port, s.data_dir, s.max_batch) == (9123, tmp_path, 5)


@pytest.mark.parametrize(("name", "value"), [("CATSVC_PORT", "0"), ("CATSVC_WORKERS", "many"),
                                             ("CATSVC_LOG_LEVEL", "loud"), ("CATSVC_MAX_BATCH", "0"),
                                             ("CATSVC_EVENT_LOOP", "libuv")])
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_uvloop_is_refused_where_it_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().event_loop == "uvloop"  # installed here, with the service
    monkeypatch.setitem(sys.modules, "uvloop", None)  # Python's own way to make an import fail
    with pytest.raises(ValidationError, match="uvloop is not installed here: pip install uvloop, "
                                              "or CATSVC_EVENT_LOOP=asyncio"):
        Settings()


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `CATSVC_([A-Z0-9_]+)` \|", README.read_text(), flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_every_setting_is_in_env_example() -> None:
    text = (README.parent / ".env.example").read_text()
    listed = set(re.findall(r"^(?:# )?CATSVC_([A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert listed == {name.upper() for name in Settings.model_fields}


def test_env_example_as_given_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (README.parent / ".env.example").read_text()
    for line in text.splitlines():
        if line.startswith("CATSVC_"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    s = Settings()
    assert s.admin_token is None and s.predict_token is None  # empty: unset


@pytest.mark.parametrize("token", ["short", "has a space in it 12345", "x" * 15])
def test_unusable_tokens_are_refused_without_echoing_them(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("CATSVC_ADMIN_TOKEN", token)
    with pytest.raises(ValidationError) as e:
        Settings()
    assert [err["msg"] for err in e.value.errors()] and token not in " ".join(err["msg"] for err in e.value.errors())


def test_a_token_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATSVC_PREDICT_TOKEN", "p" * 32)
    s = Settings()
    assert s.predict_token is not None and s.predict_token.get_secret_value() == "p" * 32
    assert "p" * 32 not in repr(s) and "p" * 32 not in str(s)


# -- tokens from files (Docker and Kubernetes secrets)
@pytest.mark.parametrize("kind", ["admin", "predict"])
@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_a_token_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str, ending: str) -> None:
    (tmp_path / "token").write_bytes(b"f" * 32 + ending.encode())
    monkeypatch.setenv(f"CATSVC_{kind.upper()}_TOKEN_FILE", str(tmp_path / "token"))
    s = Settings()
    token = getattr(s, f"{kind}_token")
    assert token is not None and token.get_secret_value() == "f" * 32  # the newline is not the token's
    assert "f" * 32 not in repr(s)


@pytest.mark.parametrize("kind", ["admin", "predict"])
def test_a_token_and_its_file_both_set_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str) -> None:
    (tmp_path / "token").write_text("f" * 32)
    monkeypatch.setenv(f"CATSVC_{kind.upper()}_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv(f"CATSVC_{kind.upper()}_TOKEN", "e" * 32)
    with pytest.raises(ValidationError) as e:
        Settings()
    [err] = e.value.errors()
    assert f"CATSVC_{kind.upper()}_TOKEN or CATSVC_{kind.upper()}_TOKEN_FILE, not both" in err["msg"]
    assert "f" * 32 not in err["msg"] and "e" * 32 not in err["msg"]


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot read"), (b"", "empty"), (b"\n", "empty"), (b"short\n", "at least 16"),
    (b"has a space 0123456789", "printable ASCII"), ("t\u00f6ken-0123456789abcdef".encode(), "non-ASCII"),
    (b"x" * 5000, "more than 4096 bytes"),
], ids=["missing", "empty", "newline", "short", "space", "non-ascii", "huge"])
def test_an_unusable_token_file_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               content: bytes | None, problem: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("CATSVC_ADMIN_TOKEN_FILE", str(path))
    with pytest.raises(ValidationError) as e:
        Settings()
    [err] = e.value.errors()
    assert err["loc"] == ("admin_token_file",) and problem in err["msg"]
    if content and content.strip():
        assert content.strip().decode(errors="ignore") not in err["msg"]  # the content is never quoted


def test_an_empty_token_file_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATSVC_ADMIN_TOKEN_FILE", "")
    assert Settings().admin_token is None


# -- the admin endpoints of a service beyond loopback
@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True),
                                                ("::1", True), ("0.0.0.0", False), ("::", False),
                                                ("10.0.0.5", False), ("cats.example.com", False)])
def test_on_loopback(host: str, loopback: bool) -> None:
    assert Settings(host=host).on_loopback is loopback
    assert Settings(host=host).admin_disabled is not loopback


def test_a_token_or_the_open_setting_keeps_the_admin_endpoints_on() -> None:
    assert not Settings(host="0.0.0.0", admin_token="a" * 16).admin_disabled
    assert not Settings(host="0.0.0.0", allow_open_admin=True).admin_disabled


# -- browsers: allowed hosts and origins
def test_allowed_hosts_default_to_the_bound_address_and_loopback_names() -> None:
    assert Settings().allowed_host_names == {"localhost", "127.0.0.1", "[::1]"}
    assert Settings(host="10.0.0.5").allowed_host_names == {"localhost", "127.0.0.1", "[::1]", "10.0.0.5"}
    assert Settings(host="::").allowed_host_names == Settings(host="0.0.0.0").allowed_host_names == {
        "localhost", "127.0.0.1", "[::1]"}


def test_allowed_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATSVC_ALLOWED_HOSTS", " Cats.Example.com:8000, api,[::1]:9, ::2 ,10.0.0.5,my_svc ")
    assert Settings().allowed_host_names == {"cats.example.com", "api", "[::1]", "[::2]", "10.0.0.5", "my_svc"}
    monkeypatch.setenv("CATSVC_ALLOWED_HOSTS", "*")
    assert Settings().allowed_host_names is None


@pytest.mark.parametrize("value", ["cats.example.com/path", "http://cats.example.com", "[zz::1]", "a b", "-x-"])
def test_an_invalid_allowed_host_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CATSVC_ALLOWED_HOSTS", f"localhost,{value}")
    with pytest.raises(ValidationError) as e:
        Settings()
    assert "entry #2" in e.value.errors()[0]["msg"]


def test_allowed_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATSVC_ALLOWED_ORIGINS", "https://App.Example.org/, http://localhost:3000")
    assert Settings().allowed_origins == ("https://app.example.org", "http://localhost:3000")


@pytest.mark.parametrize("value", ["*", "null", "app.example.org", "https://app.example.org/path"])
def test_an_invalid_allowed_origin_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CATSVC_ALLOWED_ORIGINS", value)
    with pytest.raises(ValidationError) as e:
        Settings()
    assert "scheme://host[:port]" in e.value.errors()[0]["msg"]
