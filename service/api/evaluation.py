"""``POST /models/{version}/evaluate``'s work: every example of a data set predicted, then the report.

A data set may hold tens of thousands of images (an upload is bounded by
CATSVC_MAX_DATASET_BYTES of pixels, a file set not at all): predicted at once, its float
copy alone would take gigabytes. So the examples go through the model :data:`CHUNK` at a
time, each chunk its own task on the prediction pool: memory stays that of one chunk, and
a /predict that arrives meanwhile waits for one chunk, not for the whole set.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from model_core import DataError, Model, classification_report

from ..state.datasets import DatasetCatalog, UnknownDataset
from .compute import ComputePool
from .errors import ApiError, Code, unknown_dataset
from .inference import THRESHOLD

CHUNK = 256  # examples per pool task: 25 MB of float64 pixels


def _load(catalog: DatasetCatalog, key: str) -> tuple[np.ndarray, np.ndarray]:
    """On a pool thread: the set's X (12288, m) uint8 and Y (1, m)."""
    try:
        data = catalog.load(key, dev=False)  # a train_x set is measured on itself: its twin is not read
    except UnknownDataset:
        raise unknown_dataset() from None
    except DataError:
        raise ApiError(422, Code.INVALID_DATASET, "dataset: the data set's file cannot be read; see the service's "
                       "log", field="dataset") from None
    return data.X, data.Y


async def evaluate(pool: ComputePool, model: Model, catalog: DatasetCatalog, key: str) -> tuple[int, dict[str, Any]]:
    """(m, classification_report) of ``model`` on the data set ``key``."""
    X, Y = await pool.run(_load, catalog, key)
    m = X.shape[1]
    proba = np.empty(m)  # (m,)
    for s in range(0, m, CHUNK):
        proba[s : s + CHUNK] = await pool.run(model.predict_proba, X[:, s : s + CHUNK])
    Y_hat = (proba > THRESHOLD).astype(np.int64)[None, :]  # (1, m)
    return m, classification_report(Y, Y_hat)
