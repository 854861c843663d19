"""Every new layer's backward against central finite differences, alone and stacked, float64.

Alone: J = sum(G * layer(A)) for a fixed random G, so dJ/dA = the layer's backward of G,
and dJ/dW, dJ/db for conv2d. Stacked: gradient_check_layers over whole architectures.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from model_core.architecture import check_architecture, parameter_shapes
from model_core.conv import conv_backward, conv_forward
from model_core.gradcheck import _differences, gradient_check_layers
from model_core.initializers import initialize_layers
from model_core.network import backward_layers, forward_layers, layers_cost
from model_core.pooling import (
    global_avg_pool_backward,
    global_avg_pool_forward,
    pool_backward,
    pool_forward,
)

TOL = 1e-7
EPS = 1e-6


def relative_error(g: np.ndarray, n: np.ndarray) -> float:
    return float(np.linalg.norm(g - n) / (np.linalg.norm(g) + np.linalg.norm(n)))


def numeric(J: Callable[[], float], P: np.ndarray) -> np.ndarray:
    """Central differences of J() with respect to every entry of P (moved in place, put back)."""
    return _differences(J, {"P": P}, EPS)["dP"]


CONV_CASES = [  # (m, n_H, n_W, n_C_prev, n_C, f, stride, pad)
    (2, 5, 5, 3, 4, 3, 1, 1),
    (2, 7, 6, 2, 3, 3, 2, 1),
    (1, 6, 6, 2, 2, 5, 1, 2),
    (2, 5, 7, 3, 2, 2, 2, 0),
    (2, 4, 4, 3, 2, 1, 1, 0),
    (1, 8, 8, 2, 3, 4, 3, 2),
    (1, 5, 6, 8, 2, 3, 2, 1),  # 8 channels and more take im2col's other copy
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "f{5}s{6}p{7}".format(*c))
def test_conv2d_alone(case) -> None:
    m, n_H, n_W, n_C_prev, n_C, f, stride, pad = case
    rng = np.random.RandomState(sum(case))
    A = rng.randn(m, n_H, n_W, n_C_prev)
    W = rng.randn(f, f, n_C_prev, n_C)
    b = rng.randn(1, 1, 1, n_C)
    Z, cache = conv_forward(A, W, b, stride, pad)
    G = rng.randn(*Z.shape)
    dA, dW, db = conv_backward(G, cache)

    def J() -> float:
        return float(np.sum(G * conv_forward(A, W, b, stride, pad)[0]))

    for analytic, P in ((dA, A), (dW, W), (db, b)):
        assert analytic.shape == P.shape
        assert relative_error(analytic, numeric(J, P)) < TOL


@pytest.mark.parametrize("n_C_prev", [3, 9])
def test_conv2d_forward_equals_the_course_loop(n_C_prev: int) -> None:
    # an independent implementation: the course's conv_single_step over every example and pixel
    rng = np.random.RandomState(3)
    m, n_H_prev, n_W_prev, n_C, f, stride, pad = 2, 7, 6, 4, 3, 2, 1
    A_prev = rng.randn(m, n_H_prev, n_W_prev, n_C_prev)
    W, b = rng.randn(f, f, n_C_prev, n_C), rng.randn(1, 1, 1, n_C)
    Z, _ = conv_forward(A_prev, W, b, stride, pad)
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    n_H, n_W = (n_H_prev + 2 * pad - f) // stride + 1, (n_W_prev + 2 * pad - f) // stride + 1
    assert Z.shape == (m, n_H, n_W, n_C)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    window = A_pad[i, h * stride : h * stride + f, w * stride : w * stride + f, :]
                    assert Z[i, h, w, c] == pytest.approx(np.sum(window * W[..., c]) + b[0, 0, 0, c], rel=1e-12)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(("f", "stride"), [(2, 2), (3, 2), (3, 1), (2, 1)])
def test_pooling_alone(mode: str, f: int, stride: int) -> None:
    rng = np.random.RandomState(f * 10 + stride)
    A = rng.randn(2, 7, 6, 3)
    out, cache = pool_forward(A, f, stride, mode)
    G = rng.randn(*out.shape)
    dA = pool_backward(G, cache)

    def J() -> float:
        return float(np.sum(G * pool_forward(A, f, stride, mode)[0]))

    assert dA.shape == A.shape
    assert relative_error(dA, numeric(J, A)) < TOL


def test_pooling_forward_equals_the_course_loop() -> None:
    rng = np.random.RandomState(4)
    A = rng.randn(2, 7, 7, 3)
    for mode, reduce in (("max", np.max), ("average", np.mean)):
        out, _ = pool_forward(A, 3, 2, mode)
        for h in range(3):
            for w in range(3):
                np.testing.assert_allclose(out[:, h, w, :], reduce(A[:, 2 * h : 2 * h + 3, 2 * w : 2 * w + 3, :],
                                                                   axis=(1, 2)), rtol=1e-13)


def test_max_pool_gives_a_tied_window_one_gradient() -> None:
    # after a ReLU a window is often all zeros: its gradient must be counted once, not f*f times
    A = np.zeros((1, 2, 2, 1))
    out, cache = pool_forward(A, 2, 2, "max")
    dA = pool_backward(np.ones_like(out), cache)
    assert dA.sum() == 1.0 and dA[0, 0, 0, 0] == 1.0


def test_global_avg_pool_alone() -> None:
    rng = np.random.RandomState(5)
    A = rng.randn(3, 4, 5, 2)
    G = rng.randn(2, 3)
    dA = global_avg_pool_backward(G, A.shape)
    np.testing.assert_allclose(global_avg_pool_forward(A)[:, 1], A[1].mean(axis=(0, 1)), rtol=1e-13)
    assert relative_error(np.asarray(dA), numeric(lambda: float(np.sum(G * global_avg_pool_forward(A))), A)) < TOL


def arch(*layers: dict, n_H: int = 6, n_W: int = 6, n_C: int = 3) -> list[dict]:
    return check_architecture([{"type": "input", "n_H": n_H, "n_W": n_W, "n_C": n_C}, *layers,
                               {"type": "dense", "n": 1, "activation": "sigmoid"}])


def problem(specs: list[dict], m: int = 4, seed: int = 0):
    rng = np.random.RandomState(seed)
    first = specs[0]
    A0 = rng.randn(m, first["n_H"], first["n_W"], first["n_C"])
    Y = np.array([[1, 0, 1, 0, 1, 1, 0, 0][:m]], dtype=np.float64)
    parameters = initialize_layers(parameter_shapes(specs), "he", seed=seed + 1)
    for key in parameters:
        if key.startswith("b"):  # non-zero biases exercise db and move ReLU kinks off 0
            parameters[key] = rng.randn(*parameters[key].shape) * 0.1
    return A0, Y, parameters


CONV = {"type": "conv2d", "n_C": 3, "f": 3, "stride": 1, "pad": 1}
STACKS = {
    "conv-dense": arch(CONV, {"type": "flatten"}),
    "conv-maxpool-conv-stride2-gap": arch(CONV, {"type": "max_pool", "f": 2, "stride": 2},
                                          {"type": "conv2d", "n_C": 4, "f": 3, "stride": 2, "pad": 1},
                                          {"type": "global_avg_pool"}),
    "conv-avgpool-flatten-dense-dense": arch({**CONV, "activation": "tanh"}, {"type": "avg_pool", "f": 2, "stride": 2},
                                             {"type": "flatten"}, {"type": "dense", "n": 5, "activation": "relu"}),
    "conv-overlapping-pool-conv-f1": arch({"type": "conv2d", "n_C": 2, "f": 2, "stride": 1, "pad": 0},
                                          {"type": "max_pool", "f": 3, "stride": 1},
                                          {"type": "conv2d", "n_C": 3, "f": 1, "stride": 1, "pad": 0},
                                          {"type": "flatten"}, n_H=7, n_W=5),
    "the photos recipe, small": arch(CONV, {"type": "max_pool", "f": 2, "stride": 2},
                                     {**CONV, "n_C": 4}, {"type": "global_avg_pool"},
                                     {"type": "dropout", "keep_prob": 0.7}),
}


@pytest.mark.parametrize("name", sorted(STACKS))
@pytest.mark.parametrize(("l2", "weight_decay"), [(0.0, 0.0), (0.3, 0.01)])
def test_stacked_layers(name: str, l2: float, weight_decay: float) -> None:
    specs = STACKS[name]
    A0, Y, parameters = problem(specs)
    seed = 7 if any(s["type"] == "dropout" for s in specs) else None
    assert gradient_check_layers(A0, Y, parameters, specs, l2, weight_decay, dropout_seed=seed) < TOL


def test_dropout_masks_the_gradient_it_masks_the_activation() -> None:
    specs = STACKS["the photos recipe, small"]
    A0, Y, parameters = problem(specs, m=8)
    assert gradient_check_layers(A0, Y, parameters, specs, dropout_seed=11) < TOL
    _, caches = forward_layers(A0, parameters, specs, np.random.RandomState(11))
    D = next(c.data for c in caches if c.spec["type"] == "dropout")
    assert set(np.unique(D)) <= {0.0, 1 / 0.7} and (D == 0).any()
    _, caches = forward_layers(A0, parameters, specs)  # prediction: no mask
    assert next(c.data for c in caches if c.spec["type"] == "dropout") is None


def test_the_check_detects_a_wrong_gradient() -> None:
    # the comparison itself must be able to fail: dW1 off by 1% of its size in one entry
    specs = STACKS["conv-maxpool-conv-stride2-gap"]
    A0, Y, parameters = problem(specs)
    AL, caches = forward_layers(A0, parameters, specs)
    dW1 = backward_layers(AL, Y, caches)["dW1"]
    W1 = np.array(parameters["W1"])
    numeric_dW1 = numeric(lambda: layers_cost(forward_layers(A0, {**parameters, "W1": W1}, specs)[0], Y, parameters), W1)
    assert relative_error(dW1, numeric_dW1) < TOL
    dW1[0, 0, 0, 0] += 0.01 * np.linalg.norm(dW1)
    assert relative_error(dW1, numeric_dW1) > 1e-3


def test_gradients_keys_shapes_and_dtype() -> None:
    specs = STACKS["conv-avgpool-flatten-dense-dense"]
    A0, Y, parameters = problem(specs)
    p32 = {k: v.astype(np.float32) for k, v in parameters.items()}
    AL, caches = forward_layers(A0.astype(np.float32), p32, specs)
    grads = backward_layers(AL, Y, caches, weight_decay=1e-4)
    assert list(grads) == ["d" + k for k in parameters]
    for key, P in p32.items():
        assert grads["d" + key].shape == P.shape and grads["d" + key].dtype == np.float32
    AL64, _ = forward_layers(A0, parameters, specs)
    np.testing.assert_allclose(AL, AL64, rtol=1e-5)
