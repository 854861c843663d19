"""Backward propagation for the network of forward.py, with optional L2."""
from __future__ import annotations

import numpy as np

from .activations import BACKWARD
from .forward import LayerCache

__all__ = ["backward", "backward_from"]


def backward(
    AL: np.ndarray, Y: np.ndarray, caches: list[LayerCache], l2: float = 0.0
) -> dict[str, np.ndarray]:
    """Gradients of compute_cost(AL, Y, parameters, l2): ``dW1, db1, ..., dWL, dbL``.

    ``dW{l}`` has the shape of ``W{l}``. The gradient with respect to X is not
    computed: nobody uses it and it would cost a third of the first layer's work.
    """
    m = AL.shape[1]
    # sigmoid output + cross-entropy: dZ^[L] = AL - Y, exact and free of 0/0
    dZL = AL - Y.reshape(AL.shape).astype(AL.dtype, copy=False)  # (1, m)
    grads, _ = backward_from(dZL, caches, first_layer=1, l2=l2, m=m, want_dA=False)
    return grads


def backward_from(
    dZL: np.ndarray, caches: list[LayerCache], first_layer: int, l2: float, m: int, want_dA: bool
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Backpropagate ``dZL`` through the layers of ``caches`` (first_layer..L).

    Returns their gradients and, if ``want_dA``, dA^[first_layer - 1] (n_{first-1}, m).
    """
    L = first_layer + len(caches) - 1
    grads: dict[str, np.ndarray] = {}
    dZ = dZL
    dA_prev = None
    for l in range(L, first_layer - 1, -1):
        cache = caches[l - first_layer]
        dW = (dZ @ cache.A_prev.T) / m  # (n_l, n_{l-1})
        if l2:
            dW += (l2 / m) * cache.W
        grads[f"dW{l}"] = dW
        grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True) / m  # (n_l, 1)
        if l > first_layer or want_dA:
            dA = cache.W.T @ dZ  # (n_{l-1}, m)
            dA_prev = dA
            if l > first_layer:
                below = caches[l - first_layer - 1]
                dZ = BACKWARD[below.activation](dA, below.Z)
    ordered = {k: grads[k] for l in range(first_layer, L + 1) for k in (f"dW{l}", f"db{l}")}
    # without want_dA the loop's last dA is an inner layer's: not the promised one
    return ordered, dA_prev if want_dA else None
