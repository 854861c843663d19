"""train(): both engines agree, callbacks, cancellation, divergence, mini-batch learning."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import TrainConfig, backward, compute_cost, forward, initialize_parameters, predict, train
from model_core.normalization import normalize
from model_core.errors import ConfigError, DataError, TrainingCancelled, TrainingDivergedError
from model_core.training import _check_finite, _flip, choose_engine, predict_labels


def _pixels(n_x: int, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A learnable problem: cats carry a faint fixed pattern under heavy noise."""
    pattern = np.random.RandomState(99).choice([-1.0, 1.0], size=(n_x, 1))  # the same for every seed
    rng = np.random.RandomState(seed)
    Y = (rng.rand(1, m) < 0.5).astype(np.int64)
    X = 128 + 25 * pattern * (2 * Y - 1) + rng.randn(n_x, m) * 50
    return np.clip(X, 0, 255).astype(np.uint8), Y


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
@pytest.mark.parametrize("l2", [0.0, 0.5])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("layer_dims", [(300, 1), (300, 6, 1), (300, 6, 4, 3, 1)])
def test_gram_and_dense_engines_give_the_same_costs(optimizer, l2, activation, layer_dims) -> None:
    _assert_engines_agree(TrainConfig(layer_dims=layer_dims, init="he", optimizer=optimizer, l2=l2,
                                      hidden_activation=activation, learning_rate=0.01, iterations=150))


def test_the_engines_agree_for_momentum_with_its_own_beta() -> None:
    """Every layer, not only the first, moves with config.beta (the default 0.9 hides a mix-up)."""
    _assert_engines_agree(TrainConfig(layer_dims=(300, 6, 4, 1), init="he", optimizer="momentum", beta=0.5,
                                      l2=0.5, learning_rate=0.01, iterations=150))


def _assert_engines_agree(config: TrainConfig) -> None:
    X, Y = _pixels(300, 40)
    assert choose_engine(config, 40) == "gram"
    p_gram, h_gram = train(X, Y, config, engine="gram")
    p_dense, h_dense = train(X, Y, config, engine="dense")
    assert h_gram["engine"] == "gram" and h_dense["engine"] == "dense"
    np.testing.assert_allclose([c for _, c in h_gram["costs"]], [c for _, c in h_dense["costs"]], rtol=1e-10)
    assert list(p_gram) == list(p_dense)
    for k in p_dense:
        np.testing.assert_allclose(p_gram[k], p_dense[k], rtol=1e-8, atol=1e-12)


def test_engine_choice() -> None:
    assert choose_engine(TrainConfig(), 209) == "gram"
    assert choose_engine(TrainConfig(), 20000) == "dense"  # m >= n_x: the Gram matrix is bigger
    assert choose_engine(TrainConfig(optimizer="adam"), 209) == "dense"
    assert choose_engine(TrainConfig(epochs=3), 209) == "dense"
    with pytest.raises(ConfigError, match="gram"):
        train(*_pixels(12288, 5), TrainConfig(optimizer="adam", iterations=1), engine="gram")


def test_costs_are_recorded_every_100_iterations_and_last() -> None:
    X, Y = _pixels(50, 20)
    _, history = train(X, Y, TrainConfig(layer_dims=(50, 3, 1), iterations=250))
    assert [i for i, _ in history["costs"]] == [0, 100, 200, 249]


@pytest.mark.parametrize("engine,epochs", [("gram", None), ("dense", None), ("dense", 100)])
def test_progress_and_cancellation(engine: str, epochs: int | None) -> None:
    X, Y = _pixels(50, 20)
    seen: list[tuple[int, int, float]] = []
    with pytest.raises(TrainingCancelled) as info:
        train(X, Y, TrainConfig(layer_dims=(50, 3, 1), iterations=100, epochs=epochs, batch_size=6), engine=engine,
              on_progress=lambda i, n, c: seen.append((i, n, c)), should_stop=lambda: len(seen) >= 7)
    assert info.value.args == (7,)  # the iteration it stopped before: 7 done
    assert [s[0] for s in seen] == list(range(1, 8))
    assert all(n == 100 and np.isfinite(c) for _, n, c in seen)


