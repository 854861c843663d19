"""Optimizers: each owns its state (moments) and updates the parameters in place.

``step(parameters, grads)`` applies one update with ``grads`` keyed ``dW1, db1, ...``
(the course's ``update_parameters_with_*``).
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import numpy as np

from .errors import ConfigError

__all__ = [
    "Adam",
    "GradientDescent",
    "Grads",
    "Momentum",
    "OPTIMIZERS",
    "Params",
    "RMSprop",
    "make_optimizer",
]

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")

Params = MutableMapping[str, np.ndarray]
Grads = Mapping[str, np.ndarray]


class GradientDescent:
    """W := W - lr * dW."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate

    def step(self, parameters: Params, grads: Grads) -> None:
        for key, P in parameters.items():
            P -= self.learning_rate * grads["d" + key]


class Momentum:
    """v := beta v + (1 - beta) dW;  W := W - lr v."""

    def __init__(self, learning_rate: float, beta: float = 0.9) -> None:
        self.learning_rate, self.beta = learning_rate, beta
        self.v: dict[str, np.ndarray] = {}

    def step(self, parameters: Params, grads: Grads) -> None:
        for key, P in parameters.items():
            dP = grads["d" + key]
            v = self.v.setdefault(key, np.zeros_like(P))
            v *= self.beta
            v += (1 - self.beta) * dP
            P -= self.learning_rate * v


class RMSprop:
    """s := beta2 s + (1 - beta2) dW^2;  W := W - lr dW / (sqrt(s) + eps)."""

    def __init__(self, learning_rate: float, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.learning_rate, self.beta2, self.epsilon = learning_rate, beta2, epsilon
        self.s: dict[str, np.ndarray] = {}

    def step(self, parameters: Params, grads: Grads) -> None:
        for key, P in parameters.items():
            dP = grads["d" + key]
            s = self.s.setdefault(key, np.zeros_like(P))
            s *= self.beta2
            s += (1 - self.beta2) * (dP * dP)
            P -= self.learning_rate * dP / (np.sqrt(s) + self.epsilon)


class Adam:
    """The course's Adam, with bias correction by t, the number of steps taken so far.

    v := b1 v + (1-b1) dW;  s := b2 s + (1-b2) dW^2;
    W := W - lr * (v / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps).
    """

    def __init__(
        self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
    ) -> None:
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.t = 0
        self.v: dict[str, np.ndarray] = {}
        self.s: dict[str, np.ndarray] = {}

    def step(self, parameters: Params, grads: Grads) -> None:
        self.t += 1
        c1 = 1 - self.beta1**self.t
        c2 = 1 - self.beta2**self.t
        for key, P in parameters.items():
            dP = grads["d" + key]
            v = self.v.setdefault(key, np.zeros_like(P))
            s = self.s.setdefault(key, np.zeros_like(P))
            v *= self.beta1
            v += (1 - self.beta1) * dP
            s *= self.beta2
            s += (1 - self.beta2) * (dP * dP)
            denom = np.sqrt(s / c2)
            denom += self.epsilon
            P -= (self.learning_rate / c1) * v / denom


def make_optimizer(
    name: str,
    learning_rate: float,
    beta: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
) -> GradientDescent | Momentum | RMSprop | Adam:
    """The optimizer called ``name`` (one of OPTIMIZERS)."""
    if name == "gd":
        return GradientDescent(learning_rate)
    if name == "momentum":
        return Momentum(learning_rate, beta)
    if name == "rmsprop":
        return RMSprop(learning_rate, beta2, epsilon)
    if name == "adam":
        return Adam(learning_rate, beta1, beta2, epsilon)
    raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}", field="optimizer", got=name)
