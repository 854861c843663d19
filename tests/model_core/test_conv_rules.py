"""The convolution's own rules: zero padding on every side alike, stride 1 and no padding
by default, and gradients in the layer's dtype and shape."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.conv import conv_backward, conv_forward, zero_pad


def test_zero_pad_adds_pad_zeros_on_each_side() -> None:
    A = np.random.RandomState(0).rand(2, 3, 4, 5).astype(np.float32)
    P = zero_pad(A, 2)
    assert P.shape == (2, 7, 8, 5) and P.dtype == np.float32
    np.testing.assert_array_equal(P[:, 2:5, 2:6, :], A)
    assert not P[:, :2].any() and not P[:, 5:].any() and not P[:, :, :2].any() and not P[:, :, 6:].any()


def test_conv_forward_defaults_to_stride_1_and_no_padding() -> None:
    rng = np.random.RandomState(1)
    A, W, b = rng.rand(2, 5, 5, 3), rng.rand(3, 3, 3, 4), rng.rand(1, 1, 1, 4)
    Z, _ = conv_forward(A, W, b)
    np.testing.assert_array_equal(Z, conv_forward(A, W, b, 1, 0)[0])
    assert Z.shape == (2, 3, 3, 4)


@pytest.mark.parametrize("n_C_prev", [3, 8])  # both ways of building the windows' matrix
def test_conv_backward_returns_gradients_in_the_layers_dtype_and_shapes(n_C_prev: int) -> None:
    rng = np.random.RandomState(2)
    A = rng.rand(2, 4, 5, n_C_prev).astype(np.float32)
    W, b = rng.rand(3, 3, n_C_prev, 2).astype(np.float32), rng.rand(1, 1, 1, 2).astype(np.float32)
    Z, cache = conv_forward(A, W, b, 1, 1)
    dA, dW, db = conv_backward(np.ones_like(Z), cache)
    assert dA is not None
    assert (dA.shape, dW.shape, db.size) == (A.shape, W.shape, 2)
    assert dA.dtype == dW.dtype == np.float32
    # d(sum Z)/dA: each input pixel times the kernel weights that see it; the centre one sees all 9
    np.testing.assert_allclose(dA[:, 1:3, 1:4, :], np.broadcast_to(W.sum(axis=(0, 1, 3)), (2, 2, 3, n_C_prev)),
                               rtol=1e-5)
