"""initialize_parameters: the course's draws, from a local RandomState."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import initialize_parameters
from model_core.errors import ConfigError


def test_course_method_equals_the_course_code() -> None:
    dims = [50, 20, 7, 5, 1]
    np.random.seed(1)  # the course's own code, written out
    expected = {}
    for l in range(1, len(dims)):
        expected[f"W{l}"] = np.random.randn(dims[l], dims[l - 1]) / np.sqrt(dims[l - 1])
        expected[f"b{l}"] = np.zeros((dims[l], 1))
    got = initialize_parameters(dims, "course", seed=1)
    assert list(got) == list(expected)
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k])


def test_scaled_method_equals_the_course_two_layer_code() -> None:
    np.random.seed(1)
    W1 = np.random.randn(7, 30) * 0.01
    W2 = np.random.randn(1, 7) * 0.01
    got = initialize_parameters([30, 7, 1], "scaled", seed=1)
    np.testing.assert_array_equal(got["W1"], W1)
    np.testing.assert_array_equal(got["W2"], W2)


def test_global_random_state_is_untouched() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    initialize_parameters([10, 5, 1], "he", seed=7)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize(
    "method,std", [("scaled", 0.01), ("course", 1 / np.sqrt(400)), ("he", np.sqrt(2 / 400)),
                   ("xavier", np.sqrt(2 / 600))]
)
def test_scales(method: str, std: float) -> None:
    W = initialize_parameters([400, 200, 1], method, seed=0)["W1"]
    assert W.std() == pytest.approx(std, rel=0.02)


def test_zeros_and_dtype() -> None:
    p = initialize_parameters([4, 1], "zeros", dtype=np.float32)
    assert p["W1"].shape == (1, 4) and p["W1"].dtype == np.float32 and not p["W1"].any()
    q = initialize_parameters([4, 3, 1], "course", seed=1, dtype=np.float32)
    r = initialize_parameters([4, 3, 1], "course", seed=1)
    np.testing.assert_array_equal(q["W1"], r["W1"].astype(np.float32))


@pytest.mark.parametrize("dims,reason", [
    ([5], "layer_dims needs at least 2 entries (n_x and n_L)"),
    ([5, 0, 1], "layer_dims must be positive integers"),
    ([5, True, 1], "layer_dims must be positive integers"),  # a bool is an int to Python, not a width
    ([5, 2.0, 1], "layer_dims must be positive integers"),
    ([5, 3, 2], "layer_dims must end with 1: the output layer has 1 unit (binary classifier)"),
])
def test_bad_layer_dims(dims: list[object], reason: str) -> None:
    """Named, with the rule (``reason``, what the service answers) and the list given."""
    with pytest.raises(ConfigError) as info:
        initialize_parameters(dims, "he")  # type: ignore[arg-type]
    assert info.value.field == "layer_dims" and info.value.reason == reason
    assert str(info.value) == f"{reason}; got {dims!r}"


def test_unknown_method() -> None:
    with pytest.raises(ConfigError, match="zeros, scaled, course, he, xavier; got 'normal'") as info:
        initialize_parameters([3, 1], "normal")
    assert info.value.field == "init"
