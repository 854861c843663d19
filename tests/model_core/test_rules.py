"""Rules that a unit test can pin, data or not: each was once broken by a planted bug that
the rest of the suite missed (issue 15). Written as properties where they can be.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from model_core import predict, predict_proba
from model_core.activations import leaky_relu_backward, relu_backward
from model_core.config import TrainConfig
from model_core.normalization import normalize
from model_core.training import _flip, predict_labels

N = 12288

pixel_batches = arrays(np.uint8, st.tuples(st.just(N), st.integers(1, 6)),
                       elements=st.integers(0, 255))


@settings(max_examples=30, deadline=None)
@given(X=pixel_batches, dtype=st.sampled_from([np.float32, np.float64]))
def test_per_image_standardizes_each_column_on_its_own(X: np.ndarray, dtype: type) -> None:
    Xn = normalize(X, "per_image", dtype)
    assert Xn.shape == X.shape and Xn.dtype == dtype
    std = X.astype(np.float64).std(axis=0)
    tol = 1e-3 if dtype is np.float32 else 1e-9  # float32 sums 12288 values: ~1e-4 of rounding
    for j in range(X.shape[1]):
        column = Xn[:, j].astype(np.float64)
        assert abs(column.mean()) < tol
        if std[j] >= 1.0:  # a column flatter than one grey level is divided by one grey level
            assert abs(column.std() - 1.0) < tol
        # each column depends on itself only, not on the rest of its batch
        np.testing.assert_allclose(normalize(X[:, [j]], "per_image", dtype)[:, 0], Xn[:, j], rtol=tol, atol=tol)


def test_per_image_of_one_image_is_not_all_zeros() -> None:
    """Standardized over the batch, a single image would become zeros: one answer for all."""
    X = np.random.RandomState(0).randint(0, 256, size=(N, 1)).astype(np.uint8)
    assert np.abs(normalize(X, "per_image")).max() > 1.0
    flat = np.full((N, 1), 77, np.uint8)
    assert not normalize(flat, "per_image").any()  # a flat image is all mean


class _Always:
    """An rng whose every draw is 0: every image is flipped."""

    def random_sample(self, m: int) -> np.ndarray:
        return np.zeros(m)


class _Never:
    def random_sample(self, m: int) -> np.ndarray:
        return np.ones(m)


def test_a_forced_flip_mirrors_left_right() -> None:
    rng = np.random.RandomState(1)
    imgs = rng.randint(0, 256, size=(3, 64, 64, 3)).astype(np.uint8)  # (m, rows, columns, channels)
    X = imgs.reshape(3, N).T
    flipped = _flip(X, _Always()).T.reshape(3, 64, 64, 3)  # type: ignore[arg-type]
    for img, out in zip(imgs, flipped):
        np.testing.assert_array_equal(out, img[:, ::-1, :])  # columns reversed, rows and colours kept
    np.testing.assert_array_equal(_flip(X, _Never()), X)  # type: ignore[arg-type]


def test_flips_are_seeded_and_about_half() -> None:
    X = np.random.RandomState(2).randint(0, 256, size=(N, 400)).astype(np.uint8)
    a = _flip(X, np.random.RandomState(5))
    np.testing.assert_array_equal(a, _flip(X, np.random.RandomState(5)))
    changed = (a != X).any(axis=0).mean()
    assert 0.35 < changed < 0.65


def test_relu_derivative_at_zero_is_zero() -> None:
    Z = np.array([[-1.0, 0.0, 2.0]])
    dA = np.ones_like(Z)
    np.testing.assert_array_equal(relu_backward(dA, Z), [[0.0, 0.0, 1.0]])
    assert leaky_relu_backward(dA, Z)[0, 1] < 1.0  # at 0 the leaky side, like relu's convention


def zero_model(dims: tuple[int, ...] = (N, 4, 1)) -> dict[str, np.ndarray]:
    return {k: np.zeros((dims[l], dims[l - 1]) if k[0] == "W" else (dims[l], 1))
            for l in range(1, len(dims)) for k in (f"W{l}", f"b{l}")}


def test_a_zero_model_is_exactly_undecided_and_says_non_cat() -> None:
    """P = 0.5 exactly is not a cat: a cat needs P > 0.5 (a >= would call everything a cat)."""
    X = np.random.RandomState(3).randint(0, 256, size=(N, 5)).astype(np.uint8)
    parameters = zero_model()
    np.testing.assert_array_equal(predict_proba(X, parameters, input_norm="scale"), 0.5)
    np.testing.assert_array_equal(predict(X, parameters, input_norm="scale"), np.zeros((1, 5)))
    config = TrainConfig(layer_dims=(N, 4, 1))
    np.testing.assert_array_equal(predict_labels(X, parameters, config), np.zeros((1, 5)))


@pytest.mark.parametrize("p", [0.5, np.nextafter(0.5, 1.0)])
def test_the_threshold_sits_just_above_one_half(p: float) -> None:
    from model_core.cli import THRESHOLD

    assert (p > THRESHOLD) == (p != 0.5)
