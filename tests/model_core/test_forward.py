"""forward(), compute_cost(), predict(): shapes and values against direct formulas."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import compute_cost, forward, initialize_parameters, predict, predict_proba
from model_core.activations import BACKWARD, FORWARD, sigmoid
from model_core.errors import ConfigError
from model_core.losses import cost_from_logits


def test_forward_shapes_and_caches() -> None:
    dims = [12, 5, 3, 1]
    parameters = initialize_parameters(dims, "course", seed=1)
    X = np.random.RandomState(0).rand(12, 7)
    AL, caches = forward(X, parameters)
    assert AL.shape == (1, 7)
    assert [c.Z.shape for c in caches] == [(5, 7), (3, 7), (1, 7)]
    assert [c.activation for c in caches] == ["relu", "relu", "sigmoid"]
    assert caches[0].A_prev is X


def test_forward_equals_a_per_example_reference() -> None:
    # an independent implementation: one example at a time, written out
    dims = [6, 4, 3, 1]
    parameters = initialize_parameters(dims, "he", seed=3)
    parameters["b1"] += 0.3
    X = np.random.RandomState(1).randn(6, 5)
    AL, _ = forward(X, parameters, "tanh")
    for j in range(5):
        a = X[:, j]
        a = np.tanh(parameters["W1"] @ a + parameters["b1"][:, 0])
        a = np.tanh(parameters["W2"] @ a + parameters["b2"][:, 0])
        z = parameters["W3"] @ a + parameters["b3"][:, 0]
        assert AL[0, j] == pytest.approx(1 / (1 + np.exp(-z[0])), rel=1e-13)


def test_sigmoid_is_stable_at_the_extremes() -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = sigmoid(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    assert s[1] == pytest.approx(np.exp(-30.0), rel=1e-12)


@pytest.mark.parametrize("name", sorted(FORWARD))
def test_activation_derivatives_match_differences(name: str) -> None:
    Z = np.linspace(-3, 3, 13) + 0.05  # avoid relu's kink at 0
    h = 1e-6
    numeric = (FORWARD[name](Z + h) - FORWARD[name](Z - h)) / (2 * h)
    np.testing.assert_allclose(BACKWARD[name](np.ones_like(Z), Z), numeric, rtol=1e-6, atol=1e-9)


def test_cost_values() -> None:
    Y = np.array([[1, 0, 1, 0]])
    assert compute_cost(np.full((1, 4), 0.5), Y) == pytest.approx(np.log(2), rel=1e-15)
    AL = np.array([[0.9, 0.2, 0.6, 0.1]])
    expected = -np.mean([np.log(0.9), np.log(0.8), np.log(0.6), np.log(0.9)])
    assert compute_cost(AL, Y) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cost_is_finite_when_the_output_saturates(dtype: type) -> None:
    """Clipped inside (0, 1) in the output's own precision: 1 - eps of float64 is 1.0 in float32."""
    Y = np.array([[1, 0]])
    cost = compute_cost(np.array([[0.0, 1.0]], dtype=dtype), Y)
    assert np.isfinite(cost) and cost > 15


def test_a_saturated_float32_output_is_clipped_in_float32() -> None:
    """Clipped to [tiny, 1 - epsneg] of float32: the cost of a certain wrong answer is that
    of float32's extremes, not of float64's (which float32 cannot hold)."""
    f = np.finfo(np.float32)
    expected = -(np.log(np.float64(f.tiny)) + np.log(np.float64(f.epsneg))) / 2
    cost = compute_cost(np.array([[0.0, 1.0]], dtype=np.float32), np.array([[1, 0]]))
    assert cost == pytest.approx(expected, rel=1e-3)


def test_l2_without_parameters_adds_nothing() -> None:
    AL, Y = np.array([[0.7, 0.4]]), np.array([[1, 0]])
    assert compute_cost(AL, Y, l2=0.5) == compute_cost(AL, Y)


