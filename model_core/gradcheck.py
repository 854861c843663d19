"""Numerical gradient checking by central finite differences."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .architecture import Spec
from .backward import backward
from .forward import forward
from .losses import compute_cost
from .network import backward_layers, forward_layers, layers_cost

__all__ = ["gradient_check", "gradient_check_layers", "numerical_gradients"]


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

    return _differences(J, params, epsilon)


def _differences(J: Callable[[], float], params: dict[str, np.ndarray], epsilon: float) -> dict[str, np.ndarray]:
    """Central differences of ``J()``, which reads ``params``: each entry is moved and put back."""
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


def _relative_error(analytic: Mapping[str, np.ndarray], numeric: Mapping[str, np.ndarray]) -> float:
    keys = list(analytic)
    g = np.concatenate([analytic[k].ravel() for k in keys])
    n = np.concatenate([numeric[k].ravel() for k in keys])
    return float(np.linalg.norm(g - n) / (np.linalg.norm(g) + np.linalg.norm(n)))


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
    return _relative_error(analytic, numerical_gradients(X, Y, parameters, hidden_activation, l2, epsilon))


def gradient_check_layers(
    A0: np.ndarray,
    Y: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    specs: Sequence[Spec],
    l2: float = 0.0,
    weight_decay: float = 0.0,
    dropout_seed: int | None = None,
    epsilon: float = 1e-6,
) -> float:
    """The same relative error for an architecture (network.py) on images ``A0`` (m, n_H, n_W, n_C).

    With ``dropout_seed`` every evaluation draws the same dropout masks, so the cost is a
    fixed function of the parameters and dropout's backward is checked too.
    """
    def rng() -> np.random.RandomState | None:
        return None if dropout_seed is None else np.random.RandomState(dropout_seed)

    params = {k: np.array(v, dtype=np.float64) for k, v in parameters.items()}
    AL, caches = forward_layers(A0, params, specs, rng())
    analytic = backward_layers(AL, Y, caches, l2, weight_decay)

    def J() -> float:
        return layers_cost(forward_layers(A0, params, specs, rng())[0], Y, params, l2, weight_decay)

    return _relative_error(analytic, _differences(J, params, epsilon))
