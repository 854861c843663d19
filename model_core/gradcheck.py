"""Numerical gradient checking by central finite differences."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .backward import backward
from .forward import forward
from .losses import compute_cost


def numerical_gradients(
    X: np.ndarray,
    Y: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    hidden_activation: str = "relu",
    l2: float = 0.0,
    epsilon: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Central differences (J(p + eps) - J(p - eps)) / 2 eps for every parameter entry.

    Slow by design (two forward passes per entry): for checking small networks only.
    """
    params = {k: np.array(v, dtype=np.float64) for k, v in parameters.items()}

    def J() -> float:
        AL, _ = forward(X, params, hidden_activation)
        return compute_cost(AL, Y, params, l2)

    grads: dict[str, np.ndarray] = {}
    for key, P in params.items():
        g = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + epsilon
            plus = J()
            P[idx] = old - epsilon
            minus = J()
            P[idx] = old
            g[idx] = (plus - minus) / (2 * epsilon)
        grads["d" + key] = g
    return grads


def gradient_check(
    X: np.ndarray,
    Y: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    hidden_activation: str = "relu",
    l2: float = 0.0,
    epsilon: float = 1e-6,
) -> float:
    """The course's relative error ||g - g_num|| / (||g|| + ||g_num||) over all parameters.

    Below about 1e-7 in float64 the backward pass is right.
    """
    AL, caches = forward(X, parameters, hidden_activation)
    analytic = backward(AL, Y, caches, l2)
    numeric = numerical_gradients(X, Y, parameters, hidden_activation, l2, epsilon)
    keys = list(analytic)
    g = np.concatenate([analytic[k].ravel() for k in keys])
    n = np.concatenate([numeric[k].ravel() for k in keys])
    return float(np.linalg.norm(g - n) / (np.linalg.norm(g) + np.linalg.norm(n)))
