"""Forward and backward propagation through an architecture (a list of layer specs).

The layer list is architecture.py's; the math of each kind is in conv.py (conv2d),
pooling.py (max_pool, avg_pool, global_avg_pool) and here (flatten, dropout, dense, as
in forward.py). The loop is over layers only. Images are ``(m, n_H, n_W, n_C)``, columns
``(n, m)`` as in the course; ``AL`` is ``(1, m)``.

Backward starts from ``dZ^[L] = (AL - Y) / m``, so every gradient below is already the
mean over the examples and each layer sums over them (the course's conv_backward does).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .activations import BACKWARD, FORWARD, sigmoid
from .architecture import Spec
from .conv import conv_backward, conv_forward
from .losses import compute_cost
from .pooling import (
    global_avg_pool_backward,
    global_avg_pool_forward,
    pool_backward,
    pool_forward,
)

__all__ = [
    "Cache",
    "Params",
    "backward_layers",
    "backward_to_input",
    "forward_layers",
    "layers_cost",
    "to_images",
]

Params = Mapping[str, np.ndarray]


class Cache(NamedTuple):
    """One layer's record for backward: its spec, its parameter index l (0: none) and data."""

    spec: Spec
    l: int
    data: Any  # ConvCache, PoolCache, an input shape, a dropout mask, or (A_prev, W)
    Z: np.ndarray | None  # the pre-activation, for layers with an activation


def to_images(X: np.ndarray, specs: Sequence[Spec]) -> np.ndarray:
    """The course's columns X (n_x, m) as images (m, n_H, n_W, n_C): a view where X allows."""
    first = specs[0]
    return X.T.reshape(X.shape[1], first["n_H"], first["n_W"], first["n_C"])


def forward_layers(
    A0: np.ndarray, parameters: Params, specs: Sequence[Spec], dropout_rng: np.random.RandomState | None = None
) -> tuple[np.ndarray, list[Cache]]:
    """``AL`` (1, m) and one cache per layer for images ``A0`` (m, n_H, n_W, n_C).

    Dropout draws its masks from ``dropout_rng`` while training; with None (prediction)
    it passes activations through, as inverted dropout allows.
    """
    A = A0
    caches: list[Cache] = []
    l = 0
    for spec in specs[1:]:
        kind = spec["type"]
        if kind == "conv2d":
            l += 1
            Z, conv = conv_forward(A, parameters[f"W{l}"], parameters[f"b{l}"], spec["stride"], spec["pad"])
            caches.append(Cache(spec, l, conv, Z))
            if spec["activation"] == "relu":
                # in place: relu's backward needs only where Z > 0, and there A = Z
                A = np.maximum(Z, 0, out=Z)  # (m, n_H, n_W, n_C)
            else:
                A = FORWARD[spec["activation"]](Z)  # (m, n_H, n_W, n_C)
        elif kind in ("max_pool", "avg_pool"):
            A, pool = pool_forward(A, spec["f"], spec["stride"], "max" if kind == "max_pool" else "average")
            caches.append(Cache(spec, 0, pool, None))
        elif kind == "global_avg_pool":
            caches.append(Cache(spec, 0, A.shape, None))
            A = global_avg_pool_forward(A)  # (n_C, m)
        elif kind == "flatten":
            caches.append(Cache(spec, 0, A.shape, None))
            A = A.reshape(A.shape[0], -1).T  # (n_H n_W n_C, m), each column in the course's order
        elif kind == "dropout":
            D = None
            if dropout_rng is not None:
                # the course's inverted dropout, with the 1 / keep_prob folded into the mask
                keep = spec["keep_prob"]
                D = (dropout_rng.random_sample(A.shape) < keep).astype(A.dtype) / A.dtype.type(keep)
                A = A * D
            caches.append(Cache(spec, 0, D, None))
        elif kind == "dense":
            l += 1
            W, b = parameters[f"W{l}"], parameters[f"b{l}"]
            Z = W @ A + b  # (n_l, m)
            caches.append(Cache(spec, l, (A, W), Z))
            A = sigmoid(Z) if spec["activation"] == "sigmoid" else FORWARD[spec["activation"]](Z)
    return A, caches


