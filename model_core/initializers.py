"""Weight initializations.

With a seed the draws equal the course's ``np.random.seed(seed)`` followed by
``np.random.randn(n_l, n_{l-1})`` layer by layer, but they come from a local
``RandomState`` so no global state is touched.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import ConfigError

__all__ = [
    "INIT_METHODS",
    "check_layer_dims",
    "initialize_layers",
    "initialize_parameters",
]

INIT_METHODS = ("zeros", "scaled", "course", "he", "xavier")


def _draw(rng: np.random.RandomState, method: str, n_l: int, n_prev: int) -> np.ndarray:
    """One layer's weights, written exactly as the course writes them (same rounding)."""
    if method == "zeros":
        return np.zeros((n_l, n_prev))
    W = rng.randn(n_l, n_prev)
    if method == "scaled":
        return W * 0.01  # the course's 2-layer model
    if method == "course":
        return W / np.sqrt(n_prev)  # the course's L-layer model
    if method == "he":
        return W * np.sqrt(2.0 / n_prev)
    return W * np.sqrt(2.0 / (n_prev + n_l))  # xavier: Glorot & Bengio, normal variant


def check_layer_dims(layer_dims: Sequence[int]) -> tuple[int, ...]:
    """Validate ``layer_dims`` = [n_x, n_1, ..., n_L]; return it as a tuple of ints."""
    dims = tuple(layer_dims)
    if len(dims) < 2:
        raise ConfigError("layer_dims needs at least 2 entries (n_x and n_L)", field="layer_dims", got=list(dims))
    for n in dims:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError("layer_dims must be positive integers", field="layer_dims", got=list(dims))
    if dims[-1] != 1:
        raise ConfigError(
            "layer_dims must end with 1: the output layer has 1 unit (binary classifier)",
            field="layer_dims", got=list(dims),
        )
    return tuple(int(n) for n in dims)


def initialize_parameters(
    layer_dims: Sequence[int],
    method: str,
    seed: int | None = None,
    dtype: np.dtype | type = np.float64,
) -> dict[str, np.ndarray]:
    """Initialize ``W1, b1, ..., WL, bL``.

    ``W{l}`` has shape ``(n_l, n_{l-1})`` and ``b{l}`` shape ``(n_l, 1)``; biases are zero.
    ``method`` is one of ``zeros``, ``scaled`` (randn * 0.01), ``course``
    (randn / sqrt(n_prev)), ``he`` and ``xavier``.
    """
    dims = check_layer_dims(layer_dims)
    if method not in INIT_METHODS:
        raise ConfigError(f"init must be one of {', '.join(INIT_METHODS)}", field="init", got=method)
    rng = np.random.RandomState(seed)
    parameters: dict[str, np.ndarray] = {}
    for l in range(1, len(dims)):
        n_l, n_prev = dims[l], dims[l - 1]
        # drawn in float64 then cast, so float32 starts from the same numbers
        W = _draw(rng, method, n_l, n_prev)
        parameters[f"W{l}"] = W.astype(dtype, copy=False)
        parameters[f"b{l}"] = np.zeros((n_l, 1), dtype=dtype)
    return parameters


def initialize_layers(
    shapes: Mapping[str, tuple[int, ...]],
    method: str,
    seed: int | None = None,
    dtype: np.dtype | type = np.float64,
) -> dict[str, np.ndarray]:
    """Initialize the parameters of an architecture, given their shapes (architecture.parameter_shapes).

    A conv2d ``W`` (f, f, n_C_prev, n_C) has fan-in f f n_C_prev and fan-out f f n_C, a
    dense ``W`` (n_l, n_{l-1}) n_{l-1} and n_l; the methods scale a standard normal draw
    as they do for the course's layers (``scaled`` 0.01, ``course`` 1/sqrt(fan-in), ``he``
    sqrt(2/fan-in), ``xavier`` sqrt(2/(fan-in + fan-out))). Biases are zero.
    """
    if method not in INIT_METHODS:
        raise ConfigError(f"init must be one of {', '.join(INIT_METHODS)}", field="init", got=method)
    rng = np.random.RandomState(seed)
    parameters: dict[str, np.ndarray] = {}
    for key, shape in shapes.items():
        if key.startswith("b") or method == "zeros":
            parameters[key] = np.zeros(shape, dtype=dtype)
            continue
        if len(shape) == 4:  # conv2d (f, f, n_C_prev, n_C)
            fan_in, fan_out = shape[0] * shape[1] * shape[2], shape[0] * shape[1] * shape[3]
        else:  # dense (n_l, n_{l-1})
            fan_in, fan_out = shape[1], shape[0]
        scale = {"scaled": 0.01, "course": 1 / np.sqrt(fan_in), "he": np.sqrt(2.0 / fan_in),
                 "xavier": np.sqrt(2.0 / (fan_in + fan_out))}[method]
        parameters[key] = (rng.randn(*shape) * scale).astype(dtype, copy=False)
    return parameters
