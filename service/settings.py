"""Every setting of the service: one class, read from ``CATSVC_*`` environment variables.

README.md ("Settings") documents each one; keep the two in step.
"""
from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from model_core import DEFAULT_MAX_PIXELS

from .tokenfiles import TokenFile, read_token_file

MiB = 1024 * 1024
GiB = 1024 * MiB
MIN_TOKEN_LENGTH = 16
# the Host names a service answers to when CATSVC_ALLOWED_HOSTS is unset, besides its own address
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_ANY_ADDRESS = ("0.0.0.0", "::", "[::]", "")  # listening everywhere names no host
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]{0,251}[a-z0-9_])?")
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[a-z0-9_.:\[\]-]+")


def check_usable_token(token: str) -> None:
    """ValueError if ``token`` is too weak or holds what a header cannot carry (never quoted)."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"a token needs at least {MIN_TOKEN_LENGTH} characters (e.g. `openssl rand -hex 32`)")
    if not all(33 <= ord(c) <= 126 for c in token):
        raise ValueError("a token may hold printable ASCII characters only, no spaces")


def _token_file(v: Any) -> TokenFile | None:
    """CATSVC_*_TOKEN_FILE: the file read (once, here) and its token checked as the variable's."""
    if v is None or v == "":  # empty, as in .env.example: unset
        return None
    if isinstance(v, TokenFile):
        return v
    file = TokenFile(Path(v), read_token_file(Path(v)))
    check_usable_token(file.token)
    return file


