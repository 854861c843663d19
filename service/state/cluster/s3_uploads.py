"""Uploaded data sets in the object store (cluster mode's
:class:`~service.state.protocols.UploadStoreProtocol`).

``<prefix>/datasets/<id>/data.npz`` (X uint8, Y) first, then ``meta.json``, which
publishes it: a reader lists only ids whose meta.json exists, and sees each object whole.
Any trainer on any machine reads the arrays from there. The id is the data's own hash, so
a twin upload writes the same bytes: nothing to guard against.
"""
from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import numpy as np

from ..uploads import DATA_FILE, META_FILE, UPLOAD_ID, info_of
from .connect import is_missing, reaching

if TYPE_CHECKING:
    from ..datasets import DatasetInfo


class S3Uploads:
    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self._infos: dict[str, DatasetInfo] = {}  # an upload never changes

    def _key(self, upload_id: str, name: str) -> str:
        return f"{self.prefix}/datasets/{upload_id}/{name}"

    def _get(self, key: str) -> bytes | None:
        try:
            with reaching("reading a data set"):
                return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except botocore.exceptions.ClientError as e:
            if is_missing(e):
                return None
            raise

    def info(self, upload_id: str) -> DatasetInfo | None:
        if not UPLOAD_ID.match(upload_id):
            return None
        if upload_id not in self._infos:
            raw = self._get(self._key(upload_id, META_FILE))
            if raw is None:
                return None
            self._infos[upload_id] = info_of(raw)
        return self._infos[upload_id]

    def infos(self) -> list[DatasetInfo]:
        ids = []
        with reaching("listing data sets"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=f"{self.prefix}/datasets/"):
                for obj in page.get("Contents", []):
                    upload_id, _, name = obj["Key"][len(self.prefix) + len("/datasets/"):].partition("/")
                    if name == META_FILE and UPLOAD_ID.match(upload_id):
                        ids.append(upload_id)
        found = (self.info(i) for i in ids)
        return [i for i in found if i is not None]

    def arrays(self, upload_id: str) -> tuple[np.ndarray, np.ndarray]:
        raw = self._get(self._key(upload_id, DATA_FILE))
        if raw is None:
            raise FileNotFoundError(upload_id)
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return npz["X"], npz["Y"]

    def put(self, info: DatasetInfo, X: np.ndarray, Y: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, X=X, Y=Y)
        with reaching("storing a data set"):
            self.s3.put_object(Bucket=self.bucket, Key=self._key(info.id, DATA_FILE), Body=buf.getvalue())
            self.s3.put_object(Bucket=self.bucket, Key=self._key(info.id, META_FILE),
                               Body=json.dumps(info.to_dict()).encode())

    def remove_partial(self) -> None:
        """Nothing to do: a data.npz without its meta.json is never listed, and the next
        upload of the same data writes both again."""
