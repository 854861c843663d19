"""The saliency gradient dP(cat)/dX against central finite differences of predict_proba_raw,
in raw pixel units (0..255), through each input norm and the test-time flip, float64."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import Model, initialize_parameters, input_gradient, saliency_map
from model_core.architecture import check_architecture, parameter_shapes
from model_core.initializers import initialize_layers
from model_core.prediction import predict_proba_raw

TOL = 1e-6
EPS = 1e-3  # grey levels: the inputs span 0..255


def numeric(X: np.ndarray, coords: np.ndarray, **model: object) -> np.ndarray:
    """Central differences of each image's P(cat) along the pixels ``coords`` (k,), (k, m).

    Examples are independent, so moving pixel i of every image at once moves each P(cat)
    by its own derivative only.
    """
    out = np.empty((len(coords), X.shape[1]))
    for row, i in enumerate(coords):  # a loop over the checked pixels, in a test
        plus, minus = X.copy(), X.copy()
        plus[i] += EPS
        minus[i] -= EPS
        out[row] = (predict_proba_raw(plus, **model) - predict_proba_raw(minus, **model)) / (2 * EPS)
    return out


def relative_error(g: np.ndarray, n: np.ndarray) -> float:
    return float(np.linalg.norm(g - n) / (np.linalg.norm(g) + np.linalg.norm(n)))


def images(m: int, n_x: int, seed: int = 0) -> np.ndarray:
    """Raw pixels 0..255 as floats (so a difference of EPS is representable), (n_x, m)."""
    return np.random.RandomState(seed).uniform(20, 235, size=(n_x, m))


@pytest.mark.parametrize("input_norm", ["scale", "per_image"])
@pytest.mark.parametrize("tta", ["none", "flip"])
@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_dense_net_gradient_equals_finite_differences(input_norm: str, tta: str, hidden: str) -> None:
    parameters = initialize_parameters([12288, 6, 3, 1], "he", seed=1)
    X = images(3, 12288)
    model = {"parameters": parameters, "input_norm": input_norm, "hidden_activation": hidden, "tta": tta}
    G = input_gradient(X, parameters, input_norm=input_norm, hidden_activation=hidden, tta=tta)
    assert G.shape == X.shape
    coords = np.random.RandomState(2).choice(12288, 60, replace=False)
    n = numeric(X, coords, **model)
    assert np.abs(n).max() > 1e-6  # the check compares something
    assert relative_error(G[coords], n) < TOL


def cnn() -> list[dict]:
    return check_architecture([
        {"type": "input", "n_H": 6, "n_W": 6, "n_C": 3},
        {"type": "conv2d", "n_C": 4, "f": 3, "pad": 1, "activation": "tanh"},
        {"type": "max_pool", "f": 2, "stride": 2},
        {"type": "conv2d", "n_C": 3, "f": 3, "pad": 1, "activation": "relu"},
        {"type": "avg_pool", "f": 3, "stride": 3},
        {"type": "flatten"},
        {"type": "dropout", "keep_prob": 0.5},
        {"type": "dense", "n": 1, "activation": "sigmoid"},
    ])


@pytest.mark.parametrize("input_norm", ["scale", "per_image"])
@pytest.mark.parametrize("tta", ["none", "flip"])
def test_layer_network_gradient_equals_finite_differences(input_norm: str, tta: str) -> None:
    specs = cnn()
    parameters = initialize_layers(parameter_shapes(specs), "he", seed=3)
    X = images(2, 6 * 6 * 3, seed=4)
    model = {"parameters": parameters, "input_norm": input_norm, "architecture": specs, "tta": tta}
    G = input_gradient(X, parameters, input_norm=input_norm, architecture=specs, tta=tta)
    coords = np.arange(X.shape[0])  # every pixel
    n = numeric(X, coords, **model)
    assert np.abs(n).max() > 1e-6
    assert relative_error(G, n) < TOL


def test_global_average_pool_network_and_chunks_of_images() -> None:
    """More images than a chunk (64): each column is still its own image's gradient."""
    specs = check_architecture([
        {"type": "input", "n_H": 4, "n_W": 4, "n_C": 3},
        {"type": "conv2d", "n_C": 3, "f": 3, "pad": 1, "activation": "relu"},
        {"type": "global_avg_pool"},
        {"type": "dense", "n": 1, "activation": "sigmoid"},
    ])
    parameters = initialize_layers(parameter_shapes(specs), "he", seed=5)
    X = images(70, 48, seed=6)
    G = input_gradient(X, parameters, input_norm="per_image", architecture=specs)
    n = numeric(X, np.arange(48), parameters=parameters, input_norm="per_image", architecture=specs)
    assert relative_error(G, n) < TOL
    one = input_gradient(X[:, 69:70], parameters, input_norm="per_image", architecture=specs)
    np.testing.assert_allclose(G[:, 69:70], one, rtol=1e-12)


