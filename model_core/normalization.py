"""Input normalizations. They are part of a model: saved with it, applied by every prediction.

``X`` holds raw pixel values 0..255 (any numeric dtype), one example per column (n_x, m).
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError

__all__ = ["INPUT_NORMS", "check_input_norm", "normalize", "normalize_backward"]

INPUT_NORMS = ("scale", "per_image")

# A flat image has standard deviation 0; below one grey level we divide by 1 grey level
# instead, so flat images map to zeros rather than to noise blown up by 1/std.
_MIN_STD = 1.0


def check_input_norm(name: str) -> str:
    if name not in INPUT_NORMS:
        raise ConfigError(f"input_norm must be one of {', '.join(INPUT_NORMS)}", field="input_norm", got=name)
    return name


def normalize(X: np.ndarray, input_norm: str, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Return X (n_x, m) normalized as a float array of ``dtype``.

    ``scale``: X / 255, as the course does. ``per_image``: each column minus its mean,
    divided by its standard deviation (at least one grey level).
    """
    check_input_norm(input_norm)
    Xf = np.asarray(X, dtype=dtype)
    if input_norm == "scale":
        return Xf / 255  # a Python int keeps Xf's dtype
    mean = Xf.mean(axis=0, keepdims=True)  # (1, m)
    std = Xf.std(axis=0, keepdims=True)  # (1, m)
    return (Xf - mean) / np.maximum(std, _MIN_STD)


def normalize_backward(dXn: np.ndarray, X: np.ndarray, input_norm: str) -> np.ndarray:
    """The gradient with respect to raw X (n_x, m) of a function of normalize(X), given its
    gradient ``dXn`` (n_x, m) with respect to the normalized columns.

    ``per_image``: with Xn = (x - mu) / s and s = std (when at least one grey level),
    dx = (dXn - mean(dXn) - Xn mean(dXn Xn)) / s; below one grey level s is the constant 1
    and only the mean term remains.
    """
    check_input_norm(input_norm)
    if input_norm == "scale":
        return dXn / 255
    Xf = np.asarray(X, dtype=dXn.dtype)
    mean = Xf.mean(axis=0, keepdims=True)  # (1, m)
    std = Xf.std(axis=0, keepdims=True)  # (1, m)
    s = np.maximum(std, _MIN_STD)  # (1, m)
    Xn = (Xf - mean) / s  # (n_x, m)
    centred = dXn - dXn.mean(axis=0, keepdims=True)  # (n_x, m)
    # the std's own gradient only where it is the divisor (the floor is a constant)
    through_std = np.where(std >= _MIN_STD, (dXn * Xn).mean(axis=0, keepdims=True), 0)  # (1, m)
    return (centred - Xn * through_std) / s
