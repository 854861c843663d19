"""The model store: immutable model versions and the active-version pointer, on disk.

Layout under ``root`` (the data directory)::

    models/<version>/model.npz      parameters + metadata (model_core's file format)
    models/<version>/metadata.json  the same metadata, readable without numpy
    active                          the active version number, replaced by atomic rename

A version is written in a temporary directory, fsynced, then renamed to the next free
integer: a reader sees a whole version or none, and two writers (an API worker and the
trainer) never get the same number, because renaming onto an existing non-empty
directory fails. This class is the seam for an object store later: nothing else touches
these files. A write that the storage refuses (read-only, full) raises
:class:`service.storage.StorageUnavailable`.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model_core.model import Model
from model_core.persistence import serialize

from .storage import writing

# Test-only hook (tests/service/test_crash.py): with this variable set to a file path,
# add() stops after writing and syncing the staging directory and before the rename,
# creates that file, and waits, so that a test can kill -9 the service at that point.
# Never set it in production.
TEST_PAUSE_ENV = "CATSVC_TEST_PAUSE_BEFORE_PUBLISH"
TEST_PAUSE_SECONDS = 120.0

MODEL_FILE = "model.npz"
METADATA_FILE = "metadata.json"
_TMP_PREFIX = ".tmp-"


class VersionNotFound(LookupError):
    """No model version with that number."""


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
        try:
            text = (self.models_dir / str(version) / METADATA_FILE).read_text()
        except FileNotFoundError:
            raise VersionNotFound(version) from None
        return json.loads(text)

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
        """Point ``active`` at ``version`` by atomic rename (a reader sees old or new)."""
        if not self.exists(version):
            raise VersionNotFound(version)
        tmp = self.root / f".active.{uuid.uuid4().hex}"
        with writing(self.root):
            try:
                _write_synced(tmp, f"{version}\n".encode())
            except BaseException:
                tmp.unlink(missing_ok=True)  # an empty or partial file of a full disk
                raise
            os.replace(tmp, self.active_file)
            _fsync_dir(self.root)

    # -- writing
    def add(self, parameters: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> int:
        """Store a new immutable version; return its number (not activated)."""
        data = serialize(parameters, metadata)
        metadata_json = json.dumps(dict(metadata), indent=1).encode()
        staging = self.models_dir / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        with writing(self.root):
            staging.mkdir()
            try:
                _write_synced(staging / MODEL_FILE, data)
                _write_synced(staging / METADATA_FILE, metadata_json)
                _fsync_dir(staging)
                _test_pause()
                version = self._publish(staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _fsync_dir(self.models_dir)
        return version

    def _publish(self, staging: Path) -> int:
        version = max(self.versions(), default=0) + 1
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
