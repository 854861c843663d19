"""float32 training is float32 arithmetic on every path of the dense engine (issue 15's
mutation run): one step equals the step written out in float32, exactly.

One example (m = 1) makes every path's sums the same sums: a mini-batch is the whole
batch in the only order there is, and an image that is its own mirror image is the same
whether the seeded coin flips it or not.
"""
from __future__ import annotations

import numpy as np
import pytest

from model_core import TrainConfig, train
from model_core.backward import backward
from model_core.forward import forward
from model_core.initializers import initialize_parameters
from model_core.normalization import normalize

N = 12288


def _mirror_image(seed: int) -> np.ndarray:
    """One 64x64x3 image, its own left-right mirror image, as a pixel column (12288, 1)."""
    img = np.random.RandomState(seed).randint(0, 256, size=(64, 64, 3)).astype(np.uint8)
    img[:, 32:, :] = img[:, :32, :][:, ::-1, :]
    return img.reshape(N, 1)


def _step_written_out(X: np.ndarray, Y: np.ndarray, config: TrainConfig, xdtype: type) -> dict[str, np.ndarray]:
    """One gradient descent step from the config's start, X normalized in ``xdtype``."""
    start = initialize_parameters(config.layer_dims, config.init, config.seed, np.float32)
    AL, caches = forward(normalize(X, config.input_norm, xdtype), start, config.hidden_activation)
    grads = backward(AL, Y.astype(xdtype), caches, config.l2)
    return {k: (P - np.float32(config.learning_rate) * grads["d" + k]).astype(np.float32) for k, P in start.items()}


@pytest.mark.parametrize("path", [
    dict(epochs=1, batch_size=8),  # mini-batches
    dict(epochs=1, batch_size=8, augment="flip"),  # mini-batches, flipped
    dict(iterations=1, augment="flip"),  # full batch, flipped
])
@pytest.mark.parametrize("input_norm", ["scale", "per_image"])
def test_one_float32_step_on_each_dense_path_is_float32_arithmetic(path: dict, input_norm: str) -> None:
    X, Y = _mirror_image(4), np.ones((1, 1), np.int64)
    config = TrainConfig(layer_dims=(N, 3, 1), dtype="float32", init="he", learning_rate=0.05, l2=0.3,
                         input_norm=input_norm, **path)
    trained, _ = train(X, Y, config, engine="dense")
    expected = _step_written_out(X, Y, config, np.float32)
    for key, P in expected.items():
        assert trained[key].dtype == np.float32
        np.testing.assert_array_equal(trained[key], P, err_msg=key)
    # the same step with the batch in float64 ends elsewhere: the test can tell them apart
    wide = _step_written_out(X, Y, config, np.float64)
    assert any(not np.array_equal(wide[k], P) for k, P in expected.items())


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_a_float32_gram_run_computes_its_costs_in_float32(optimizer: str) -> None:
    """The Gram engine's output layer and labels stay float32: every recorded cost is a
    float32 number (a cost computed in float64 almost never is)."""
    rng = np.random.RandomState(2)
    X, Y = rng.randint(0, 256, size=(300, 40)).astype(np.uint8), (np.arange(40) % 2).reshape(1, 40)
    runs = {}
    for dtype in ("float32", "float64"):
        config = TrainConfig(layer_dims=(300, 5, 3, 1), dtype=dtype, init="he", optimizer=optimizer,
                             learning_rate=0.01, iterations=101)
        _, history = train(X, Y, config, engine="gram")
        runs[dtype] = [c for _, c in history["costs"]]
    assert len(runs["float32"]) == 2  # iterations 0 and 100
    assert all(float(np.float32(c)) == c for c in runs["float32"])
    assert not all(float(np.float32(c)) == c for c in runs["float64"])  # the test can tell