def test_hard_integer_predictions_cost_as_float64() -> None:
    cost = compute_cost(np.array([[0, 1]]), np.array([[1, 0]]))
    assert cost == compute_cost(np.array([[0.0, 1.0]]), np.array([[1, 0]]))


def test_parameters_without_l2_add_no_penalty() -> None:
    parameters = initialize_parameters([3, 2, 1], "he", seed=0)
    AL, Y = np.array([[0.7, 0.4]]), np.array([[1, 0]])
    assert compute_cost(AL, Y, parameters) == compute_cost(AL, Y)


def test_flat_labels_cost_the_same() -> None:
    Z, Y = np.array([[-3.0, -0.5, 0.2, 4.0]]), np.array([[0, 1, 1, 0]])
    assert compute_cost(sigmoid(Z), Y.ravel()) == compute_cost(sigmoid(Z), Y)
    assert cost_from_logits(Z, Y.ravel()) == cost_from_logits(Z, Y)


def test_cost_with_l2_adds_the_course_penalty() -> None:
    parameters = initialize_parameters([3, 2, 1], "he", seed=0)
    AL, Y = np.array([[0.7, 0.4]]), np.array([[1, 0]])
    penalty = 0.3 / (2 * 2) * sum(np.sum(parameters[k] ** 2) for k in ("W1", "W2"))
    assert compute_cost(AL, Y, parameters, l2=0.3) == pytest.approx(compute_cost(AL, Y) + penalty, rel=1e-14)


def test_cost_from_logits_equals_cost_from_probabilities() -> None:
    Z = np.array([[-3.0, -0.5, 0.2, 4.0]])
    Y = np.array([[0, 1, 1, 0]])
    assert cost_from_logits(Z, Y) == pytest.approx(compute_cost(sigmoid(Z), Y), rel=1e-13)


def test_predict_thresholds_and_applies_the_input_norm() -> None:
    parameters = initialize_parameters([4, 3, 1], "he", seed=5)
    pixels = np.random.RandomState(2).randint(0, 256, (4, 10)).astype(np.uint8)
    P = predict_proba(pixels, parameters, input_norm="scale")
    np.testing.assert_allclose(P, forward(pixels / 255, parameters)[0], rtol=1e-15)
    assert predict(pixels, parameters, threshold=0.5, input_norm="scale").tolist() == (P > 0.5).astype(int).tolist()
    assert predict(pixels, parameters, threshold=1.0, input_norm="scale").sum() == 0


def test_unknown_activation_lists_the_valid_ones() -> None:
    parameters = initialize_parameters([2, 1], "zeros")
    with pytest.raises(ConfigError, match="relu, tanh, sigmoid, leaky_relu; got 'gelu'"):
        forward(np.zeros((2, 1)), parameters, "gelu")


def test_predict_is_predict_proba_above_one_half_with_every_option_passed_on() -> None:
    """predict's defaults and arguments reach predict_proba: the threshold 0.5, the hidden
    activation, the input norm, and the parameters' dtype (float32 stays float32)."""
    rng = np.random.RandomState(7)
    parameters = {k: v.astype(np.float32) for k, v in initialize_parameters([6, 5, 1], "xavier", seed=4).items()}
    pixels = rng.randint(0, 256, (6, 40)).astype(np.uint8)
    P = predict_proba(pixels, parameters, "tanh", "per_image")
    # the same written out: per-image standardization, then tanh, then sigmoid
    Xf = pixels.astype(np.float32)
    Xn = (Xf - Xf.mean(axis=0)) / np.maximum(Xf.std(axis=0), 1.0)
    A1 = np.tanh(parameters["W1"] @ Xn + parameters["b1"])
    expected = 1 / (1 + np.exp(-(parameters["W2"] @ A1 + parameters["b2"])))
    assert P.dtype == np.float32
    np.testing.assert_allclose(P, expected, rtol=1e-5)
    labels = predict(pixels, parameters, hidden_activation="tanh", input_norm="per_image")
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, (P > 0.5).astype(np.int64))
    assert 0 < labels.sum() < labels.size  # both answers occur, so the threshold is exercised
