"""POST /models/{v}/evaluate's work (service/api/evaluation.py) on a real data set file and the
real prediction pool: its memory does not grow with the data set, and /predict's work is
not held behind a whole data set's."""
from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import numpy as np

from model_core import Model, initialize_parameters
from service.api.compute import ComputePool
from service.api.evaluation import CHUNK, evaluate
from service.state.datasets import DatasetCatalog, Limits


def catalog_with(tmp_path: Path, m: int) -> tuple[DatasetCatalog, np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(12288, m)).astype(np.uint8)  # (12288, m)
    Y = rng.randint(0, 2, size=(1, m)).astype(np.int64)  # (1, m)
    (tmp_path / "sets").mkdir()
    np.savez(tmp_path / "sets" / "big.npz", X=X, Y=Y)
    limits = Limits(max_bytes=1 << 30, max_members=100_000, max_pixels=1 << 24)
    return DatasetCatalog(tmp_path / "uploads", tmp_path / "sets", limits), X, Y


def test_evaluate_memory_is_bounded_by_a_chunk_not_the_data_set(tmp_path: Path) -> None:
    m = 4000
    catalog, X, Y = catalog_with(tmp_path, m)
    model = Model(initialize_parameters([12288, 3, 1], "he", seed=1), {"input_norm": "scale"})
    pool = ComputePool(1, 4)
    tracemalloc.start()
    try:
        count, report = asyncio.run(evaluate(pool, model, catalog, "big"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == m
    pred = model.predict_proba(X) > 0.5
    assert report["confusion"]["tp"] == int((pred & (Y[0] == 1)).sum())
    # the set itself (uint8, 49 MB) and a chunk in float64 (CHUNK x 98 kB); not the set in
    # float64 (393 MB), which a data set of the largest size allowed makes a few GB
    assert peak < X.nbytes + 4 * CHUNK * 12288 * 8, peak


def test_evaluate_gives_the_pool_back_between_chunks(tmp_path: Path) -> None:
    """One pool thread: a prediction submitted while a data set is evaluated runs before the
    evaluation's last chunk, not after all of it."""
    catalog, _, _ = catalog_with(tmp_path, 6 * CHUNK)
    model = Model(initialize_parameters([12288, 3, 1], "he", seed=1), {"input_norm": "scale"})
    pool = ComputePool(1, 4)
    order: list[str] = []

    def tracked(X: np.ndarray) -> np.ndarray:
        order.append("chunk")
        return model.predict_proba(X)

    class Tracked(Model):
        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return tracked(X)

    spy = Tracked(model.parameters, {"input_norm": "scale"})

    async def both() -> None:
        job = asyncio.create_task(evaluate(pool, spy, catalog, "big"))
        while "chunk" not in order:
            await asyncio.sleep(0.001)
        await pool.run(order.append, "predict")
        await job

    asyncio.run(both())
    assert order.count("chunk") == 6
    assert order.index("predict") < len(order) - 1, order


def test_evaluate_reads_the_set_asked_for_not_its_dev_twin(tmp_path: Path) -> None:
    """A train_x set is measured on its own examples: its test_x twin is neither read (twice
    the memory for nothing) nor, when broken, a reason to refuse train_x."""
    (tmp_path / "sets").mkdir()
    X = np.random.RandomState(1).randint(0, 256, size=(12288, 7)).astype(np.uint8)
    np.savez(tmp_path / "sets" / "train_big.npz", X=X, Y=np.ones((1, 7), np.int64))
    (tmp_path / "sets" / "test_big.npz").write_bytes(b"PK\x03\x04 not a zip")
    catalog = DatasetCatalog(tmp_path / "uploads", tmp_path / "sets", Limits(1 << 30, 1000, 1 << 24))
    model = Model(initialize_parameters([12288, 3, 1], "he", seed=1), {"input_norm": "scale"})
    count, report = asyncio.run(evaluate(ComputePool(1, 2), model, catalog, "train_big"))
    assert count == 7 and sum(report["confusion"].values()) == 7
