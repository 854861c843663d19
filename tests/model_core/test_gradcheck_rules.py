"""gradient_check_layers' rules beside its accuracy: no penalty by default, dropout only with a
seed (and then the same masks every time), and the check in float64 whatever the parameters'."""
from __future__ import annotations

import numpy as np

from model_core.architecture import check_architecture, parameter_shapes
from model_core.gradcheck import gradient_check_layers
from model_core.initializers import initialize_layers

TOL = 1e-7
SPECS = check_architecture([
    {"type": "input", "n_H": 4, "n_W": 4, "n_C": 2},
    {"type": "conv2d", "n_C": 3, "f": 3, "stride": 1, "pad": 1},
    {"type": "flatten"},
    {"type": "dropout", "keep_prob": 0.6},
    {"type": "dense", "n": 1, "activation": "sigmoid"},
])


def problem() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.RandomState(0)
    A0 = rng.randn(3, 4, 4, 2)  # (m, n_H, n_W, n_C)
    Y = np.array([[1.0, 0.0, 1.0]])
    parameters = initialize_layers(parameter_shapes(SPECS), "he", seed=1)
    parameters["b1"] = rng.randn(*parameters["b1"].shape) * 0.1  # ReLU kinks off 0
    return A0, Y, parameters


def test_no_penalty_by_default() -> None:
    A0, Y, parameters = problem()
    default = gradient_check_layers(A0, Y, parameters, SPECS)
    assert default == gradient_check_layers(A0, Y, parameters, SPECS, l2=0.0, weight_decay=0.0)
    # each penalty changes the gradients compared, so the error is another number
    assert default != gradient_check_layers(A0, Y, parameters, SPECS, l2=1.0)
    assert default != gradient_check_layers(A0, Y, parameters, SPECS, weight_decay=1.0)


def test_dropout_only_with_a_seed_and_then_the_same_masks() -> None:
    A0, Y, parameters = problem()
    # no seed: prediction mode, no masks, so the cost is a fixed function and the check passes
    without = gradient_check_layers(A0, Y, parameters, SPECS)
    assert without < TOL
    # a seed: the same masks in every evaluation (the check passes), and they are applied
    seeded = gradient_check_layers(A0, Y, parameters, SPECS, dropout_seed=5)
    assert seeded < TOL
    assert seeded == gradient_check_layers(A0, Y, parameters, SPECS, dropout_seed=5)
    assert seeded != without and seeded != gradient_check_layers(A0, Y, parameters, SPECS, dropout_seed=6)


def test_float32_parameters_are_checked_in_float64() -> None:
    A0, Y, parameters = problem()
    p32 = {k: v.astype(np.float32) for k, v in parameters.items()}
    # central differences of eps = 1e-6 in float32 arithmetic would be rounding noise
    assert gradient_check_layers(A0, Y, p32, SPECS) < TOL
    assert all(v.dtype == np.float32 for v in p32.values())  # the caller's arrays untouched
