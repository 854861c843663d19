"""Every setting of the service: one class, read from ``CATSVC_*`` environment variables.

README.md ("Settings") documents each one; keep the two in step.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_core.data import DEFAULT_MAX_PIXELS

MiB = 1024 * 1024
GiB = 1024 * MiB
MIN_TOKEN_LENGTH = 16


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

    # -- tokens (None: the endpoints are open; the service says so in its log at start-up)
    # training, data set upload, parameter upload and activation; also accepted by /predict
    admin_token: SecretStr | None = None
    # /predict only
    predict_token: SecretStr | None = None

    # -- storage
    data_dir: Path = Path("var")
    # read-only directory of data set files (train_catvnoncat.h5, *.npz, *.zip, folders)
    datasets_dir: Path | None = None
    # the data set of the first training job; None: train_catvnoncat if present, else synthetic
    default_dataset: str | None = None

    # -- limits (each is named in the 413 / 422 / 429 that enforces it)
    max_upload_bytes: int = Field(16 * MiB, ge=1024)  # a /predict or PUT /params body
    max_image_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1)  # width * height of one image
    # a smaller picture holds nothing to classify (a 1x1 "image" is a probe, not a photo)
    min_image_side: int = Field(8, ge=1, le=64)
    max_batch: int = Field(256, ge=1)  # images or instances in one /predict
    max_queued_jobs: int = Field(16, ge=1)
    max_dataset_bytes: int = Field(256 * MiB, ge=1024)  # a POST /datasets upload
    max_dataset_members: int = Field(20_000, ge=1)  # files in an uploaded zip
    max_params_bytes: int = Field(128 * MiB, ge=MiB)  # arrays of a PUT /params file, uncompressed
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
    shutdown_drain: float = Field(2.0, ge=0, le=600)  # readiness 503 before the server stops accepting
    shutdown_timeout: float = Field(20.0, gt=0, le=600)  # requests in flight get this long to finish

    # -- trainer timing
    progress_interval: float = Field(0.25, gt=0, le=60)  # seconds between two progress writes of a job
    poll_interval: float = Field(0.5, gt=0, le=60)  # seconds an idle trainer waits for a job

    # -- logs
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = True  # one JSON line per request

    @field_validator("admin_token", "predict_token")
    @classmethod
    def _usable_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or v.get_secret_value() == "":
            return None  # CATSVC_ADMIN_TOKEN= (empty, as in .env.example) means unset
        token = v.get_secret_value()
        # the message never holds the token
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"a token needs at least {MIN_TOKEN_LENGTH} characters (e.g. `openssl rand -hex 32`)")
        if not all(33 <= ord(c) <= 126 for c in token):
            raise ValueError("a token may hold printable ASCII characters only, no spaces")
        return v

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
    def stopping_file(self) -> Path:
        """Present while the service shuts down: readiness answers 503 (the supervisor makes it)."""
        return self.tmp_dir / "stopping"
