"""Cluster mode's servers, started once for the session and stopped at its end (even when
a test fails), and settings that point at them under a prefix of the test's own."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings

from .servers import BUCKET, KEY, SECRET, RedisServer, S3Server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    """Keys of this test only: the servers are shared by the session."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cluster_env(redis_server: RedisServer, s3_server: S3Server, prefix: str) -> dict[str, str]:
    """The CATSVC_* variables of a cluster-mode process."""
    return {"CATSVC_REDIS_URL": redis_server.url, "CATSVC_S3_URL": s3_server.url, "CATSVC_S3_BUCKET": BUCKET,
            "CATSVC_S3_ACCESS_KEY": KEY, "CATSVC_S3_SECRET_KEY": SECRET, "CATSVC_CLUSTER_PREFIX": prefix}


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
