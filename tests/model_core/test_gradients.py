"""backward() against central finite differences, for every activation, depth and l2."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import backward, forward, gradient_check, initialize_parameters, numerical_gradients
from model_core.activations import HIDDEN_ACTIVATIONS

DIMS = {1: [6, 1], 2: [6, 4, 1], 4: [6, 5, 4, 3, 1]}


def _problem(layer_dims: list[int], seed: int = 0):
    rng = np.random.RandomState(seed)
    X = rng.randn(layer_dims[0], 9)
    Y = (rng.rand(1, 9) > 0.5).astype(np.float64)
    parameters = initialize_parameters(layer_dims, "he", seed=seed + 1)
    for key in parameters:
        if key.startswith("b"):  # non-zero biases exercise db too
            parameters[key] = rng.randn(*parameters[key].shape) * 0.1
    return X, Y, parameters


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("L", sorted(DIMS))
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_backward_matches_finite_differences(activation: str, L: int, l2: float) -> None:
    X, Y, parameters = _problem(DIMS[L])
    assert gradient_check(X, Y, parameters, activation, l2) < 1e-7


def test_gradient_check_detects_a_wrong_gradient() -> None:
    # the check itself must be able to fail: a gradient off by 1% in one entry
    X, Y, parameters = _problem(DIMS[2])
    AL, caches = forward(X, parameters, "tanh")
    grads = backward(AL, Y, caches)
    numeric = numerical_gradients(X, Y, parameters, "tanh")
    grads["dW1"][0, 0] *= 1.01
    g = np.concatenate([v.ravel() for v in grads.values()])
    n = np.concatenate([numeric[k].ravel() for k in grads])
    assert np.linalg.norm(g - n) / (np.linalg.norm(g) + np.linalg.norm(n)) > 1e-5


def test_gradients_have_the_parameters_shapes_and_keys() -> None:
    X, Y, parameters = _problem(DIMS[4])
    AL, caches = forward(X, parameters)
    grads = backward(AL, Y, caches, l2=0.1)
    assert list(grads) == ["d" + k for k in parameters]
    for key, P in parameters.items():
        assert grads["d" + key].shape == P.shape
