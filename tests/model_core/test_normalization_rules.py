"""normalize_backward's rules: the gradient comes back in the dtype of the gradient given,
not in the float64 that NumPy's mean of raw uint8 pixels would give, and its values are
those of the float64 computation to that dtype's precision."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.normalization import normalize_backward


def pixels(n_x: int = 12, m: int = 3, seed: int = 0) -> np.ndarray:
    """Raw pixels X (n_x, m), uint8, each column with a spread of grey levels."""
    return np.random.RandomState(seed).randint(0, 256, size=(n_x, m)).astype(np.uint8)


@pytest.mark.parametrize("input_norm", ["scale", "per_image"])
def test_the_gradient_keeps_the_dtype_of_dXn_for_uint8_pixels(input_norm: str) -> None:
    X = pixels()
    dXn = np.random.RandomState(1).standard_normal(X.shape).astype(np.float32)  # (12, 3)
    dX = normalize_backward(dXn, X, input_norm)
    assert dX.dtype == np.float32 and dX.shape == X.shape
    expected = normalize_backward(dXn.astype(np.float64), X, input_norm)
    np.testing.assert_allclose(dX, expected, rtol=1e-4, atol=1e-7)


def test_a_column_of_exactly_one_grey_level_takes_the_std_branch() -> None:
    # std = 1 exactly: s is the std (at least one grey level), so its own gradient counts,
    # and the result is continuous with a column just above one grey level
    dXn = np.array([[0.0], [1.0], [0.0], [0.0]])  # mean(dXn * Xn) = 1/4, not 0
    at_one = normalize_backward(dXn, np.array([[0.0], [2.0], [0.0], [2.0]]), "per_image")
    above = normalize_backward(dXn, np.array([[0.0], [2.0], [0.0], [2.0]]) * (1 + 1e-9), "per_image")
    np.testing.assert_allclose(at_one, above, atol=1e-6)
    # dXn - mean(dXn) - Xn mean(dXn Xn), with Xn = (-1, 1, -1, 1)
    np.testing.assert_allclose(at_one[:, 0], [-0.25 + 0.25, 0.75 - 0.25, -0.25 + 0.25, -0.25 - 0.25])
