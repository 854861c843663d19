"""Input normalizations. They are part of a model: saved with it, applied by every prediction.

``X`` holds raw pixel values 0..255 (any numeric dtype), one example per column (n_x, m).
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError

__all__ = ["INPUT_NORMS", "check_input_norm", "normalize"]

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
