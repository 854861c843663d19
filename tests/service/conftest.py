"""Fixtures for the service tests: a fresh data directory, the app, an in-process trainer,
small data sets and real image files made with Pillow."""
from __future__ import annotations

import io
import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

# starlette's TestClient warns that it would prefer another HTTP client; not our concern
warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
from fastapi.testclient import TestClient  # noqa: E402

from service.api.app import create_app  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.state.synthetic import make_synthetic  # noqa: E402
from service.trainer.worker import Trainer  # noqa: E402

from . import realserver  # noqa: E402
from .cluster.servers import BUCKET, KEY, SECRET, RedisServer, S3Server  # noqa: E402

# CATSVC_TEST_BACKEND=cluster (.ci/run's second pass): the tests that build the app and the
# trainer in-process from `make_settings` run on Redis and the S3 server instead of files;
# those marked embedded_only (they look at the data directory's files) are skipped there
BACKEND = os.environ.get("CATSVC_TEST_BACKEND", "embedded")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "cluster":
        skip = pytest.mark.skip(reason="looks at the embedded backend's files (CATSVC_TEST_BACKEND=cluster)")
        for item in items:
            if item.get_closest_marker("embedded_only"):
                item.add_marker(skip)


# a network small enough that a job takes a few hundredths of a second
SMALL = {"layer_dims": [12288, 4, 1], "iterations": 20}
FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "webp": "WEBP", "bmp": "BMP"}


@pytest.fixture
def make_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    cluster = request.getfixturevalue("cluster_env") if BACKEND == "cluster" else {}

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {k.removeprefix("CATSVC_").lower(): v for k, v in cluster.items()}
        values |= {
            "data_dir": tmp_path / "data",
            "datasets_dir": None,
            "progress_interval": 0.01,
            "poll_interval": 0.05,
            "workers": 1,
            # TestClient's Host; the guards' own tests set allowed_hosts themselves
            "allowed_hosts": ("testserver",),
        }
        values.update(overrides)
        if cluster and "cluster_prefix" not in overrides:
            # the namespace of the data directory, as seed_models and a real Server use it
            values["cluster_prefix"] = realserver.backend_settings(Path(values["data_dir"]))["cluster_prefix"]
        return Settings(**values)

    return make


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


@pytest.fixture(scope="session", autouse=BACKEND == "cluster")
def cluster_real_servers(redis_server: RedisServer, s3_server: S3Server) -> Iterator[None]:
    """CATSVC_TEST_BACKEND=cluster: the real servers (realserver.Server, seed_models) run on
    the session's redis-server and S3 server too, each in a namespace of its own."""
    realserver.CLUSTER.update(servers_env(redis_server, s3_server))
    try:
        yield
    finally:
        realserver.CLUSTER.clear()


@pytest.fixture(autouse=BACKEND == "cluster")
def stop_pointers() -> Iterator[None]:
    """CATSVC_TEST_BACKEND=cluster: after each test, the pointer subscriptions its apps and
    stores started (an app a test never shut down keeps its own): hundreds of threads that
    wake every second would starve the tests that follow."""
    yield
    from service.state.cluster.pointer import close_all

    close_all()


@pytest.fixture
def prefix() -> str:
    """Keys of this test only: the servers are shared by the session."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cluster_env(redis_server: RedisServer, s3_server: S3Server, prefix: str) -> dict[str, str]:
    """The CATSVC_* variables of a cluster-mode process."""
    return servers_env(redis_server, s3_server) | {"CATSVC_CLUSTER_PREFIX": prefix}


def servers_env(redis_server: RedisServer, s3_server: S3Server) -> dict[str, str]:
    """The CATSVC_* variables that name the session's servers (all but the prefix)."""
    return {"CATSVC_REDIS_URL": redis_server.url, "CATSVC_S3_URL": s3_server.url, "CATSVC_S3_BUCKET": BUCKET,
            "CATSVC_S3_ACCESS_KEY": KEY, "CATSVC_S3_SECRET_KEY": SECRET}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def trainer(settings: Settings) -> Trainer:
    return Trainer(settings)


def leftovers(tmp_dir: Path) -> list[str]:
    """What the data directory's tmp/ holds besides the metrics files of the running (or
    killed) service, in tmp/metrics, which the next start empties."""
    return sorted(p.name for p in tmp_dir.iterdir() if p.name != "metrics")


def npz_bytes(X: np.ndarray, Y: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, X=X, Y=Y)
    return buf.getvalue()


@pytest.fixture(scope="session")
def small_data() -> tuple[np.ndarray, np.ndarray]:
    """24 synthetic 64x64x3 drawings: X (12288, 24) uint8, Y (1, 24)."""
    return make_synthetic(24, seed=7)


@pytest.fixture
def dataset_id(client: TestClient, small_data: tuple[np.ndarray, np.ndarray]) -> str:
    r = client.post("/datasets", files={"file": ("small.npz", npz_bytes(*small_data))})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def run_job(client: TestClient, trainer: Trainer, **fields: Any) -> dict[str, Any]:
    """POST /train, run it in-process, return the finished job as GET /train/{id} shows it."""
    r = client.post("/train", json=fields)
    assert r.status_code == 202, r.text
    finished = trainer.run_once()
    assert finished is not None and finished.id == r.json()["id"]
    return client.get(r.headers["location"]).json()


@pytest.fixture
def model_version(client: TestClient, trainer: Trainer, dataset_id: str) -> int:
    """A small trained model, active."""
    job = run_job(client, trainer, dataset=dataset_id, **SMALL)
    assert job["status"] == "succeeded", job
    return job["model_version"]


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 64), seed: int = 0) -> bytes:
    """A real image file's bytes: random colour blocks, so decoding has work to do."""
    rng = np.random.RandomState(seed)
    small = rng.randint(0, 256, size=(8, 8, 3)).astype(np.uint8)
    img = Image.fromarray(small).resize(size, Image.Resampling.NEAREST)
    if fmt == "GIF":
        img = img.convert("P")
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()
