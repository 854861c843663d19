"""Whether cluster mode's servers answer: Redis (PING) and the object store (HEAD of the
bucket), at most once per PROBE_TTL, for /health/ready and POST /train."""
from __future__ import annotations

import threading
import time
from typing import Any

import botocore.exceptions
import redis

from ..storage import PROBE_TTL, UNREACHABLE, StorageUnavailable
from .connect import REDIS_ERRORS, S3_ERRORS


class ClusterProbe:
    def __init__(self, quick: redis.Redis, s3: Any, bucket: str, ttl: float = PROBE_TTL) -> None:
        self._redis, self._s3, self.bucket, self.ttl = quick, s3, bucket, ttl
        self._checked_at = -ttl
        self._problem: StorageUnavailable | None = None
        # one probe at a time: a server that accepts and never answers holds a probe for
        # its read timeout, and callers must neither pile up threads behind it nor wait
        self._probing = threading.Lock()
        self._started = 0.0

    def problem(self) -> StorageUnavailable | None:
        if time.monotonic() - self._checked_at < self.ttl:
            return self._problem
        if not self._probing.acquire(blocking=False):  # another thread's probe is waiting
            waited = time.monotonic() - self._started
            # _started before _checked_at: the holder has not stamped its start yet
            if self._started > self._checked_at and waited >= self.ttl:
                return StorageUnavailable(UNREACHABLE, f"Redis or the object store has not answered for {waited:.0f} s")
            return self._problem
        try:
            self._started = time.monotonic()
            self._problem = self._check()
            self._checked_at = time.monotonic()
        finally:
            self._probing.release()
        return self._problem

    def _check(self) -> StorageUnavailable | None:
        try:
            self._redis.ping()
        except REDIS_ERRORS:
            return StorageUnavailable(UNREACHABLE, "Redis, the job queue and the active-version pointer, "
                                                   "does not answer")
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except S3_ERRORS:
            return StorageUnavailable(UNREACHABLE, "the object store of the model versions and data sets "
                                                   "does not answer")
        except botocore.exceptions.ClientError:
            return StorageUnavailable(UNREACHABLE, f"the object store has no bucket {self.bucket!r} "
                                                   "this service may use")
        return None