def test_layers_below_the_first_weighted_one_are_backpropagated_to_the_input() -> None:
    """A max pool and a flatten before the first dense layer: dA0 is the pool's dA_prev,
    the image's shape, not the dense layer's dA (where backward_layers stops)."""
    specs = check_architecture([
        {"type": "input", "n_H": 4, "n_W": 4, "n_C": 3},
        {"type": "max_pool", "f": 2, "stride": 2},
        {"type": "flatten"},
        {"type": "dense", "n": 3, "activation": "tanh"},
        {"type": "dense", "n": 1, "activation": "sigmoid"},
    ])
    parameters = initialize_layers(parameter_shapes(specs), "he", seed=8)
    X = images(3, 48, seed=9)
    G = input_gradient(X, parameters, input_norm="scale", architecture=specs)
    assert G.shape == X.shape
    n = numeric(X, np.arange(48), parameters=parameters, input_norm="scale", architecture=specs)
    assert np.abs(n).max() > 1e-6
    assert relative_error(G, n) < TOL


def test_a_flat_image_under_per_image_has_the_floored_gradient() -> None:
    """Below one grey level of std the divisor is the constant 1: only the mean is subtracted."""
    parameters = initialize_parameters([12288, 4, 1], "he", seed=7)
    X = np.full((12288, 1), 100.0)
    X[:5, 0] += [0.1, -0.1, 0.2, 0.0, -0.2]  # std far below 1
    G = input_gradient(X, parameters, input_norm="per_image")
    coords = np.arange(0, 12288, 97)
    n = numeric(X, coords, parameters=parameters, input_norm="per_image")
    assert relative_error(G[coords], n) < TOL


def test_model_input_gradient_uses_its_metadata() -> None:
    parameters = initialize_parameters([12288, 3, 1], "he", seed=8)
    model = Model(parameters, {"input_norm": "per_image", "hidden_activation": "tanh", "tta": "flip"})
    X = images(2, 12288, seed=9)
    expected = input_gradient(X, parameters, input_norm="per_image", hidden_activation="tanh", tta="flip")
    np.testing.assert_array_equal(model.input_gradient(X), expected)


def test_saliency_map_is_the_channel_max_scaled_to_255() -> None:
    G = np.zeros((12288, 2))
    img = np.zeros((64, 64, 3))
    img[3, 5, 1] = -4.0  # the largest |gradient|, negative: its size counts
    img[3, 5, 0] = 1.0
    img[10, 20, 2] = 2.0
    G[:, 0] = img.reshape(-1)
    H = saliency_map(G)
    assert H.shape == (2, 64, 64) and H.dtype == np.uint8
    assert H[0, 3, 5] == 255 and H[0, 10, 20] == 128 and H[0].sum() == 255 + 128
    assert not H[1].any()  # no gradient: no heat, not a division by zero


def test_an_unknown_tta_is_refused_for_either_kind_of_net() -> None:
    parameters = initialize_parameters([12288, 2, 1], "he", seed=1)
    with pytest.raises(ValueError, match="tta"):
        input_gradient(images(1, 12288), parameters, input_norm="scale", tta="rotate")
    specs = cnn()
    with pytest.raises(ValueError, match="tta"):
        input_gradient(images(1, 108), initialize_layers(parameter_shapes(specs), "he", seed=3),
                       input_norm="scale", architecture=specs, tta="rotate")
