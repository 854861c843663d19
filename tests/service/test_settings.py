"""service.settings: one class, CATSVC_* variables, every one documented."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from model_core.data import DEFAULT_MAX_PIXELS
from service.settings import Settings

README = Path(__file__).resolve().parents[2] / "service" / "README_SETTINGS.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CATSVC_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port, s.data_dir, s.datasets_dir) == ("127.0.0.1", 8000, Path("var"), None)
    assert s.workers == (os.cpu_count() or 1)
    assert s.max_image_pixels == DEFAULT_MAX_PIXELS


def test_environment_variables_with_the_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CATSVC_PORT", "9123")
    monkeypatch.setenv("CATSVC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("catsvc_max_batch", "5")
    monkeypatch.setenv("PORT", "1")  # no prefix: not ours
    s = Settings()
    assert (s.port, s.data_dir, s.max_batch) == (9123, tmp_path, 5)


@pytest.mark.parametrize(("name", "value"), [("CATSVC_PORT", "0"), ("CATSVC_WORKERS", "many"),
                                             ("CATSVC_LOG_LEVEL", "loud"), ("CATSVC_MAX_BATCH", "0")])
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `CATSVC_([A-Z_]+)` \|", README.read_text(), flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}
