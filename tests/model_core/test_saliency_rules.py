"""saliency_map's and input_gradient's rules beside the gradient check: each image scaled
to its own maximum, an image with no gradient left at 0 without a warning, small gradients
scaled up like large ones, the parameters' dtype kept, and an unknown tta's message."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from model_core import initialize_parameters, input_gradient, saliency_map

SHAPE = (2, 2, 3)  # a tiny image: 12 values per column


def gradients(*scales: float) -> np.ndarray:
    """G (12, m): image j holds the same pattern times scales[j]."""
    pattern = np.arange(1, 13, dtype=np.float64)  # (12,)
    return np.stack([pattern * s for s in scales], axis=1)  # (12, m)


def test_each_image_is_scaled_to_its_own_maximum() -> None:
    maps = saliency_map(gradients(1.0, 1000.0), SHAPE)  # (2, 2, 2)
    assert maps.shape == (2, 2, 2) and maps.dtype == np.uint8
    assert maps[0].max() == maps[1].max() == 255
    assert np.array_equal(maps[0], maps[1])  # the same pattern, whatever its size


def test_small_gradients_are_scaled_up_like_large_ones() -> None:
    assert np.array_equal(saliency_map(gradients(0.001), SHAPE), saliency_map(gradients(5.0), SHAPE))
    assert saliency_map(gradients(0.5), SHAPE).max() == 255


def test_an_image_with_no_gradient_stays_zero_without_a_warning() -> None:
    G = gradients(1.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 / 0 would warn (and give nan)
        maps = saliency_map(G, SHAPE)
    assert not maps[1].any() and maps[0].max() == 255


def test_the_map_is_the_largest_magnitude_over_the_channels() -> None:
    G = np.zeros((12, 1))
    G[0 * 3 + 2, 0] = -4.0  # pixel (0, 0), blue, negative: its magnitude counts
    G[1 * 3 + 0, 0] = 2.0  # pixel (0, 1), red
    maps = saliency_map(G, SHAPE)
    assert maps[0].tolist() == [[255, 128], [0, 0]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_gradient_comes_in_the_parameters_dtype(dtype: type) -> None:
    parameters = {k: v.astype(dtype) for k, v in initialize_parameters([12288, 4, 1], "he", seed=0).items()}
    X = np.random.default_rng(0).integers(0, 256, size=(12288, 3)).astype(np.float64)
    G = input_gradient(X, parameters, input_norm="scale")
    assert G.dtype == dtype and G.shape == (12288, 3)


def test_an_unknown_tta_is_refused_naming_the_valid_ones() -> None:
    parameters = initialize_parameters([12288, 1], "zeros", seed=0)
    with pytest.raises(ValueError) as caught:
        input_gradient(np.zeros((12288, 1)), parameters, input_norm="scale", tta="rotate")
    assert str(caught.value) == "tta must be one of none, flip, got 'rotate'"