def test_divergence_names_the_learning_rate() -> None:
    # lr * l2 / m > 2: every step multiplies W by (1 - lr l2 / m) < -1, so |W| explodes
    X, Y = _pixels(50, 20)
    config = TrainConfig(layer_dims=(50, 8, 1), init="he", learning_rate=90.0, l2=5.0, iterations=2000)
    for engine in ("gram", "dense"):
        with pytest.raises(TrainingDivergedError, match="smaller learning_rate \\(got 90.0\\)"):
            train(X, Y, config, engine=engine)
    with pytest.raises(TrainingDivergedError, match="smaller learning_rate \\(got 90.0\\)"):  # mini-batches
        train(X, Y, TrainConfig(layer_dims=(50, 8, 1), init="he", learning_rate=90.0, l2=5.0, epochs=2000,
                                batch_size=5))


def test_non_finite_weights_are_named_with_the_learning_rate() -> None:
    with pytest.raises(TrainingDivergedError, match="^training diverged: b1 has non-finite values; "
                                                    "try a smaller learning_rate \\(got 0.5\\)$"):
        _check_finite({"W1": np.zeros((2, 3)), "b1": np.array([[np.inf], [0.0]])}, TrainConfig(learning_rate=0.5))


@pytest.mark.parametrize("chunk", [1, 3, 2048])
def test_predict_labels_in_chunks_is_predict_with_the_config(chunk: int) -> None:
    """Every column labelled, in chunks of any size, as predict does with the config's
    activation and norm: int64 labels P > 0.5."""
    X = np.random.RandomState(4).randint(0, 256, (20, 10)).astype(np.uint8)
    config = TrainConfig(layer_dims=(20, 4, 1), hidden_activation="tanh", input_norm="per_image")
    parameters = initialize_parameters(config.layer_dims, "xavier", seed=6)
    labels = predict_labels(X, parameters, config, chunk=chunk)
    assert labels.dtype == np.int64 and labels.shape == (1, 10)
    np.testing.assert_array_equal(labels, predict(X, parameters, hidden_activation="tanh", input_norm="per_image"))
    assert 0 < labels.sum() < 10


def test_minibatch_adam_learns_a_small_problem() -> None:
    X, Y = _pixels(12288, 256, seed=1)
    X_dev, Y_dev = _pixels(12288, 128, seed=2)
    config = TrainConfig(layer_dims=(12288, 16, 1), init="he", optimizer="adam", learning_rate=0.001,
                         epochs=15, batch_size=32, input_norm="per_image", augment="none", seed=3)
    _, history = train(X, Y, config, X_dev=X_dev, Y_dev=Y_dev)
    costs = [c for _, c in history["costs"]]
    assert len(costs) == 15 and costs[-1] < 0.5 * costs[0]
    assert history["train_accuracy"] > 0.95
    assert history["dev_accuracy"] > 0.8


def test_float32_training_stays_float32() -> None:
    X, Y = _pixels(100, 30)
    for engine in ("gram", "dense"):
        params, _ = train(X, Y, TrainConfig(layer_dims=(100, 4, 1), dtype="float32", iterations=20), engine=engine)
        assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}


def test_seeded_runs_repeat_exactly() -> None:
    X, Y = _pixels(12288, 40)
    config = TrainConfig(layer_dims=(12288, 4, 1), optimizer="adam", epochs=3, batch_size=16, augment="flip")
    a, _ = train(X, Y, config)
    b, _ = train(X, Y, config)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_flip_mirrors_columns_of_images() -> None:
    imgs = np.arange(2 * 64 * 64 * 3, dtype=np.int64).reshape(2, 64, 64, 3) % 251
    X = imgs.reshape(2, -1).T
    out = _flip(X, np.random.RandomState(0)).T.reshape(2, 64, 64, 3)
    for j in range(2):
        assert np.array_equal(out[j], imgs[j]) or np.array_equal(out[j], imgs[j][:, ::-1, :])
    many = _flip(np.repeat(X[:, :1], 200, axis=1), np.random.RandomState(1))
    flipped = np.count_nonzero((many != X[:, :1]).any(axis=0))
    assert 60 < flipped < 140  # about half


