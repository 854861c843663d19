"""Forward propagation: [LINEAR -> hidden activation] x (L-1) -> LINEAR -> SIGMOID.

``X`` has one example per column, shape ``(n_x, m)``; ``AL`` has shape ``(1, m)``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from .activations import FORWARD, check_activation, sigmoid
from .architecture import Spec
from .network import forward_layers, to_images
from .normalization import normalize

__all__ = [
    "LayerCache",
    "forward",
    "forward_from",
    "num_layers",
    "predict",
    "predict_proba",
]


class LayerCache(NamedTuple):
    """What backward() needs of one layer: its input, weights, pre-activation and g."""

    A_prev: np.ndarray  # (n_{l-1}, m)
    W: np.ndarray  # (n_l, n_{l-1})
    b: np.ndarray  # (n_l, 1)
    Z: np.ndarray  # (n_l, m)
    activation: str


def num_layers(parameters: Mapping[str, np.ndarray]) -> int:
    """L, the index of the last layer (the largest l of a key W{l})."""
    return max(int(k[1:]) for k in parameters if k.startswith("W"))


def forward(
    X: np.ndarray, parameters: Mapping[str, np.ndarray], hidden_activation: str = "relu"
) -> tuple[np.ndarray, list[LayerCache]]:
    """Run the network on ``X`` (n_x, m); return ``AL`` (1, m) and one cache per layer."""
    return forward_from(X, parameters, hidden_activation, first_layer=1)


def forward_from(
    A: np.ndarray, parameters: Mapping[str, np.ndarray], hidden_activation: str, first_layer: int
) -> tuple[np.ndarray, list[LayerCache]]:
    """Run layers ``first_layer..L`` on ``A`` = A^[first_layer - 1]; caches of those layers."""
    check_activation(hidden_activation)
    g = FORWARD[hidden_activation]
    L = num_layers(parameters)
    caches: list[LayerCache] = []
    for l in range(first_layer, L + 1):
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        Z = W @ A + b  # (n_l, m)
        last = l == L
        caches.append(LayerCache(A, W, b, Z, "sigmoid" if last else hidden_activation))
        A = sigmoid(Z) if last else g(Z)
    return A, caches


def predict_proba(
    X: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    hidden_activation: str = "relu",
    input_norm: str | None = None,
    architecture: Sequence[Spec] | None = None,
) -> np.ndarray:
    """P(cat) for each column of ``X``, shape (1, m).

    With ``input_norm=None`` X is taken as already normalized (the course's X / 255);
    with ``"scale"`` or ``"per_image"`` X holds raw pixel values 0..255 and the
    model's normalization is applied first. With an ``architecture`` (a network of
    layers, architecture.py) the columns are its input images, (n_H n_W n_C, m).
    """
    if input_norm is not None:
        X = normalize(X, input_norm, dtype=parameters["W1"].dtype)
    if architecture is not None:
        return forward_layers(to_images(X, architecture), parameters, architecture)[0]
    AL, _ = forward(X, parameters, hidden_activation)
    return AL


def predict(
    X: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    threshold: float = 0.5,
    hidden_activation: str = "relu",
    input_norm: str | None = None,
    architecture: Sequence[Spec] | None = None,
) -> np.ndarray:
    """Labels 0/1 (1 = cat), shape (1, m): P(cat) > threshold."""
    P = predict_proba(X, parameters, hidden_activation, input_norm, architecture)
    return (P > threshold).astype(np.int64)
