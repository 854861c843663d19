"""The course's published numbers, reproduced on its own data (float64 is the reference)."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import TrainConfig, train

REL = 1e-7


def _costs(history) -> dict[int, float]:
    return {i: c for i, c in history["costs"]}


def test_four_layer_model(course_data) -> None:
    X, Y, X_test, Y_test = course_data
    _, history = train(X, Y, TrainConfig(), X_dev=X_test, Y_dev=Y_test)
    costs = _costs(history)
    assert history["engine"] == "gram"
    assert costs[0] == pytest.approx(0.7717493284237686, rel=REL)
    assert costs[2400] == pytest.approx(0.09287821526472397, rel=REL)
    assert costs[2499] == pytest.approx(0.088439943441702, rel=REL)
    assert history["train_accuracy"] == pytest.approx(0.9856, abs=5e-5)
    assert history["dev_accuracy"] == pytest.approx(0.80)


def test_dense_engine_follows_the_same_path(course_data) -> None:
    # the dense engine is 30x slower here: compare the first 300 iterations
    X, Y, _, _ = course_data
    config = TrainConfig(iterations=300)
    _, gram = train(X, Y, config, engine="gram")
    _, dense = train(X, Y, config, engine="dense")
    np.testing.assert_allclose([c for _, c in gram["costs"]], [c for _, c in dense["costs"]], rtol=1e-12)


def test_two_layer_model(course_data) -> None:
    X, Y, X_test, Y_test = course_data
    config = TrainConfig(layer_dims=(12288, 7, 1), init="scaled")
    _, history = train(X, Y, config, X_dev=X_test, Y_dev=Y_test)
    assert history["train_accuracy"] == pytest.approx(1.0)
    assert history["dev_accuracy"] == pytest.approx(0.72)


def test_logistic_regression(course_data) -> None:
    X, Y, X_test, Y_test = course_data
    config = TrainConfig(layer_dims=(12288, 1), init="zeros", learning_rate=0.005, iterations=2000)
    _, history = train(X, Y, config, X_dev=X_test, Y_dev=Y_test)
    costs = _costs(history)
    assert costs[0] == pytest.approx(0.6931471805599453, rel=REL)
    assert costs[1900] == pytest.approx(0.14087207570310156, rel=REL)
    assert history["train_accuracy"] == pytest.approx(0.9904, abs=5e-5)
    assert history["dev_accuracy"] == pytest.approx(0.70)


def test_float32_follows_float64_up_to_rounding(course_data) -> None:
    # gradient descent amplifies rounding, so float32 only starts on the same path
    X, Y, X_test, Y_test = course_data
    _, h32 = train(X, Y, TrainConfig(dtype="float32"), X_dev=X_test, Y_dev=Y_test)
    costs = _costs(h32)
    assert costs[0] == pytest.approx(0.7717493284237686, rel=1e-6)
    assert costs[100] == pytest.approx(0.6724, abs=2e-3)  # the course prints 0.672429 here
    assert h32["train_accuracy"] > 0.95 and h32["dev_accuracy"] >= 0.7