@pytest.mark.parametrize(
    "X,Y,match",
    [
        (np.zeros((10, 4)), np.zeros(4), r"^X must have shape \(n_x, m\) = \(12, m\)"),
        (np.zeros((12, 4)), np.zeros(3), "one label per column"),
        (np.zeros((12, 4)), np.array([0, 1, 2, 1]), "0 \\(non-cat\\) or 1 \\(cat\\)"),
        (np.zeros((12, 0)), np.zeros(0), "no examples"),
    ],
)
def test_bad_data_is_named(X, Y, match) -> None:
    with pytest.raises(DataError, match=match):
        train(X, Y, TrainConfig(layer_dims=(12, 1), iterations=1))


# ---------------------------------------------------------------- BLAS threads


def test_threads_change_nothing_in_the_results() -> None:
    X, Y = _pixels(300, 40)
    for config in (TrainConfig(layer_dims=(300, 6, 1), iterations=150),  # gram
                   TrainConfig(layer_dims=(300, 6, 1), optimizer="adam", epochs=3, batch_size=16)):  # dense
        runs = [train(X, Y, config, threads=n) for n in (1, 2, None)]
        for parameters, history in runs[1:]:
            assert history["costs"] == runs[0][1]["costs"]
            for k in parameters:
                np.testing.assert_array_equal(parameters[k], runs[0][0][k])


def test_threads_hold_while_training_and_are_restored_after() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    X, Y = _pixels(50, 20)
    seen: list[set[int]] = []
    with threadpool_limits(limits=2, user_api="blas"):
        train(X, Y, TrainConfig(layer_dims=(50, 3, 1), iterations=3), on_progress=lambda *_: seen.append(blas_threads()))
        assert blas_threads() == {2}
    assert seen == [{1}] * 3  # the default: one thread


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads_are_a_config_error(threads) -> None:
    with pytest.raises(ConfigError, match="threads must be a positive integer or None"):
        train(*_pixels(50, 4), TrainConfig(layer_dims=(50, 1), iterations=1), threads=threads)


# ---------------------------------------------------------------- saturation


@pytest.mark.parametrize(
    ("config", "match"),
    [
        # the course's 4-layer net at lr 50: every output at 1e-9, the cost stuck at 8
        (TrainConfig(layer_dims=(300, 20, 7, 5, 1), learning_rate=50.0, iterations=300),
         r"every output is pinned at 0 \(it answers non-cat for every example"),
        # lr 0.5: every ReLU dies, the output is the class prior for every example
        (TrainConfig(layer_dims=(300, 20, 7, 5, 1), learning_rate=0.5, iterations=300),
         "the output is the same for every example"),
        (TrainConfig(layer_dims=(300, 20, 7, 5, 1), optimizer="adam", learning_rate=0.5, epochs=10, batch_size=8),
         "the output is the same for every example"),
    ],
    ids=["pinned", "dead", "dead-adam"],
)
def test_a_saturated_run_is_divergence_with_a_smaller_learning_rate(config: TrainConfig, match: str) -> None:
    X, Y = _pixels(300, 40)
    with pytest.raises(TrainingDivergedError, match=match) as e:
        train(X, Y, config)
    assert f"try a smaller learning_rate (got {config.learning_rate})" in str(e.value)


def test_zeros_init_of_a_deep_net_says_to_change_the_init() -> None:
    with pytest.raises(TrainingDivergedError, match="init 'zeros' gives every hidden unit the same weights"):
        train(*_pixels(300, 40), TrainConfig(layer_dims=(300, 4, 1), init="zeros", iterations=150))


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(layer_dims=(300, 20, 7, 5, 1), iterations=300),  # learns
        TrainConfig(layer_dims=(300, 20, 7, 5, 1), learning_rate=1e-7, iterations=300),  # hardly started
        TrainConfig(layer_dims=(300, 4, 1), iterations=1),  # one step says nothing
        TrainConfig(layer_dims=(300, 4, 1), init="zeros", iterations=101),  # nor do two recorded costs
        TrainConfig(layer_dims=(300, 1), init="zeros", learning_rate=1e-9, iterations=2),  # logistic regression
    ],
    ids=["learns", "tiny-step", "one-step", "two-costs", "logistic-zeros"],
)
def test_runs_that_did_not_saturate_pass(config: TrainConfig) -> None:
    train(*_pixels(300, 40), config)