TokenFileSetting = Annotated[TokenFile | None, PlainValidator(_token_file)]
# a comma-separated list in the environment (not JSON, pydantic-settings' default for a tuple)
CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """The service's configuration (``CATSVC_<NAME>``, case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="CATSVC_", frozen=True, extra="ignore")

    # -- network and processes
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # API worker processes; the trainer is one more process beside them
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    # BLAS threads per API worker: one worker per core already fills the cores
    api_threads: int = Field(1, ge=1, le=64)
    # BLAS threads of the trainer, which also runs at a lower CPU priority (nice)
    train_threads: int = Field(1, ge=1, le=64)
    trainer_nice: int = Field(10, ge=0, le=19)
    # threads per API worker that decode images and run the forward pass off the event loop
    # (Pillow and NumPy release the GIL); the cores are filled by the workers, the second
    # thread lets a short request pass a long one (README, "Design")
    predict_threads: int = Field(2, ge=1, le=64)
    # requests per API worker that may wait for one of those threads; the next gets 503
    predict_queue: int = Field(32, ge=0, le=10_000)
    # each API worker's event loop. uvloop's takes a flood of connections two to three times
    # faster (the one that keeps a legitimate client served) and costs less per request; its
    # libuv accepts one new connection per listening socket and turn of the loop, which is
    # why each worker listens on several (service/api/server.py), and polls right after a
    # turn's last answer, which is why a request's task yields a turn before the app runs
    # (service/api/http/protocol.py). bench/loop_fairness.py; README, "The event loop"
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    # -- tokens (None: the endpoints are open, or the admin ones refused, see admin_disabled;
    # the service says which in its log at start-up). Each *_token_file, declared before its
    # token, is read once here; the token's validator then takes the file's token.
    # training, data set upload, parameter upload and activation; also accepted by /predict
    admin_token_file: TokenFileSetting = None
    admin_token: SecretStr | None = Field(None, validate_default=True)
    # /predict only
    predict_token_file: TokenFileSetting = None
    predict_token: SecretStr | None = Field(None, validate_default=True)
    # GET /metrics (None: open, as /health/* is; the admin token works there too)
    metrics_token_file: TokenFileSetting = None
    metrics_token: SecretStr | None = Field(None, validate_default=True)
    # with no admin token at all: make one at the first start, in <data_dir>/admin_token (compose)
    generate_admin_token: bool = False
    # leave the admin endpoints open on a non-loopback address without a token (see admin_disabled)
    allow_open_admin: bool = False

    # -- browsers (service.guards): Host names served (empty: the default, see allowed_host_names;
    # "*": any), and the origins, besides the service's own, whose pages may send changes
    allowed_hosts: CommaList = ()
    allowed_origins: CommaList = ()

    # -- the Open Inference Protocol (V2): the name clients call the model by (/v2/models/<name>)
    model_name: str = Field("catvnoncat", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

    # -- storage
    data_dir: Path = Path("var")
    # read-only directory of data set files (train_catvnoncat.h5, *.npz, *.zip, folders)
    # ./data, as docker compose mounts it (/data in the image): the same place either way
    datasets_dir: Path | None = Path("data")
    # the data set of the first training job; None: train_catvnoncat if present, else synthetic
    default_dataset: str | None = None

    # -- cluster mode (README, "Cluster mode"): with a Redis URL, the job queue, the job
    # records and the active-version pointer live in Redis, model versions and uploaded data
    # sets in an S3-compatible object store; unset, everything is in data_dir (the default)
    redis_url: str | None = Field(None, pattern=r"^(redis|rediss|unix)://")
    # the object store's endpoint (MinIO, Ceph...); unset: AWS S3's own, found by boto3
    s3_url: str | None = Field(None, pattern=r"^https?://")
    s3_bucket: str = Field("catvnoncat", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    s3_region: str = "us-east-1"
    # the object store's credentials; unset: boto3's own chain (AWS_* variables, an instance role)
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    # keys in Redis and the object store start with this: several services may share them
    cluster_prefix: str = Field("catsvc", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # seconds a running job's heartbeat lives: a trainer silent for that long (killed, its
    # machine lost) has its job recorded failed, interrupted
    job_heartbeat: float = Field(10.0, ge=1, le=600)

    # -- limits (each is named in the 413 / 422 / 429 that enforces it)
    max_upload_bytes: int = Field(16 * MiB, ge=1024)  # a /predict or PUT /params body
    max_image_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1)  # width * height of one image
    # a smaller picture holds nothing to classify (a 1x1 "image" is a probe, not a photo)
    min_image_side: int = Field(8, ge=1, le=64)
    max_batch: int = Field(256, ge=1)  # images or instances in one /predict
    # pixels of all images of one /predict, from their headers (a 40 Mpx PNG decodes in about 1 s here)
    max_request_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1)
    # images or instances in one /predict?explain=true: a saliency map is a backward pass to
    # the input per image (7x a prediction for the photos CNN) and two PNGs in the answer
    max_explain_batch: int = Field(16, ge=1)
    # open GET /train/{id}/events streams per API worker (each holds a connection and polls the job)
    max_event_streams: int = Field(32, ge=1)
    max_queued_jobs: int = Field(16, ge=1)
    max_dataset_bytes: int = Field(256 * MiB, ge=1024)  # a POST /datasets upload
    max_dataset_members: int = Field(20_000, ge=1)  # files in an uploaded zip
    max_params_bytes: int = Field(128 * MiB, ge=MiB)  # arrays of a PUT /params file, uncompressed
    # most weights GET /params?include=values returns as JSON (GET /params/download has them all)
    max_values: int = Field(2_000_000, ge=1)
    # model versions kept: the oldest beyond either bound are deleted, never the active one
    # or one a job made in the last hour
    keep_versions: int = Field(100, ge=1)
    keep_version_bytes: int = Field(4 * 1024 * MiB, ge=MiB)
    # a training job (POST /train, 422 above): L, the layers with weights (the course's deep model has 4)
    max_layers: int = Field(64, ge=1, le=10_000)
    # 16M float64 weights are 128 MB: a version a job trains fits the default max_params_bytes,
    # so it can be downloaded and uploaded again (the course's 4-layer model has 245,973)
    max_parameters: int = Field(16_000_000, ge=1)
    # bytes one job may use (model_core.budget's estimate is checked against it); the job's
    # process is capped (RLIMIT_AS) at its starting address space plus this
    trainer_memory: int = Field(4 * GiB, ge=64 * MiB)

    # -- slow or stalled clients, and shutdown (seconds unless said otherwise)
    keep_alive_timeout: float = Field(5.0, gt=0, le=3600)  # an idle keep-alive connection is closed
    header_timeout: float = Field(10.0, gt=0, le=3600)  # request line and headers must arrive in this
    body_timeout: float = Field(60.0, gt=0, le=86400)  # a whole request body must arrive in this (408)
    send_timeout: float = Field(30.0, gt=0, le=3600)  # a client that reads no response byte for this long
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)  # request line + headers (431)
    max_connections: int = Field(1000, ge=1)  # open connections per API worker (503 above)
    # open connections per client address and API worker (429 above); behind a proxy every
    # client has the proxy's address: raise it to max_connections there
    max_connections_per_client: int = Field(100, ge=1)
    shutdown_drain: float = Field(2.0, ge=0, le=600)  # readiness 503 before the server stops accepting
    shutdown_timeout: float = Field(20.0, gt=0, le=600)  # requests in flight get this long to finish

    # -- trainer timing
    progress_interval: float = Field(0.25, gt=0, le=60)  # seconds between two progress writes of a job
    poll_interval: float = Field(0.5, gt=0, le=60)  # seconds an idle trainer waits for a job

    # -- metrics (GET /metrics): off, nothing is counted; the directory every process counts
    # into (None: <data_dir>/tmp/metrics), emptied at each start (README, "Metrics")
    metrics: bool = True
    metrics_dir: Path | None = None

    # -- logs
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = True  # one JSON line per request

    @field_validator("event_loop")
    @classmethod
    def _loop_installed(cls, v: str) -> str:
        # found, not imported: only the API workers import it (the supervisor, the API process
        # and the trainer run no event loop)
        if v == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ValueError("uvloop is not installed here: pip install uvloop, or CATSVC_EVENT_LOOP=asyncio")
        return v

    @field_validator("admin_token", "predict_token", "metrics_token")
    @classmethod
    def _usable_token(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if v is not None and v.get_secret_value() == "":
            v = None  # CATSVC_ADMIN_TOKEN= (empty, as in .env.example) means unset
        file: TokenFile | None = info.data.get(f"{info.field_name}_file")  # absent: refused, said so
        if v is None:
            return SecretStr(file.token) if file is not None else None
        if file is not None:
            variable = env_name(info.field_name or "")
            raise ValueError(f"set {variable} or {variable}_FILE, not both")
        check_usable_token(v.get_secret_value())
        return v

    @field_validator("redis_url", "s3_url", "s3_access_key", "s3_secret_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        return None if v == "" else v  # CATSVC_REDIS_URL= (as in .env.example): the embedded default

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split_commas(cls, v: Any) -> Any:
        return tuple(part for part in (p.strip() for p in v.split(",")) if part) if isinstance(v, str) else v

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(host_name(entry, i) for i, entry in enumerate(v, 1))

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        origins = []
        for i, entry in enumerate(v, 1):
            origin = entry.lower().removesuffix("/")
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"entry #{i} ({entry!r}) is not an origin: write scheme://host[:port], "
                                 "e.g. https://cats.example.com (no path; * and null are not accepted)")
            origins.append(origin)
        return tuple(origins)

    @property
    def on_loopback(self) -> bool:
        """Whether ``host`` is a loopback address: only this machine (or container) can connect."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False  # another name: it may resolve to anything

    @property
    def admin_disabled(self) -> bool:
        """The admin endpoints answer 403 ADMIN_DISABLED: reachable from other machines or
        containers, with no admin token, and no CATSVC_ALLOW_OPEN_ADMIN=true to say that is wanted."""
        return self.admin_token is None and not self.allow_open_admin and not self.on_loopback

    @property
    def allowed_host_names(self) -> frozenset[str] | None:
        """The Host names (port left out) requests may carry; None: any."""
        if "*" in self.allowed_hosts:
            return None
        if self.allowed_hosts:
            return frozenset(self.allowed_hosts)
        if self.host in _ANY_ADDRESS:
            return frozenset(LOCAL_HOSTS)
        try:
            return frozenset((*LOCAL_HOSTS, host_name(self.host, 0)))
        except ValueError:  # an address uvicorn will refuse anyway; nothing to add
            return frozenset(LOCAL_HOSTS)

    @property
    def cluster(self) -> bool:
        """Whether the shared state is in Redis and the object store (else in data_dir)."""
        return self.redis_url is not None

    @property
    def jobs_db(self) -> Path:
        return self.data_dir / "jobs.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def metrics_directory(self) -> Path:
        return self.metrics_dir if self.metrics_dir is not None else self.tmp_dir / "metrics"

    @property
    def writable_dirs(self) -> list[Path]:
        """The places under the data directory that the service writes."""
        return [self.data_dir, self.models_dir, self.uploads_dir, self.tmp_dir]

    @property
    def stopping_file(self) -> Path:
        """Present while the service shuts down: readiness answers 503 (the supervisor makes it)."""
        return self.tmp_dir / "stopping"


def env_name(field: str) -> str:
    """The environment variable of a setting: max_batch -> CATSVC_MAX_BATCH."""
    return "CATSVC_" + field.upper()


def host_name(entry: str, index: int) -> str:
    """An allowed-hosts entry as :mod:`service.api.http.guards` compares it: lower case, no port,
    IPv6 in brackets (``Cats.Example.com:8000`` -> ``cats.example.com``, ``::1`` -> ``[::1]``)."""
    host = entry.strip().lower()
    if host == "*":
        return host
    if host.startswith("[") or host.count(":") > 1:  # IPv6, with or without brackets
        address = host[1:].partition("]")[0] if host.startswith("[") else host
        host = f"[{address}]" if _is_ipv6(address) else ""
    else:
        name, colon, port = host.partition(":")  # a port is allowed, and not compared
        host = name if _HOST_NAME.fullmatch(name) and (not colon or port.isdigit()) else ""
    if not host:
        raise ValueError(f"entry #{index} ({entry!r}) is not a host name or IP address: write names such as "
                         "localhost,cats.example.com,[::1] (a port is ignored), or * for any")
    return host


def _is_ipv6(address: str) -> bool:
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True
