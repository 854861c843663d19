"""Each optimizer's step equals its formula, computed here independently."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.errors import ConfigError
from model_core.optimizers import Adam, GradientDescent, Momentum, RMSprop, make_optimizer


def _params_and_grads(seed: int = 0):
    rng = np.random.RandomState(seed)
    params = {"W1": rng.randn(3, 4), "b1": rng.randn(3, 1), "W2": rng.randn(1, 3), "b2": rng.randn(1, 1)}
    grads = [{"d" + k: rng.randn(*v.shape) for k, v in params.items()} for _ in range(3)]
    return params, grads


def test_gradient_descent() -> None:
    params, grads = _params_and_grads()
    expected = {k: v - 0.1 * grads[0]["d" + k] for k, v in params.items()}
    GradientDescent(0.1).step(params, grads[0])
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-15)


def test_momentum_over_three_steps() -> None:
    params, grads = _params_and_grads()
    lr, beta = 0.05, 0.8
    expected = {k: v.copy() for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    opt = Momentum(lr, beta)
    for g in grads:
        for k in expected:
            v[k] = beta * v[k] + (1 - beta) * g["d" + k]
            expected[k] = expected[k] - lr * v[k]
        opt.step(params, g)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-13)


def test_rmsprop_over_three_steps() -> None:
    params, grads = _params_and_grads(1)
    lr, beta2, eps = 0.01, 0.9, 1e-8
    expected = {k: v.copy() for k, v in params.items()}
    s = {k: np.zeros_like(p) for k, p in params.items()}
    opt = RMSprop(lr, beta2, eps)
    for g in grads:
        for k in expected:
            s[k] = beta2 * s[k] + (1 - beta2) * g["d" + k] ** 2
            expected[k] = expected[k] - lr * g["d" + k] / (np.sqrt(s[k]) + eps)
        opt.step(params, g)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-13)


def test_adam_with_bias_correction_over_three_steps() -> None:
    params, grads = _params_and_grads(2)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    expected = {k: v.copy() for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    s = {k: np.zeros_like(p) for k, p in params.items()}
    opt = Adam(lr, b1, b2, eps)
    for t, g in enumerate(grads, start=1):
        for k in expected:
            v[k] = b1 * v[k] + (1 - b1) * g["d" + k]
            s[k] = b2 * s[k] + (1 - b2) * g["d" + k] ** 2
            v_hat = v[k] / (1 - b1**t)
            s_hat = s[k] / (1 - b2**t)
            expected[k] = expected[k] - lr * v_hat / (np.sqrt(s_hat) + eps)
        opt.step(params, g)
    assert opt.t == 3
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12)


def test_unknown_optimizer_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="gd, momentum, rmsprop, adam; got 'sgd'") as info:
        make_optimizer("sgd", 0.1)
    assert info.value.field == "optimizer"



@pytest.mark.parametrize("cls,course_values", [
    (Momentum, (0.9,)),  # beta
    (RMSprop, (0.999, 1e-8)),  # beta2, epsilon
    (Adam, (0.9, 0.999, 1e-8)),  # beta1, beta2, epsilon
])
def test_the_defaults_are_the_course_values(cls: type, course_values: tuple[float, ...]) -> None:
    """An optimizer made with a learning rate alone steps as the course's hyperparameters."""
    params, grads = _params_and_grads(3)
    expected = {k: v.copy() for k, v in params.items()}
    by_default, spelt_out = cls(0.01), cls(0.01, *course_values)
    for g in grads:  # three steps: Adam's bias correction depends on the step count
        spelt_out.step(expected, g)
        by_default.step(params, g)
    for k in params:
        np.testing.assert_array_equal(params[k], expected[k])


@pytest.mark.parametrize("name,build", [
    ("gd", lambda lr, beta, beta1, beta2, eps: GradientDescent(lr)),
    ("momentum", lambda lr, beta, beta1, beta2, eps: Momentum(lr, beta)),
    ("rmsprop", lambda lr, beta, beta1, beta2, eps: RMSprop(lr, beta2, eps)),
    ("adam", lambda lr, beta, beta1, beta2, eps: Adam(lr, beta1, beta2, eps)),
])
def test_make_optimizer_passes_each_hyperparameter_to_its_optimizer(name: str, build) -> None:
    """By name, with the course's defaults or with other values, the same steps as the class."""
    course = (0.9, 0.9, 0.999, 1e-8)  # beta, beta1, beta2, epsilon
    other = (0.5, 0.7, 0.95, 1e-3)
    for made, values in ((make_optimizer(name, 0.01), course), (make_optimizer(name, 0.01, *other), other)):
        assert type(made) is type(build(0.01, *values))
        params, grads = _params_and_grads(5)
        expected = {k: v.copy() for k, v in params.items()}
        reference = build(0.01, *values)
        for g in grads:
            reference.step(expected, g)
            made.step(params, g)
        for k in params:
            np.testing.assert_array_equal(params[k], expected[k])