def test_one_class_only_is_not_saturation() -> None:
    X, _ = _pixels(300, 40)
    # every output pinned at the one label is a perfect fit, not a failure
    _, history = train(X, np.ones((1, 40)), TrainConfig(layer_dims=(300, 4, 1), learning_rate=50.0, iterations=300))
    assert history["train_accuracy"] == 1.0


def test_a_cost_that_stopped_no_better_than_the_majority_class_is_divergence() -> None:
    from model_core.training import _check_learned

    Y = np.array([[0, 1] * 10])  # the majority-class cost is ln 2 = 0.6931
    AL = np.full((1, 20), 0.5) + np.linspace(-0.01, 0.01, 20)  # (1, m): depends on the input, barely
    config = TrainConfig(layer_dims=(300, 1), learning_rate=3.0)
    with pytest.raises(TrainingDivergedError, match=r"the cost stopped at 0\.69.*no better than 0\.693147.*\(got 3\.0\)"):
        _check_learned([[0, 0.9], [100, 0.7], [200, 0.695], [299, 0.695]], AL, Y, config)
    # the same costs with outputs that fit the labels: it learned
    _check_learned([[0, 0.9], [100, 0.7], [200, 0.695], [299, 0.695]], np.where(Y == 1, 0.9, 0.1), Y, config)
    # still falling: not stopped
    _check_learned([[0, 0.9], [100, 0.85], [200, 0.8], [299, 0.75]], AL, Y, config)
    # barely moved from the start: a step too small, not saturation
    _check_learned([[0, 0.6932], [100, 0.6932], [200, 0.6931], [299, 0.6931]], AL, Y, config)


@pytest.mark.parametrize("optimizer,field,value", [
    ("momentum", "beta", 0.5), ("rmsprop", "beta2", 0.9), ("rmsprop", "epsilon", 1e-2),
    ("adam", "beta1", 0.5), ("adam", "beta2", 0.9), ("adam", "epsilon", 1e-2),
])
def test_each_optimizer_setting_reaches_the_optimizer(optimizer: str, field: str, value: float) -> None:
    """Mini-batch training with one hyperparameter changed ends elsewhere than with the default."""
    X, Y = _pixels(50, 30)
    base = dict(layer_dims=(50, 4, 1), init="he", optimizer=optimizer, learning_rate=0.01, epochs=2, batch_size=10)
    p_default, _ = train(X, Y, TrainConfig(**base))
    p_changed, _ = train(X, Y, TrainConfig(**base, **{field: value}))
    assert not np.allclose(p_default["W1"], p_changed["W1"], rtol=1e-9, atol=0)


def test_a_float32_step_is_float32_arithmetic() -> None:
    """Full-batch float32 training computes in float32 (its speed and the README's float32
    figures depend on it): one step equals the same step written out in float32, exactly."""
    X, Y = _pixels(100, 30)
    config = TrainConfig(layer_dims=(100, 4, 1), dtype="float32", iterations=1, init="he")
    trained, _ = train(X, Y, config, engine="dense")
    start = initialize_parameters(config.layer_dims, config.init, config.seed, np.float32)
    AL, caches = forward(normalize(X, "scale", np.float32), start)
    grads = backward(AL, Y.astype(np.float32), caches)
    for key, P in start.items():
        np.testing.assert_array_equal(trained[key], P - np.float32(config.learning_rate) * grads["d" + key])


