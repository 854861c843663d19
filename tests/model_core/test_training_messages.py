"""train's refusals word for word (check_data's, the engine's, the threads', dev data given
half or malformed), what its history reports (seconds, an output of exactly 0.5 as
non-cat), overflow as TrainingDivergedError and not as numpy warnings, threads=None and
BLAS-only limits, and predict_proba_chunked's answer: through the config's test-time
flip, in the parameters' dtype."""
from __future__ import annotations

import ctypes.util
import time
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from model_core import TrainConfig, predict, train
from model_core.errors import (
    ConfigError,
    DataError,
    TrainingCancelled,
    TrainingDivergedError,
)
from model_core.initializers import initialize_parameters
from model_core.metrics import accuracy
from model_core.prediction import predict_proba_raw
from model_core.training import check_data, predict_proba_chunked

CONFIG = TrainConfig(layer_dims=(12, 1), iterations=1)


@pytest.mark.parametrize(("X", "Y", "name", "message"), [
    (np.full((12, 2), "a"), np.zeros(2), "X", "X must hold numbers; got dtype <U1"),
    (np.zeros((12, 2), dtype=object), np.zeros(2), "X_dev", "X_dev must hold numbers; got dtype object"),
    (np.zeros((12, 3)), np.array([0, 1, 2]), "X", "labels must be 0 (non-cat) or 1 (cat)"),
])
def test_check_data_refusals_word_for_word(X: np.ndarray, Y: np.ndarray, name: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        check_data(X, Y, 12, name=name)
    assert str(caught.value) == message


@pytest.mark.parametrize("kind", ["u", "i", "f"])
def test_check_data_takes_every_kind_of_number(kind: str) -> None:
    X = np.zeros((12, 2), dtype={"u": np.uint8, "i": np.int16, "f": np.float32}[kind])
    got, Y = check_data(X, [1, 0], 12)
    assert got is X and Y.shape == (1, 2)


def test_an_unknown_engine_is_named_with_the_engines() -> None:
    X = np.zeros((12, 2), dtype=np.uint8)
    with pytest.raises(ConfigError) as caught:
        train(X, np.array([0, 1]), CONFIG, engine="fast")
    assert str(caught.value) == "engine must be one of auto, dense, gram, layers; got 'fast'"


@pytest.mark.parametrize("half", ["X_dev", "Y_dev"])
def test_dev_data_given_half_is_refused(half: str) -> None:
    X = np.zeros((12, 2), dtype=np.uint8)
    dev = {"X_dev": X} if half == "X_dev" else {"Y_dev": np.array([0, 1])}
    with pytest.raises(ConfigError) as caught:
        train(X, np.array([0, 1]), CONFIG, **dev)
    assert str(caught.value) == "give both X_dev and Y_dev, or neither"


def test_predict_proba_chunked_flips_as_the_config_says_in_the_parameters_dtype() -> None:
    config = TrainConfig(layer_dims=(12288, 3, 1), tta="flip", input_norm="scale", dtype="float32")
    parameters = initialize_parameters(config.layer_dims, "he", seed=1, dtype=np.float32)
    X = np.random.RandomState(2).randint(0, 256, (12288, 5)).astype(np.uint8)  # not mirror images
    P = predict_proba_chunked(X, parameters, config, chunk=2)
    assert P.shape == (1, 5) and P.dtype == np.float32
    flipped = predict_proba_raw(X, parameters, input_norm="scale", tta="flip")
    np.testing.assert_allclose(P[0], flipped, rtol=1e-6)  # float32, summed in chunks of 2
    unflipped = predict_proba_raw(X, parameters, input_norm="scale")
    assert np.abs(flipped - unflipped).min() > 1e-4  # the flip moves each P(cat) far more


def test_dev_data_is_checked_under_its_own_name() -> None:
    X = np.zeros((12, 2), dtype=np.uint8)
    with pytest.raises(DataError) as caught:
        train(X, np.array([0, 1]), CONFIG, X_dev=np.zeros((10, 3)), Y_dev=np.array([0, 1, 1]))
    assert str(caught.value) == "X_dev must have shape (n_x, m) = (12, m); got (10, 3)"


def test_the_gram_and_layers_engines_refuse_what_they_cannot_train() -> None:
    X = np.zeros((12, 2), dtype=np.uint8)
    with pytest.raises(ConfigError) as caught:
        train(X, np.array([0, 1]), TrainConfig(layer_dims=(12, 1), optimizer="adam", iterations=1), engine="gram")
    assert str(caught.value) == "engine 'gram' needs full-batch gd or momentum, no augmentation and m < n_x"
    with pytest.raises(ConfigError) as caught:
        train(X, np.array([0, 1]), CONFIG, engine="layers")  # a course config, no architecture
    assert str(caught.value) == "engine 'layers' trains a config with an architecture, and only it trains one"


def test_seconds_is_the_time_the_run_took() -> None:
    X = np.random.RandomState(0).randint(0, 256, (12, 4)).astype(np.uint8)
    start = time.perf_counter()
    _, history = train(X, np.array([0, 1, 0, 1]), CONFIG)
    took = time.perf_counter() - start
    assert 0.0 <= history["seconds"] <= took


@pytest.mark.parametrize("engine", ["gram", "dense"])
def test_an_output_of_exactly_one_half_counts_as_non_cat(engine: str) -> None:
    """train_accuracy labels as predict does, P(cat) > 0.5.

    From zeros, one step on balanced labels leaves every bias at 0 (the mean of
    AL - Y = 0.5 - Y is 0), and a constant image is all zeros under per_image: its
    P(cat) is sigmoid(0) = 0.5 exactly. It is a cat here, so it counts as an error."""
    rng = np.random.RandomState(1)
    X = rng.randint(0, 256, (12, 4)).astype(np.uint8)
    X[:, 0] = 77  # the constant image
    Y = np.array([[1, 1, 0, 0]])
    config = TrainConfig(layer_dims=(12, 1), init="zeros", iterations=1, input_norm="per_image")
    parameters, history = train(X, Y, config, engine=engine)
    P = predict_proba_chunked(X, parameters, config)
    assert P[0, 0] == 0.5
    labels = predict(X, parameters, input_norm="per_image")
    assert labels[0, 0] == 0
    assert history["train_accuracy"] == accuracy(Y, labels)


@pytest.mark.parametrize("engine", ["gram", "dense"])
def test_overflow_is_a_divergence_not_a_numpy_warning(engine: str) -> None:
    # lr * l2 / m > 2: every step multiplies the weights by (1 - lr l2 / m) < -1, so they
    # overflow, and so do the arrays computed from them (over), then inf - inf (invalid)
    rng = np.random.RandomState(2)
    X, Y = rng.randint(0, 256, (50, 20)).astype(np.uint8), (np.arange(20) % 2).reshape(1, 20)
    config = TrainConfig(layer_dims=(50, 8, 1), init="he", learning_rate=90.0, l2=5.0, iterations=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would be raised here instead
        with pytest.raises(TrainingDivergedError, match=r"try a smaller learning_rate \(got 90.0\)$"):
            train(X, Y, config, engine=engine)


def test_bad_threads_are_named_with_their_field_and_value() -> None:
    X = np.zeros((12, 2), dtype=np.uint8)
    with pytest.raises(ConfigError) as caught:
        train(X, np.array([0, 1]), CONFIG, threads=0)
    assert caught.value.field == "threads" and caught.value.reason == "threads must be a positive integer or None"
    assert str(caught.value) == "threads must be a positive integer or None; got 0"


def test_threads_none_passes_dev_data_progress_and_stop_on() -> None:
    X = np.random.RandomState(3).randint(0, 256, (12, 4)).astype(np.uint8)
    Y = np.array([0, 1, 0, 1])
    seen: list[int] = []
    _, history = train(X, Y, TrainConfig(layer_dims=(12, 1), iterations=3), X_dev=X[:, :2], Y_dev=Y[:2],
                       on_progress=lambda i, n, c: seen.append(i), threads=None)
    assert seen == [1, 2, 3] and 0.0 <= history["dev_accuracy"] <= 1.0
    with pytest.raises(TrainingCancelled) as caught:
        train(X, Y, TrainConfig(layer_dims=(12, 1), iterations=3), should_stop=lambda: True, threads=None)
    assert caught.value.args == (0,)


def test_threads_limit_blas_alone() -> None:
    """An OpenMP runtime in the same process (another library's) keeps its own threads."""
    name = ctypes.util.find_library("gomp")
    if name is None:
        pytest.skip("no OpenMP runtime (libgomp) to load")
    ctypes.CDLL(name)

    def threads(api: str) -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == api}

    X = np.random.RandomState(4).randint(0, 256, (12, 4)).astype(np.uint8)
    seen: list[tuple[set[int], set[int]]] = []
    with threadpool_limits(limits=2, user_api="openmp"), threadpool_limits(limits=2, user_api="blas"):
        assert threads("openmp") == {2}
        train(X, np.array([0, 1, 0, 1]), TrainConfig(layer_dims=(12, 1), iterations=2), threads=1,
              on_progress=lambda *_: seen.append((threads("blas"), threads("openmp"))))
    assert seen == [({1}, {2})] * 2
