"""Settings of cluster-mode processes (the servers' fixtures are tests/service/conftest.py's)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings



@pytest.fixture
def make_cluster_settings(tmp_path: Path, cluster_env: dict[str, str]) -> Callable[..., Settings]:
    """Settings of one cluster-mode process, its own empty data directory each call."""
    count = [0]

    def make(**overrides: Any) -> Settings:
        count[0] += 1
        values: dict[str, Any] = {k.removeprefix("CATSVC_").lower(): v for k, v in cluster_env.items()}
        values.update(data_dir=tmp_path / f"node{count[0]}", datasets_dir=None, progress_interval=0.01,
                      poll_interval=0.05, workers=1, allowed_hosts=("testserver",))
        values.update(overrides)
        return Settings(**values)

    return make
