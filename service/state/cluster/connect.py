"""The clients of cluster mode, from the settings; their failures as StorageUnavailable.

Redis: one client per process and purpose. A trainer's commands retry through a restart
of the server (``Retry``, backing off to 0.5 s, ~10 s in all), so that a job in flight and
the records it writes ride out ``redis-server`` being restarted; an API worker's retry for
about a second (``brief``), then answer 503 rather than hold a request; the per-request
pointer check never retries (``quick``). redis-py's pools reconnect after a fork by
themselves. S3: boto3, path-style addressing (MinIO and moto need it), a few retries, short
timeouts, and a client of each process's own (:class:`ForkSafe`): a job's process is
forked from the trainer, and a boto3 client's pooled connections must not be shared with it.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from ..storage import UNREACHABLE, StorageUnavailable

if TYPE_CHECKING:
    from ...settings import Settings

# with the backoff below: about 10 s, 1 s or nothing of a server that does not answer
REDIS_RETRIES = {"patient": 24, "brief": 4, "quick": 0}
QUICK_TIMEOUT = 0.25  # seconds the quick client waits to connect, and for an answer
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
# Redis up, but refusing writes: full (maxmemory), a read-only replica, a failed save
# (stop-writes-on-bgsave-error), an ACL that forbids it; the server's state, not a bug of ours
REDIS_REFUSAL_ERRORS = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError,
                        redis.exceptions.NoPermissionError)
REDIS_REFUSALS = ("MISCONF", "OOM", "READONLY", "NOPERM")
S3_ERRORS = (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
             botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError)


def redis_client(settings: Settings, how: str = "patient") -> redis.Redis:
    """A client that retries as ``how`` says: "patient", "brief" or "quick" (REDIS_RETRIES)."""
    assert settings.redis_url is not None
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), REDIS_RETRIES[how])
    # a patient client's blocking reads (RQ's BLPOP) may wait long; the others never do, and
    # the quick one (the per-request pointer read and readiness's PING, on the event loop)
    # gives up on a Redis that accepts and does not answer (stopped, swapping) at once
    timeout = QUICK_TIMEOUT if how == "quick" else 2.0
    return redis.Redis.from_url(
        settings.redis_url, retry=retry, retry_on_error=list(REDIS_ERRORS),
        socket_connect_timeout=timeout, socket_timeout={"patient": None, "brief": 5.0}.get(how, timeout),
        health_check_interval=30,
    )


class ForkSafe:
    """A boto3 client made again in a process forked since (its attributes are the client's)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._pid, self._client = os.getpid(), make()

    def __getattr__(self, name: str) -> Any:
        if os.getpid() != self._pid:
            self._pid, self._client = os.getpid(), self._make()
        return getattr(self._client, name)


def s3_client(settings: Settings) -> Any:
    return ForkSafe(lambda: _s3_client(settings))


def _s3_client(settings: Settings) -> Any:
    config = botocore.config.Config(
        s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    keys = {}
    if settings.s3_access_key is not None and settings.s3_secret_key is not None:
        keys = {"aws_access_key_id": settings.s3_access_key.get_secret_value(),
                "aws_secret_access_key": settings.s3_secret_key.get_secret_value()}
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.s3_url, region_name=settings.s3_region, config=config, **keys)


PRECONDITION_FAILED = ("PreconditionFailed", "412", "ConditionalRequestConflict")  # If-None-Match: * refused


def _code(e: botocore.exceptions.ClientError) -> str | None:
    code = e.response.get("Error", {}).get("Code")
    return None if code is None else str(code)


def is_missing(e: botocore.exceptions.ClientError) -> bool:
    """Whether an S3 error says the key is not there."""
    return _code(e) in ("404", "NoSuchKey", "NotFound")


@contextlib.contextmanager
def reaching(what: str) -> Iterator[None]:
    """Turn a server that does not answer into StorageUnavailable (503 STORAGE_UNAVAILABLE)."""
    try:
        yield
    except REDIS_ERRORS as e:
        raise StorageUnavailable(UNREACHABLE, f"{what}: Redis does not answer") from e
    except redis.ResponseError as e:
        if not str(e).startswith(REDIS_REFUSALS) and not isinstance(e, REDIS_REFUSAL_ERRORS):
            raise  # a bug of ours, not the server's state
        raise StorageUnavailable(UNREACHABLE, f"{what}: Redis refuses writes ({e})") from e
    except S3_ERRORS as e:
        raise StorageUnavailable(UNREACHABLE, f"{what}: the object store does not answer") from e
    except botocore.exceptions.ClientError as e:
        if is_missing(e) or _code(e) in PRECONDITION_FAILED:
            raise  # answers the caller reads: no such key, a key already written
        # no bucket, credentials refused, the store's own 5xx: its state, not a bug of ours
        # (the code and message only: never the request, its signature or the keys)
        error = e.response.get("Error", {})
        raise StorageUnavailable(UNREACHABLE, f"{what}: the object store refuses ({error.get('Code')}: "
                                              f"{error.get('Message')})") from e
