"""A network of layers: its pooling layers take the window's maximum (max_pool) or mean
(avg_pool), and L2 and weight decay each add their own term to dW."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.architecture import check_architecture
from model_core.network import forward_layers


@pytest.mark.parametrize(("kind", "reduce"), [("max_pool", np.max), ("avg_pool", np.mean)])
def test_each_pooling_layer_reduces_its_windows_as_named(kind: str, reduce) -> None:  # type: ignore[no-untyped-def]
    specs = check_architecture([{"type": "input", "n_H": 4, "n_W": 4, "n_C": 1}, {"type": kind, "f": 2, "stride": 2},
                                {"type": "flatten"}, {"type": "dense", "n": 1, "activation": "sigmoid"}])
    A0 = np.random.RandomState(0).rand(3, 4, 4, 1)
    # the dense layer reads out the pooled map: weights 1, 10, 100, 1000 tell its 4 cells apart
    params = {"W1": np.array([[1.0, 10.0, 100.0, 1000.0]]) / 1000, "b1": np.zeros((1, 1))}
    pooled = np.array([[reduce(a[i:i + 2, j:j + 2]) for i in (0, 2) for j in (0, 2)] for a in A0[..., 0]])
    AL, _ = forward_layers(A0, params, specs)
    np.testing.assert_allclose(AL[0], 1 / (1 + np.exp(-(pooled @ params["W1"][0]))), rtol=1e-12)


@pytest.mark.parametrize(("l2", "weight_decay"), [(0.5, 0.0), (0.0, 0.01), (0.5, 0.01)])
def test_l2_and_weight_decay_each_add_their_own_term_to_dw(l2: float, weight_decay: float) -> None:
    from model_core.network import backward_layers

    specs = check_architecture([{"type": "input", "n_H": 2, "n_W": 2, "n_C": 1}, {"type": "flatten"},
                                {"type": "dense", "n": 1, "activation": "sigmoid"}])
    rng = np.random.RandomState(1)
    params = {"W1": rng.randn(1, 4), "b1": np.zeros((1, 1))}
    A0, Y = rng.rand(5, 2, 2, 1), np.array([[0, 1, 1, 0, 1]])
    AL, caches = forward_layers(A0, params, specs)
    plain = backward_layers(AL, Y, caches)["dW1"]
    AL, caches = forward_layers(A0, params, specs)
    got = backward_layers(AL, Y, caches, l2, weight_decay)["dW1"]
    np.testing.assert_allclose(got, plain + (l2 / 5 + weight_decay) * params["W1"], rtol=1e-12)


def test_pool_forward_takes_the_maximum_by_default_and_names_its_modes() -> None:
    from model_core.pooling import POOL_MODES, pool_forward

    A = np.random.RandomState(3).rand(2, 4, 4, 3)
    expected = A.reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4))
    np.testing.assert_array_equal(pool_forward(A, 2, 2)[0], expected)
    with pytest.raises(ValueError) as caught:
        pool_forward(A, 2, 2, "median")
    assert str(caught.value) == f"mode must be one of {', '.join(POOL_MODES)}; got 'median'"
    assert POOL_MODES == ("max", "average")


def test_dropout_without_a_mask_passes_the_gradient_through() -> None:
    from model_core.network import backward_layers

    plain = [{"type": "input", "n_H": 2, "n_W": 2, "n_C": 1}, {"type": "flatten"},
             {"type": "dense", "n": 3, "activation": "tanh"}, {"type": "dense", "n": 1, "activation": "sigmoid"}]
    with_dropout = [*plain[:3], {"type": "dropout", "keep_prob": 0.5}, plain[3]]
    rng = np.random.RandomState(5)
    params = {"W1": rng.randn(3, 4), "b1": rng.randn(3, 1), "W2": rng.randn(1, 3), "b2": rng.randn(1, 1)}
    A0, Y = rng.rand(4, 2, 2, 1), np.array([[1, 0, 0, 1]])
    grads = []
    for specs in (plain, with_dropout):  # no dropout_rng: prediction mode, no mask is drawn
        AL, caches = forward_layers(A0, params, check_architecture(specs))
        grads.append(backward_layers(AL, Y, caches))
    for k in grads[0]:
        np.testing.assert_allclose(grads[1][k], grads[0][k], rtol=1e-12)


def test_a_float32_network_stays_float32_through_a_dropout_mask() -> None:
    # the mask is drawn in the activations' dtype: a float64 mask would turn every layer
    # above it, and the output, into float64
    specs = check_architecture([{"type": "input", "n_H": 2, "n_W": 2, "n_C": 1}, {"type": "flatten"},
                                {"type": "dense", "n": 3, "activation": "relu"},
                                {"type": "dropout", "keep_prob": 0.5}, {"type": "dense", "n": 1, "activation": "sigmoid"}])
    rng = np.random.RandomState(6)
    params = {k: v.astype(np.float32) for k, v in
              {"W1": rng.randn(3, 4), "b1": rng.randn(3, 1), "W2": rng.randn(1, 3), "b2": rng.randn(1, 1)}.items()}
    A0 = rng.rand(8, 2, 2, 1).astype(np.float32)
    AL, caches = forward_layers(A0, params, specs, dropout_rng=np.random.RandomState(7))
    assert AL.dtype == np.float32
    mask = caches[2].data
    assert mask.dtype == np.float32 and set(np.unique(mask).tolist()) <= {0.0, 2.0}
