"""The model store: immutable model versions and the active-version pointer, on disk.

Layout under ``root`` (the data directory)::

    models/<version>/model.npz      parameters + metadata (model_core's file format)
    models/<version>/metadata.json  the same metadata, readable without numpy
    models/<version>.deleted/       an empty directory: the number of a deleted version,
                                    which is never given again
    .models.lock                    flock'ed while the set of versions or the pointer changes
    active                          the active version number, replaced by atomic rename

A version is written in a temporary directory, fsynced, then renamed to the next free
integer: a reader sees a whole version or none, and two writers (an API worker and the
trainer) never get the same number, because renaming onto an existing non-empty
directory fails. Every metadata read is checked against model_core's schema: a version
whose record is not valid is *unreadable* (listed as such, with the reason, and
deletable), never a failure of the whole listing. Deleting, activating and the
retention clean-up take ``.models.lock``, so that the active version is never deleted.
This class is the seam for an object store later: nothing else touches these files. A
write that the storage refuses (read-only, full) raises
:class:`service.state.storage.StorageUnavailable`.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model_core import (
    MAX_METADATA_BYTES,
    Model,
    ParameterFileError,
    check_metadata,
    metadata_json,
    metadata_record,
    serialize,
)

from .retention import Retention
from .storage import writing

log = logging.getLogger("service.store")

# Test-only hook (tests/service/test_crash.py): with this variable set to a file path,
# add() stops after writing and syncing the staging directory and before the rename,
# creates that file, and waits, so that a test can kill -9 the service at that point.
# Never set it in production.
TEST_PAUSE_ENV = "CATSVC_TEST_PAUSE_BEFORE_PUBLISH"
TEST_PAUSE_SECONDS = 120.0

MODEL_FILE = "model.npz"
METADATA_FILE = "metadata.json"
_TMP_PREFIX = ".tmp-"
_DELETED = ".deleted"


class VersionNotFound(LookupError):
    """No model version with that number."""


class VersionUnreadable(Exception):
    """A stored version whose metadata is missing, not JSON or not valid; ``reason`` says which."""

    def __init__(self, version: int, reason: str) -> None:
        super().__init__(f"version {version}: {reason}")
        self.version, self.reason = version, reason


class VersionActive(Exception):
    """The active version cannot be deleted."""


class ModelStore:
    """Model versions in ``root/models`` and the active pointer ``root/active``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.models_dir = self.root / "models"
        self.active_file = self.root / "active"
        with writing(self.root):
            self.models_dir.mkdir(parents=True, exist_ok=True)

    # -- reading
    def versions(self) -> list[int]:
        """All versions, oldest first."""
        return sorted(int(p.name) for p in self.models_dir.iterdir() if p.name.isdigit())

    def exists(self, version: int) -> bool:
        return (self.models_dir / str(version) / MODEL_FILE).is_file()

    def model_path(self, version: int) -> Path:
        path = self.models_dir / str(version) / MODEL_FILE
        if not path.is_file():
            raise VersionNotFound(version)
        return path

    def metadata(self, version: int) -> dict[str, Any]:
        """The version's metadata record, checked against model_core's schema.

        Raises VersionNotFound, or VersionUnreadable naming what is wrong with it.
        """
        path = self.models_dir / str(version) / METADATA_FILE
        try:
            if path.stat().st_size > MAX_METADATA_BYTES:
                raise VersionUnreadable(version, f"its metadata is larger than {MAX_METADATA_BYTES} bytes")
            meta = json.loads(path.read_text())
        except FileNotFoundError:
            if (self.models_dir / str(version)).is_dir():
                raise VersionUnreadable(version, "its metadata file is missing") from None
            raise VersionNotFound(version) from None
        except (ValueError, UnicodeDecodeError):
            raise VersionUnreadable(version, "its metadata file is not valid JSON") from None
        try:
            return check_metadata(meta)
        except ParameterFileError as e:
            raise VersionUnreadable(version, str(e)) from None

    def load(self, version: int) -> Model:
        return Model.load(self.model_path(version))

    # -- the active pointer
    def active_stamp(self) -> tuple[int, int] | None:
        """(inode, mtime_ns) of the pointer: one stat tells whether it may have changed."""
        try:
            st = os.stat(self.active_file)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def active_version(self) -> int | None:
        try:
            text = self.active_file.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def activate(self, version: int) -> None:
        """Point ``active`` at ``version`` by atomic rename (a reader sees old or new).

        Raises VersionNotFound, or VersionUnreadable for a version no one could serve.
        """
        with self._locked():
            if not self.exists(version):
                raise VersionNotFound(version)
            self.metadata(version)
            tmp = self.root / f".active.{uuid.uuid4().hex}"
            with writing(self.root):
                try:
                    _write_synced(tmp, f"{version}\n".encode())
                except BaseException:
                    tmp.unlink(missing_ok=True)  # an empty or partial file of a full disk
                    raise
                os.replace(tmp, self.active_file)
                _fsync_dir(self.root)

    def on_switch(self, callback: Callable[[Any], None]) -> None:
        """Nothing to call: each request stats the pointer (one ``stat``, no server)."""

    def close(self) -> None:
        """Nothing watches the pointer here."""

    # -- removing
    def delete(self, version: int) -> None:
        """Remove a version (never the active one); its number is never given again.

        Raises VersionNotFound or VersionActive.
        """
        with self._locked(), writing(self.root):
            self._delete(version)

    def _delete(self, version: int) -> None:
        directory = self.models_dir / str(version)
        if not directory.is_dir():
            raise VersionNotFound(version)
        if self.active_version() == version:
            raise VersionActive(version)
        # renamed first (atomic: readers see the version or nothing), emptied after
        tombstone = self.models_dir / f"{version}{_DELETED}"
        os.rename(directory, tombstone)
        _fsync_dir(self.models_dir)
        for child in tombstone.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    def enforce_retention(self, retention: Retention, keep: tuple[int, ...] = ()) -> list[int]:
        """Delete the oldest versions beyond ``retention`` (never the active one, those in
        ``keep``, e.g. the one just added, or a recent job's); return the ones deleted."""
        with self._locked(), writing(self.root):
            active = self.active_version()
            now = time.time()

            def kept(v: int) -> bool:
                return retention.kept(v, self._age(v, now), active, keep, self._metadata_or_none)

            return retention.apply({v: self._size(v) for v in self.versions()}, kept, self._delete)

    def _size(self, version: int) -> int:
        try:
            return sum(p.stat().st_size for p in (self.models_dir / str(version)).iterdir() if p.is_file())
        except FileNotFoundError:  # deleted by another process meanwhile
            return 0

    def _metadata_or_none(self, version: int) -> dict[str, Any] | None:
        try:
            return self.metadata(version)
        except (VersionNotFound, VersionUnreadable):
            return None

    def _age(self, version: int, now: float) -> float:
        """Seconds since the version's parameter file was written (infinite if it has none)."""
        try:
            return now - (self.models_dir / str(version) / MODEL_FILE).stat().st_mtime
        except FileNotFoundError:
            return float("inf")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock, across processes, on changes to the versions and the pointer."""
        with writing(self.root):
            fd = os.open(self.root / ".models.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- writing
    def add(self, parameters: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> int:
        """Store a new immutable version; return its number (not activated)."""
        record = metadata_record(parameters, metadata)
        data = serialize(parameters, record)
        staging = self.models_dir / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        with writing(self.root):
            staging.mkdir()
            try:
                _write_synced(staging / MODEL_FILE, data)
                _write_synced(staging / METADATA_FILE, metadata_json(record).encode())
                _fsync_dir(staging)
                _test_pause()
                version = self._publish(staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _fsync_dir(self.models_dir)
        return version

    def _publish(self, staging: Path) -> int:
        # versions first, then tombstones: a deletion renaming N between the two listings
        # shows N in one of them, so N is never given again
        versions = self.versions()
        deleted = [int(p.name[: -len(_DELETED)]) for p in self.models_dir.glob(f"*{_DELETED}")
                   if p.name[: -len(_DELETED)].isdigit()]
        version = max(versions + deleted, default=0) + 1
        while True:
            try:
                os.rename(staging, self.models_dir / str(version))
                return version
            except OSError as e:
                # another process took this number first: try the next one
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                version += 1

    def remove_partial(self) -> int:
        """Delete staging directories left by a crash; call only while no one writes."""
        stale = [p for p in self.models_dir.iterdir() if p.name.startswith(_TMP_PREFIX)]
        for p in stale:
            shutil.rmtree(p, ignore_errors=True)
        for tombstone in self.models_dir.glob(f"*{_DELETED}"):  # a deletion cut short: finish emptying it
            for child in tombstone.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        with writing(self.root):
            for p in self.root.glob(".active.*"):
                p.unlink(missing_ok=True)
        return len(stale)


def _test_pause() -> None:
    marker = os.environ.get(TEST_PAUSE_ENV)
    if marker:
        Path(marker).touch()
        time.sleep(TEST_PAUSE_SECONDS)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    # a rename reaches the disk only when its directory is synced
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
