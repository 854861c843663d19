"""initialize_layers: each method's scale from a conv2d's and a dense W's fan-in and fan-out,
written out against one RandomState; zeros; biases; an unknown method named with its field."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.errors import ConfigError
from model_core.initializers import INIT_METHODS, initialize_layers

# a conv2d W (f, f, n_C_prev, n_C) with f, n_C_prev and n_C all different, so that each
# factor of the fan-in f f n_C_prev and fan-out f f n_C is told apart; a dense W (n_l, n_prev)
SHAPES = {"W1": (3, 3, 2, 5), "b1": (1, 1, 1, 5), "W2": (1, 45), "b2": (1, 1)}


def expected_scales(method: str) -> dict[str, float]:
    """The scale of each W's standard normal draw, from the docstring's fan-in and fan-out."""
    fans = {"W1": (3 * 3 * 2, 3 * 3 * 5), "W2": (45, 1)}
    return {key: {"scaled": 0.01, "course": 1 / np.sqrt(fan_in), "he": np.sqrt(2.0 / fan_in),
                  "xavier": np.sqrt(2.0 / (fan_in + fan_out))}[method]
            for key, (fan_in, fan_out) in fans.items()}


@pytest.mark.parametrize("method", ["scaled", "course", "he", "xavier"])
def test_each_weight_is_a_draw_times_its_methods_scale(method: str) -> None:
    rng = np.random.RandomState(4)  # the draws in key order, biases drawing nothing
    draws = {key: rng.randn(*SHAPES[key]) for key in ("W1", "W2")}
    got = initialize_layers(SHAPES, method, seed=4)
    assert list(got) == list(SHAPES)
    for key, scale in expected_scales(method).items():
        np.testing.assert_allclose(got[key], draws[key] * scale, rtol=1e-15, atol=0)
    for key in ("b1", "b2"):
        assert got[key].shape == SHAPES[key] and not got[key].any()


def test_zeros_gives_zero_weights_and_biases_in_the_dtype() -> None:
    got = initialize_layers(SHAPES, "zeros", seed=4, dtype=np.float32)
    for key, shape in SHAPES.items():
        assert got[key].shape == shape and got[key].dtype == np.float32 and not got[key].any()


def test_the_methods_scales_differ() -> None:
    # the same seed, so each W differs between two methods only by its scale
    W = {method: initialize_layers(SHAPES, method, seed=0)["W1"] for method in INIT_METHODS if method != "zeros"}
    ratios = {method: float(W[method][0, 0, 0, 0] / W["he"][0, 0, 0, 0]) for method in W}
    assert ratios["course"] == pytest.approx(1 / np.sqrt(2), rel=1e-12)  # 1/sqrt(18) over sqrt(2/18)
    assert ratios["xavier"] == pytest.approx(np.sqrt(18 / 63), rel=1e-12)  # sqrt(2/63) over sqrt(2/18)
    assert ratios["scaled"] == pytest.approx(0.01 / np.sqrt(2 / 18), rel=1e-12)


def test_unknown_method_is_named_with_its_field_and_value() -> None:
    with pytest.raises(ConfigError) as info:
        initialize_layers(SHAPES, "normal")
    assert info.value.field == "init"
    assert info.value.reason == "init must be one of zeros, scaled, course, he, xavier"
    assert str(info.value) == "init must be one of zeros, scaled, course, he, xavier; got 'normal'"
