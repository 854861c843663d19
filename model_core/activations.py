"""Activation functions and their derivatives, as name -> function tables.

Each backward function takes ``dA`` and the pre-activation ``Z`` (same shape,
``(n_l, m)``) and returns ``dZ = dA * g'(Z)``.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import ConfigError

__all__ = [
    "Array",
    "BACKWARD",
    "FORWARD",
    "HIDDEN_ACTIVATIONS",
    "LEAKY_SLOPE",
    "check_activation",
    "leaky_relu",
    "leaky_relu_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "tanh",
    "tanh_backward",
]

Array = np.ndarray

LEAKY_SLOPE = 0.01


def sigmoid(Z: Array) -> Array:
    # exp(-|Z|) never overflows; the two branches give the same value where both are finite.
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


def relu(Z: Array) -> Array:
    return np.maximum(Z, 0)


def tanh(Z: Array) -> Array:
    return np.tanh(Z)


def leaky_relu(Z: Array) -> Array:
    return np.where(Z > 0, Z, LEAKY_SLOPE * Z)


def sigmoid_backward(dA: Array, Z: Array) -> Array:
    s = sigmoid(Z)
    return dA * s * (1 - s)


def relu_backward(dA: Array, Z: Array) -> Array:
    # the course's convention: g'(0) = 0
    return dA * (Z > 0)


def tanh_backward(dA: Array, Z: Array) -> Array:
    T = np.tanh(Z)
    return dA * (1 - T * T)


def leaky_relu_backward(dA: Array, Z: Array) -> Array:
    return np.where(Z > 0, dA, LEAKY_SLOPE * dA)


FORWARD: dict[str, Callable[[Array], Array]] = {
    "relu": relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "leaky_relu": leaky_relu,
}

BACKWARD: dict[str, Callable[[Array, Array], Array]] = {
    "relu": relu_backward,
    "tanh": tanh_backward,
    "sigmoid": sigmoid_backward,
    "leaky_relu": leaky_relu_backward,
}

HIDDEN_ACTIVATIONS = tuple(FORWARD)


def check_activation(name: str) -> str:
    """Return ``name`` if it is a known hidden activation, else raise ConfigError."""
    if name not in FORWARD:
        raise ConfigError(
            f"hidden_activation must be one of {', '.join(HIDDEN_ACTIVATIONS)}",
            field="hidden_activation", got=name,
        )
    return name