def _images(m: int, symmetric: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """m random 64x64x3 images as pixel columns (12288, m); left-right mirror images of
    themselves if ``symmetric``."""
    rng = np.random.RandomState(seed)
    imgs = rng.randint(0, 256, size=(m, 64, 64, 3)).astype(np.uint8)  # (m, rows, columns, channels)
    if symmetric:
        imgs[:, :, 32:, :] = imgs[:, :, :32, :][:, :, ::-1, :]
    return imgs.reshape(m, -1).T, (np.arange(m) % 2).reshape(1, m)


FLIP_RUN = dict(layer_dims=(12288, 2, 1), init="he", iterations=4, learning_rate=0.01, input_norm="per_image")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_flipping_images_that_are_their_own_mirror_changes_nothing(dtype: str) -> None:
    """Full-batch training with flips, on images a flip leaves alone, is training without:
    so the flipped batch is normalized as the plain one (same norm, same dtype). Up to
    rounding: the flipped copy is laid out otherwise in memory, so its sums run in
    another order."""
    X, Y = _images(6, symmetric=True)
    plain, _ = train(X, Y, TrainConfig(**FLIP_RUN, dtype=dtype), engine="dense")
    flipped, _ = train(X, Y, TrainConfig(**FLIP_RUN, dtype=dtype, augment="flip"))
    tol = 1e-4 if dtype == "float32" else 1e-10
    for key, P in plain.items():
        assert flipped[key].dtype == np.dtype(dtype)
        np.testing.assert_allclose(flipped[key], P, rtol=tol, atol=tol * np.abs(P).max())


def test_full_batch_flips_are_seeded_and_change_training() -> None:
    X, Y = _images(6, symmetric=False)
    # engine="dense" for the plain runs too: the gram engine would differ by its rounding alone
    plain, _ = train(X, Y, TrainConfig(**FLIP_RUN), engine="dense")
    flipped, _ = train(X, Y, TrainConfig(**FLIP_RUN, augment="flip"))
    again, _ = train(X, Y, TrainConfig(**FLIP_RUN, augment="flip"))
    other_seed, _ = train(X, Y, TrainConfig(**FLIP_RUN, augment="flip", seed=2))
    reseeded, _ = train(X, Y, TrainConfig(**FLIP_RUN, seed=2), engine="dense")
    np.testing.assert_array_equal(flipped["W1"], again["W1"])  # the same seed, the same flips
    assert not np.array_equal(flipped["W1"], plain["W1"])  # flips were applied
    # another seed changes the start and the flips: its flip run differs from its plain run too
    assert not np.array_equal(other_seed["W1"], reseeded["W1"])


MINI = dict(layer_dims=(12288, 3, 1), init="he", hidden_activation="tanh", l2=0.7, input_norm="per_image")


def test_one_batch_of_everything_is_one_full_batch_step() -> None:
    """gd over one mini-batch holding all m examples (shuffled) is one full-batch step:
    the batch loop covers every example once, with the config's activation and l2."""
    X, Y = _images(8, symmetric=False)
    full, _ = train(X, Y, TrainConfig(**MINI, iterations=1), engine="dense")
    mini, _ = train(X, Y, TrainConfig(**MINI, epochs=1, batch_size=8))
    for key, P in full.items():
        np.testing.assert_allclose(mini[key], P, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 30])
def test_an_epochs_cost_is_the_cost_over_all_examples(batch_size: int) -> None:
    """With steps too small to move the weights, the epoch's recorded cost (batch costs
    weighted by batch size, plus l2) is the full-batch cost of the starting weights."""
    X, Y = _pixels(50, 30)
    config = TrainConfig(layer_dims=(50, 4, 1), init="he", l2=0.3, hidden_activation="tanh",
                         learning_rate=1e-12, epochs=1, batch_size=batch_size)
    _, history = train(X, Y, config)
    start = initialize_parameters(config.layer_dims, config.init, config.seed)
    AL, _ = forward(normalize(X, "scale"), start, "tanh")
    assert history["costs"][0][1] == pytest.approx(compute_cost(AL, Y, start, 0.3), rel=1e-9)


def test_mini_batch_flips_follow_augment() -> None:
    """Within one epoch (the flips draw from the rng that shuffles the next one), flipping
    mirror-symmetric images changes nothing, and flipping others changes the run."""
    mirror, Y = _images(8, symmetric=True)
    X, _ = _images(8, symmetric=False)
    run = dict(MINI, epochs=1, batch_size=3)
    for data, same in ((mirror, True), (X, False)):
        plain, _ = train(data, Y, TrainConfig(**run))
        flipped, _ = train(data, Y, TrainConfig(**run, augment="flip"))
        assert np.allclose(plain["W1"], flipped["W1"], rtol=1e-9, atol=1e-12) == same
