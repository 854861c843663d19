"""backward() against central finite differences, for every activation, depth and l2."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import backward, forward, gradient_check, initialize_parameters, numerical_gradients
from model_core.activations import BACKWARD, HIDDEN_ACTIVATIONS
from model_core.backward import backward_from

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


def test_the_defaults_check_the_course_network_relu_without_l2() -> None:
    """Called with no options, the finite differences are those of a relu network without
    l2, taken with a small step: they match backward's relu gradients."""
    X, Y, parameters = _problem(DIMS[2], seed=4)
    AL, caches = forward(X, parameters, "relu")
    analytic = backward(AL, Y, caches)  # its default too: no l2
    numeric = numerical_gradients(X, Y, parameters)
    for key, g in analytic.items():
        np.testing.assert_allclose(numeric[key], g, rtol=1e-5, atol=1e-8)
    assert gradient_check(X, Y, parameters) == gradient_check(X, Y, parameters, "relu", 0.0, 1e-6)


def test_gradient_check_is_the_relative_error_of_the_two_gradients() -> None:
    X, Y, parameters = _problem(DIMS[2], seed=5)
    AL, caches = forward(X, parameters, "tanh")
    analytic, numeric = backward(AL, Y, caches), numerical_gradients(X, Y, parameters, "tanh")
    g = np.concatenate([v.ravel() for v in analytic.values()])
    n = np.concatenate([numeric[k].ravel() for k in analytic])
    expected = np.linalg.norm(g - n) / (np.linalg.norm(g) + np.linalg.norm(n))
    assert gradient_check(X, Y, parameters, "tanh") == pytest.approx(expected, rel=1e-9)


def test_float32_parameters_are_differenced_in_float64() -> None:
    """A step of 1e-6 is below float32's resolution around 1: the differences must be taken
    on float64 copies, or they are noise."""
    X, Y, parameters = _problem(DIMS[2], seed=6)
    as32 = {k: v.astype(np.float32) for k, v in parameters.items()}
    exact = numerical_gradients(X, Y, {k: v.astype(np.float64) for k, v in as32.items()}, "tanh")
    numeric = numerical_gradients(X, Y, as32, "tanh")
    for key, g in exact.items():
        assert numeric[key].dtype == np.float64
        np.testing.assert_allclose(numeric[key], g, rtol=1e-6, atol=1e-9)
    assert as32["W1"].dtype == np.float32  # the caller's arrays are left alone


def test_labels_of_any_integer_layout_give_the_same_gradients_in_the_outputs_dtype() -> None:
    """Y as uint8 labels, flat (m,) or (1, m): the gradients are those of float labels
    (1, m), in the dtype of the network (float32 stays float32)."""
    X, Y, parameters = _problem(DIMS[2], seed=7)
    as32 = {k: v.astype(np.float32) for k, v in parameters.items()}
    AL, caches = forward(X.astype(np.float32), as32)
    reference = backward(AL, Y.astype(np.float32), caches)
    for labels in (Y.astype(np.uint8), Y.astype(np.uint8).ravel()):
        grads = backward(AL, labels, caches)
        for key, g in reference.items():
            assert grads[key].dtype == np.float32
            np.testing.assert_array_equal(grads[key], g)


def test_backward_from_a_middle_layer_hands_down_the_gradient_below() -> None:
    """Started at layer 2, backward_from gives layers 2..L's gradients and dA^[1]; the chain
    rule through layer 1 then gives backward's dW1."""
    X, Y, parameters = _problem(DIMS[4], seed=8)
    AL, caches = forward(X, parameters, "tanh")
    full = backward(AL, Y, caches)
    m = X.shape[1]
    upper, dA1 = backward_from(AL - Y, caches[1:], first_layer=2, l2=0.0, m=m, want_dA=True)
    assert list(upper) == [k for k in full if k not in ("dW1", "db1")]
    for key, g in upper.items():
        np.testing.assert_allclose(g, full[key], rtol=1e-12)
    assert dA1 is not None
    dZ1 = BACKWARD["tanh"](dA1, caches[0].Z)
    np.testing.assert_allclose(dZ1 @ X.T / m, full["dW1"], rtol=1e-12)


@pytest.mark.parametrize("L", sorted(DIMS))
def test_the_gradient_of_x_is_not_computed_unless_asked(L: int) -> None:
    X, Y, parameters = _problem(DIMS[L])
    AL, caches = forward(X, parameters)
    _, dA0 = backward_from(AL - Y, caches, first_layer=1, l2=0.0, m=X.shape[1], want_dA=False)
    assert dA0 is None


def test_the_step_of_the_check_is_its_epsilon() -> None:
    """A coarse step gives a coarser check: epsilon reaches the finite differences."""
    X, Y, parameters = _problem(DIMS[2], seed=9)
    fine = gradient_check(X, Y, parameters, "tanh", epsilon=1e-6)
    coarse = gradient_check(X, Y, parameters, "tanh", epsilon=0.3)
    assert fine < 1e-7 < coarse
