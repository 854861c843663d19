"""Uploaded data sets in the data directory (the embedded store of :class:`UploadStoreProtocol`).

``<data_dir>/datasets/<id>/data.npz`` (X uint8, Y) and ``meta.json``, written in a
staging directory and renamed: a reader sees a whole upload or none.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .storage import writing

if TYPE_CHECKING:
    from .datasets import DatasetInfo

UPLOAD_ID = re.compile(r"^[0-9a-f]{16}$")
DATA_FILE, META_FILE = "data.npz", "meta.json"


def info_of(text: str | bytes) -> DatasetInfo:
    from .datasets import DatasetInfo  # the record's class lives with the catalog

    return DatasetInfo(**json.loads(text))


class UploadDir:
    def __init__(self, uploads_dir: Path) -> None:
        self.uploads_dir = Path(uploads_dir)
        with writing(self.uploads_dir):
            self.uploads_dir.mkdir(parents=True, exist_ok=True)

    def _dir(self, upload_id: str) -> Path | None:
        if not UPLOAD_ID.match(upload_id):
            return None
        directory = self.uploads_dir / upload_id
        return directory if (directory / META_FILE).is_file() else None

    def info(self, upload_id: str) -> DatasetInfo | None:
        directory = self._dir(upload_id)
        return None if directory is None else info_of((directory / META_FILE).read_text())

    def infos(self) -> list[DatasetInfo]:
        found = (self.info(p.name) for p in self.uploads_dir.iterdir() if UPLOAD_ID.match(p.name))
        return [i for i in found if i is not None]

    def arrays(self, upload_id: str) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.uploads_dir / upload_id / DATA_FILE, allow_pickle=False) as npz:
            return npz["X"], npz["Y"]

    def put(self, info: DatasetInfo, X: np.ndarray, Y: np.ndarray) -> None:
        staging = self.uploads_dir / f".tmp-{uuid.uuid4().hex}"
        with writing(self.uploads_dir):  # read-only or full: StorageUnavailable
            staging.mkdir()
            try:
                with open(staging / DATA_FILE, "wb") as f:
                    np.savez(f, X=X, Y=Y)
                    f.flush()
                    os.fsync(f.fileno())
                (staging / META_FILE).write_text(json.dumps(info.to_dict()))
                os.rename(staging, self.uploads_dir / info.id)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if self._dir(info.id) is None:  # not a concurrent twin upload
                    raise

    def remove_partial(self) -> None:
        """Delete staging directories left by a crash; call only while no one writes."""
        for p in self.uploads_dir.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