def backward_layers(
    AL: np.ndarray, Y: np.ndarray, caches: Sequence[Cache], l2: float = 0.0, weight_decay: float = 0.0
) -> dict[str, np.ndarray]:
    """Gradients ``dW1, db1, ..., dWL, dbL`` of :func:`layers_cost`; ``dW{l}`` has W{l}'s shape.

    Layers below the first one with weights are not visited: the gradient with respect
    to the input is not computed here (see :func:`backward_to_input`).
    """
    m = AL.shape[1]
    dZ = (AL - Y.reshape(AL.shape).astype(AL.dtype, copy=False)) / m  # (1, m): sigmoid + cross-entropy
    return _backward(dZ, caches, l2, weight_decay, m, to_input=False)[0]


def backward_to_input(AL: np.ndarray, caches: Sequence[Cache]) -> np.ndarray:
    """dAL/dA0, shape (m, n_H, n_W, n_C): the gradient of each example's P(cat) with respect
    to its own input image (examples are independent, so one pass gives all m at once).

    The one place that needs dA0: it costs the first layer's dA_prev on top of backward's work.
    """
    dZ = AL * (1 - AL)  # (1, m): sigmoid'(ZL)
    dA0 = _backward(dZ, caches, 0.0, 0.0, AL.shape[1], to_input=True)[1]
    assert dA0 is not None
    return dA0


def _backward(
    dZ: np.ndarray, caches: Sequence[Cache], l2: float, weight_decay: float, m: int, to_input: bool
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Backpropagate the output layer's ``dZ`` (1, m); the gradients, and dA0 if ``to_input``."""
    grads: dict[str, np.ndarray] = {}
    first = 0 if to_input else next(i for i, c in enumerate(caches) if c.l)  # the first layer visited
    dA: np.ndarray | None = None
    for i in range(len(caches) - 1, first - 1, -1):
        spec, l, data, Z = caches[i]
        kind = spec["type"]
        # the gradient from the layer above; only the output layer (dense) has none, and it reads only dZ
        up = dA if dA is not None else dZ
        if Z is not None and i != len(caches) - 1:
            if spec["activation"] == "relu" and up.flags.writeable and up.base is None:
                # in place: dA is this pass's own new array, and relu' is 0 or 1
                dZ = np.multiply(up, Z > 0, out=up)
            else:
                dZ = BACKWARD[spec["activation"]](up, Z)
        want = i > first or to_input
        if kind == "conv2d":
            dA, dW, db = conv_backward(dZ, data, want_dA_prev=want)
        elif kind == "dense":
            A_prev, W = data
            dW = dZ @ A_prev.T  # (n_l, n_{l-1})
            db = dZ.sum(axis=1, keepdims=True)  # (n_l, 1)
            dA = W.T @ dZ if want else None  # (n_{l-1}, m)
        elif kind in ("max_pool", "avg_pool"):
            dA = pool_backward(up, data)
        elif kind == "global_avg_pool":
            dA = global_avg_pool_backward(up, data)
        elif kind == "flatten":
            dA = up.T.reshape(data)
        elif kind == "dropout":
            dA = up if data is None else up * data
        if l:
            if l2 or weight_decay:
                W = caches[i].data.W if kind == "conv2d" else caches[i].data[1]
                dW = dW + (l2 / m + weight_decay) * W
            grads[f"dW{l}"], grads[f"db{l}"] = dW, db
    L = max(c.l for c in caches)
    return {k: grads[k] for l in range(1, L + 1) for k in (f"dW{l}", f"db{l}")}, dA if to_input else None


def layers_cost(
    AL: np.ndarray, Y: np.ndarray, parameters: Params, l2: float = 0.0, weight_decay: float = 0.0
) -> float:
    """Cross-entropy + the course's L2 (l2 / 2m sum ||W||^2) + weight_decay / 2 sum ||W||^2."""
    cost = compute_cost(AL, Y, parameters, l2)
    if weight_decay:
        cost += weight_decay / 2 * sum(float(np.vdot(W, W)) for k, W in parameters.items() if k.startswith("W"))
    return cost
