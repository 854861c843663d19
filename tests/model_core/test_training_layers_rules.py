"""train_layers, one step at a time: the step is the optimizer's on the gradient with L2
and weight decay, the recorded cost is the mean cross-entropy plus both penalties, and
progress reports each step out of the total."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import TrainConfig
from model_core.architecture import check_architecture
from model_core.errors import TrainingCancelled
from model_core.losses import l2_penalty
from model_core.network import backward_layers, forward_layers, layers_cost
from model_core.training_layers import train_layers

SPECS = [{"type": "input", "n_H": 2, "n_W": 2, "n_C": 1}, {"type": "flatten"},
         {"type": "dense", "n": 3, "activation": "tanh"}, {"type": "dense", "n": 1, "activation": "sigmoid"}]


def setup() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.RandomState(4)
    X = rng.randint(0, 256, size=(4, 6)).astype(np.uint8)
    Y = np.array([[0, 1, 1, 0, 1, 0]])
    params = {"W1": rng.randn(3, 4), "b1": rng.randn(3, 1), "W2": rng.randn(1, 3), "b2": rng.randn(1, 1)}
    return X, Y, params


def test_one_step_is_gradient_descent_with_l2_and_weight_decay_and_its_cost_has_both_penalties() -> None:
    X, Y, params = setup()
    config = TrainConfig(architecture=SPECS, iterations=1, learning_rate=0.1, l2=0.5, weight_decay=0.01)
    specs = check_architecture(SPECS)
    A0 = (X.T / 255).reshape(6, 2, 2, 1)
    AL, caches = forward_layers(A0, params, specs)
    cross_entropy = layers_cost(AL, Y.astype(float), params)
    grads = backward_layers(AL, Y.astype(float), caches, 0.5, 0.01)
    expected = {k: v - 0.1 * grads[f"d{k}"] for k, v in params.items()}

    progress: list[tuple[int, int, float]] = []
    costs = train_layers(X, Y, config, params, lambda i, total, cost: progress.append((i, total, cost)), None)
    for k in expected:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12)
    cost = cross_entropy + l2_penalty(params, 0.5, 6) + l2_penalty(params, 0.01, 1)
    assert costs == [[0, cost]]
    assert progress == [(1, 1, cost)]
    # without either penalty the cost is the cross-entropy alone, and the step the plain one
    X, Y, params = setup()
    assert train_layers(X, Y, TrainConfig(architecture=SPECS, iterations=1), params, None, None) == [[0, cross_entropy]]


def test_adam_takes_the_configured_epsilon() -> None:
    runs = []
    for epsilon in (1e-8, 1.0):
        X, Y, params = setup()
        config = TrainConfig(architecture=SPECS, iterations=2, optimizer="adam", learning_rate=0.01, epsilon=epsilon)
        train_layers(X, Y, config, params, None, None)
        runs.append(params["W1"])
    assert not np.allclose(runs[0], runs[1])


def trained(**fields: object) -> dict[str, np.ndarray]:
    X, Y, params = setup()
    specs = fields.pop("architecture", SPECS)
    config = TrainConfig(architecture=specs, learning_rate=0.5, **fields)  # type: ignore[arg-type]
    train_layers(X, Y, config, params, None, None)
    return params


def differ(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return any(not np.allclose(a[k], b[k]) for k in a)


def test_flips_and_shifts_and_dropout_change_what_is_trained_on() -> None:
    base = trained(iterations=3)
    assert differ(trained(iterations=3, augment="flip"), base)
    assert differ(trained(iterations=3, shift=1), base)
    with_dropout = [*SPECS[:3], {"type": "dropout", "keep_prob": 0.5}, SPECS[3]]
    assert differ(trained(iterations=3, architecture=with_dropout),
                  trained(iterations=3, architecture=[*SPECS[:3], {"type": "dropout", "keep_prob": 1.0}, SPECS[3]]))


def test_mini_batches_are_shuffled_by_the_seed_and_full_batch_ignores_batch_size() -> None:
    assert differ(trained(epochs=1, batch_size=2, seed=1), trained(epochs=1, batch_size=2, seed=2))
    full = trained(iterations=2, batch_size=64)
    np.testing.assert_allclose(trained(iterations=2, batch_size=2)["W1"], full["W1"], rtol=1e-12)


def test_an_epochs_cost_is_over_all_examples_with_l2_over_the_batch_size() -> None:
    # a learning rate of 1e-12: the weights barely move, so the epoch's cost is the cost of
    # all 6 examples, whatever the batches (4, then 2), plus L2 over the batch size (the course's)
    X, Y, params = setup()
    specs = check_architecture(SPECS)
    AL, _ = forward_layers((X.T / 255).reshape(6, 2, 2, 1), params, specs)
    expected = layers_cost(AL, Y.astype(float), params) + l2_penalty(params, 0.5, 4)
    config = TrainConfig(architecture=SPECS, epochs=1, batch_size=4, learning_rate=1e-12, l2=0.5)
    [[step, cost]] = train_layers(X, Y, config, params, None, None)
    assert step == 0
    np.testing.assert_allclose(cost, expected, rtol=1e-9)


def test_momentum_takes_the_configured_beta() -> None:
    assert differ(trained(iterations=3, optimizer="momentum", beta=0.5),
                  trained(iterations=3, optimizer="momentum", beta=0.9))


def test_a_cancel_names_the_step_it_stopped_before() -> None:
    X, Y, params = setup()
    asked = iter([False, False, True])
    with pytest.raises(TrainingCancelled) as caught:
        train_layers(X, Y, TrainConfig(architecture=SPECS, iterations=5), params, None, lambda: next(asked))
    assert caught.value.args == (2,)
