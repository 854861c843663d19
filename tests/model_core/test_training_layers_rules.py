"""train_layers, one step at a time: the step is the optimizer's on the gradient with L2
and weight decay, the recorded cost is the mean cross-entropy plus both penalties, and
progress reports each step out of the total."""
from __future__ import annotations

import numpy as np

from model_core import TrainConfig
from model_core.architecture import check_architecture
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
