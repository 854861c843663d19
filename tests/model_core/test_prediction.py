"""predict_proba_raw: P(cat) of raw pixels with the model's input norm, its hidden
activation, and test-time flip averaging (each image and its mirror, left-right)."""
from __future__ import annotations

import numpy as np

from model_core.architecture import check_architecture, parameter_shapes
from model_core.forward import forward
from model_core.initializers import initialize_layers, initialize_parameters
from model_core.network import forward_layers
from model_core.prediction import CHUNK, predict_proba_raw


def pixels(m: int, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, size=(12288, m)).astype(np.uint8)


def mirrored(X: np.ndarray) -> np.ndarray:
    m = X.shape[1]
    return X.T.reshape(m, 64, 64, 3)[:, :, ::-1, :].reshape(m, -1).T


def test_a_dense_model_averages_p_of_each_image_and_its_mirror_under_flip() -> None:
    params = initialize_parameters([12288, 7, 1], "he", seed=1)
    X = pixels(3)
    plain = forward(X / 255, params, "relu")[0][0]
    flipped = forward(mirrored(X) / 255, params, "relu")[0][0]
    assert not np.allclose(plain, flipped)  # the model is not symmetric: the flip is seen
    np.testing.assert_allclose(predict_proba_raw(X, params, input_norm="scale", tta="flip"),
                               (plain + flipped) / 2, rtol=1e-12)
    # by default: no flip, and ReLU in the hidden layers
    np.testing.assert_allclose(predict_proba_raw(X, params, input_norm="scale"), plain, rtol=1e-12)
    tanh = forward(X / 255, params, "tanh")[0][0]
    np.testing.assert_allclose(predict_proba_raw(X, params, input_norm="scale", hidden_activation="tanh"),
                               tanh, rtol=1e-12)
    # the mirror image goes through the same hidden activation
    tanh_flipped = forward(mirrored(X) / 255, params, "tanh")[0][0]
    np.testing.assert_allclose(predict_proba_raw(X, params, input_norm="scale", hidden_activation="tanh", tta="flip"),
                               (tanh + tanh_flipped) / 2, rtol=1e-12)


def test_a_layer_model_predicts_in_its_dtype_over_chunks_with_the_flip() -> None:
    specs = check_architecture([{"type": "input", "n_H": 64, "n_W": 64, "n_C": 3},
                                {"type": "max_pool", "f": 8, "stride": 8}, {"type": "flatten"},
                                {"type": "dense", "n": 1, "activation": "sigmoid"}])
    params = initialize_layers(parameter_shapes(specs), "he", seed=2, dtype=np.float32)
    X = pixels(CHUNK + 3)
    images = (X.astype(np.float32) / 255).T.reshape(-1, 64, 64, 3)
    plain = forward_layers(images, params, specs)[0][0]
    flipped = forward_layers(images[:, :, ::-1, :], params, specs)[0][0]
    P = predict_proba_raw(X, params, input_norm="scale", architecture=specs, tta="flip")
    assert P.dtype == np.float32 and P.shape == (CHUNK + 3,)
    np.testing.assert_allclose(P, (plain + flipped) / 2, rtol=1e-5)
