"""Model versions in an S3-compatible object store; the active pointer and the version
counter in Redis (cluster mode's :class:`~service.state.protocols.ModelStoreProtocol`).

Keys, under the bucket and ``<prefix>/``::

    models/<version>/model.npz      parameters + metadata (model_core's file format)
    models/<version>/metadata.json  the same metadata: written last, it publishes the version
    deleted/<version>               the number of a deleted version, never given again

Numbers come from a Redis counter (``INCR``: two trainers never get the same one), and
each object is written with ``If-None-Match: *``, which the store refuses when the key
exists (and a deleted number's tombstone is looked at first): should the counter ever be
lost or set back, a taken number is skipped, never overwritten (a lost counter is seeded
again from the highest number in the bucket). A reader lists
only versions whose ``metadata.json`` exists, and an object appears whole or not at all:
no one sees half a version. Activating, deleting and the retention take a Redis lock, so
the active version is never deleted. Each process keeps the .npz files it read in its own
data directory (``cache/models/``, a few at most): a version never changes.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore.exceptions
import numpy as np
import redis

from model_core import MAX_METADATA_BYTES, Model, ParameterFileError, check_metadata, metadata_json, metadata_record, serialize

from ..retention import Retention
from ..store import VersionActive, VersionNotFound, VersionUnreadable
from .connect import PRECONDITION_FAILED, is_missing, reaching
from .pointer import ActivePointer

log = logging.getLogger("service.store")

MODEL_FILE, METADATA_FILE = "model.npz", "metadata.json"
CACHED_FILES = 4  # .npz files each process keeps on its own disk
PARTIAL_AGE = 3600.0  # a model.npz this old without its metadata.json is a writer that died
LOCK_TIMEOUT = 60.0  # seconds a holder of the models lock keeps it at most (it died otherwise)


class S3ModelStore:
    def __init__(self, s3: Any, bucket: str, prefix: str, r: redis.Redis, pointer: ActivePointer,
                 cache_dir: Path) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self._redis, self._pointer = r, pointer
        self._counter = f"{prefix}:model-version"
        self._lock_key = f"{prefix}:models-lock"
        self.cache_dir = cache_dir
        self._metadata: dict[int, dict[str, Any]] = {}  # immutable once published

    def _key(self, version: int, name: str) -> str:
        return f"{self.prefix}/models/{version}/{name}"

    def _objects(self, sub: str) -> Iterator[dict[str, Any]]:
        with reaching("listing model versions"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=f"{self.prefix}/{sub}/"):
                yield from page.get("Contents", [])

    def _listing(self) -> dict[int, dict[str, dict[str, Any]]]:
        """version -> {file name -> its listing entry} of every object under models/."""
        out: dict[int, dict[str, dict[str, Any]]] = {}
        for obj in self._objects("models"):
            parts = obj["Key"][len(self.prefix) + 1:].split("/")  # models, <version>, <name>
            if len(parts) == 3 and parts[1].isdigit():
                out.setdefault(int(parts[1]), {})[parts[2]] = obj
        return out

    # -- reading
    def versions(self) -> list[int]:
        return sorted(v for v, files in self._listing().items() if METADATA_FILE in files)

    def exists(self, version: int) -> bool:
        try:
            with reaching("reading a model version"):
                self.s3.head_object(Bucket=self.bucket, Key=self._key(version, METADATA_FILE))
        except botocore.exceptions.ClientError as e:
            if is_missing(e):
                return False
            raise
        return True

    def model_path(self, version: int) -> Path:
        if not self.exists(version):
            raise VersionNotFound(version)
        path = self.cache_dir / f"{version}.npz"
        if path.is_file():
            os.utime(path)  # the cache drops the least recently used
            return path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_dir / f".tmp-{uuid.uuid4().hex}"
        try:
            with reaching("reading a model version"):
                self.s3.download_file(self.bucket, self._key(version, MODEL_FILE), str(tmp))
            os.replace(tmp, path)
        except botocore.exceptions.ClientError as e:
            if is_missing(e):  # deleted since the HEAD
                raise VersionNotFound(version) from None
            raise
        finally:
            tmp.unlink(missing_ok=True)
        self._trim_cache()
        return path

    def _trim_cache(self) -> None:
        files = sorted(self.cache_dir.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in files[CACHED_FILES:]:
            p.unlink(missing_ok=True)

    def metadata(self, version: int) -> dict[str, Any]:
        if version in self._metadata:
            return self._metadata[version]
        try:
            with reaching("reading a model version"):
                obj = self.s3.get_object(Bucket=self.bucket, Key=self._key(version, METADATA_FILE))
                if obj["ContentLength"] > MAX_METADATA_BYTES:
                    raise VersionUnreadable(version, f"its metadata is larger than {MAX_METADATA_BYTES} bytes")
                raw = obj["Body"].read()
        except botocore.exceptions.ClientError as e:
            if is_missing(e):
                raise VersionNotFound(version) from None
            raise
        try:
            meta = check_metadata(json.loads(raw))
        except (ValueError, UnicodeDecodeError):
            raise VersionUnreadable(version, "its metadata file is not valid JSON") from None
        except ParameterFileError as e:
            raise VersionUnreadable(version, str(e)) from None
        self._metadata[version] = meta
        return meta

    def load(self, version: int) -> Model:
        return Model.load(self.model_path(version))

    # -- the active pointer
    def active_stamp(self) -> int | None:
        return self._pointer.stamp()

    def active_version(self) -> int | None:
        with reaching("reading the active version"):
            return self._pointer.get()

    def on_switch(self, callback: Callable[[Any], None]) -> None:
        self._pointer.on_switch(callback)

    def close(self) -> None:
        """Stop the pointer's subscription: a store opened again in this process gets a new one."""
        self._pointer.close()

    def activate(self, version: int) -> None:
        with self._locked():
            if not self.exists(version):
                raise VersionNotFound(version)
            self.metadata(version)
            with reaching("switching the active version"):
                self._pointer.set(version)

    # -- removing
    def delete(self, version: int) -> None:
        with self._locked():
            self._delete(version)

    def _delete(self, version: int) -> None:
        if not self.exists(version):
            raise VersionNotFound(version)
        if self.active_version() == version:
            raise VersionActive(version)
        with reaching("deleting a model version"):
            self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/deleted/{version}", Body=b"")
            # the metadata first: the version disappears from every listing in one step
            for name in (METADATA_FILE, MODEL_FILE):
                self.s3.delete_object(Bucket=self.bucket, Key=self._key(version, name))
        self._metadata.pop(version, None)
        (self.cache_dir / f"{version}.npz").unlink(missing_ok=True)

    def enforce_retention(self, retention: Retention, keep: tuple[int, ...] = ()) -> list[int]:
        with self._locked():
            active = self.active_version()
            listing = {v: files for v, files in self._listing().items() if METADATA_FILE in files}
            now = time.time()

            def age(v: int) -> float:
                entry = listing[v].get(MODEL_FILE)
                return now - entry["LastModified"].timestamp() if entry else float("inf")

            def kept(v: int) -> bool:
                return retention.kept(v, age(v), active, keep, self._metadata_or_none)

            sizes = {v: sum(int(o["Size"]) for o in files.values()) for v, files in listing.items()}
            return retention.apply(sizes, kept, self._delete)

    def _metadata_or_none(self, version: int) -> dict[str, Any] | None:
        try:
            return self.metadata(version)
        except (VersionNotFound, VersionUnreadable):
            return None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The models lock, across every process of every machine (Redis)."""
        with reaching("locking the model versions"):
            lock = self._redis.lock(self._lock_key, timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_TIMEOUT)
            if not lock.acquire():
                raise TimeoutError("the model versions stayed locked for a minute")
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError), reaching("unlocking the model versions"):
                lock.release()

    # -- writing
    def add(self, parameters: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> int:
        """Store a new immutable version; return its number (not activated)."""
        record = metadata_record(parameters, metadata)
        data = serialize(parameters, record)
        meta = metadata_json(record).encode()
        while True:
            version = self._next_number()
            # a deleted number has no objects left to refuse the write: its tombstone says
            if not self._tombstoned(version) and self._put_new(self._key(version, MODEL_FILE), data):
                break
            log.warning("model version %d is already in the bucket: taking the next number", version)
        if not self._put_new(self._key(version, METADATA_FILE), meta):
            raise RuntimeError(f"model version {version}'s metadata appeared beside its new .npz")
        return version

    def _tombstoned(self, version: int) -> bool:
        try:
            with reaching("numbering a model version"):
                self.s3.head_object(Bucket=self.bucket, Key=f"{self.prefix}/deleted/{version}")
        except botocore.exceptions.ClientError as e:
            if is_missing(e):
                return False
            raise
        return True

    def _put_new(self, key: str, body: bytes) -> bool:
        """Write ``key`` unless it exists (If-None-Match: *); whether it was written."""
        try:
            with reaching("writing a model version"):
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in PRECONDITION_FAILED:
                return False
            raise
        return True

    def _next_number(self) -> int:
        with reaching("numbering a model version"):
            if not self._redis.exists(self._counter):
                highest = max([*self._listing(), *self._deleted()], default=0)
                self._redis.set(self._counter, highest, nx=True)  # another process may seed it first
            return int(self._redis.incr(self._counter))

    def _deleted(self) -> list[int]:
        names = (obj["Key"].rsplit("/", 1)[-1] for obj in self._objects("deleted"))
        return [int(n) for n in names if n.isdigit()]

    def remove_partial(self) -> int:
        """Delete what writers that died left: a model.npz long without its metadata.json
        (never a fresh one: another trainer may be writing it), and this process's temporary files."""
        for p in self.cache_dir.glob(".tmp-*"):
            p.unlink(missing_ok=True)
        now, stale = time.time(), 0
        for version, files in self._listing().items():
            entry = files.get(MODEL_FILE)
            if METADATA_FILE not in files and entry and now - entry["LastModified"].timestamp() > PARTIAL_AGE:
                with reaching("removing a partial model version"):
                    self.s3.delete_object(Bucket=self.bucket, Key=self._key(version, MODEL_FILE))
                stale += 1
        return stale
