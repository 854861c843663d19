"""check_architecture's refusals, each with its exact message naming the layer and the
rule, and its bounds at their edges (MAX_LAYERS layers, MAX_WEIGHTS weights)."""
from __future__ import annotations

from typing import Any

import pytest

from model_core import ConfigError
from model_core.architecture import LAYER_TYPES, MAX_LAYERS, MAX_WEIGHTS, check_architecture

INPUT = {"type": "input", "n_H": 4, "n_W": 4, "n_C": 3}
OUT = {"type": "dense", "n": 1, "activation": "sigmoid"}
FLAT = {"type": "flatten"}


def refusal(specs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        check_architecture(specs)
    assert caught.value.field == "architecture"
    return caught.value


@pytest.mark.parametrize(("specs", "message"), [
    ([], "architecture: must be a list of 2 to 64 layer specs (objects), input first"),
    ([INPUT], "architecture: must be a list of 2 to 64 layer specs (objects), input first"),
    ("input", "architecture: must be a list of 2 to 64 layer specs (objects), input first"),
    ([INPUT, OUT], "architecture[1]: a dense layer needs a column: put flatten or global_avg_pool before it"),
    ([INPUT, "flatten", OUT], f"architecture[1]: must be an object whose type is one of {', '.join(LAYER_TYPES)}"),
    ([INPUT, {"n": 1}, OUT], f"architecture[1]: must be an object whose type is one of {', '.join(LAYER_TYPES)}"),
    ([INPUT, {"type": "conv3d"}, OUT], f"architecture[1]: must be an object whose type is one of "
                                       f"{', '.join(LAYER_TYPES)}"),
    ([INPUT, {"type": "flatten", "n": 1}, OUT], "architecture[1]: a flatten layer takes only type and no other field"),
    ([INPUT, {"type": "conv2d", "n_C": 2, "size": 3}, FLAT, OUT],
     "architecture[1]: a conv2d layer takes only type and n_C, f, stride, pad, activation"),
    ([INPUT, FLAT, {"type": "dense"}, OUT], "architecture[2]: a dense layer needs n, an integer from 1 to 4096"),
    ([INPUT, FLAT, {"type": "dense", "n": 0}, OUT], "architecture[2]: dense n must be an integer from 1 to 4096"),
    ([FLAT, INPUT, OUT], "architecture[0]: the first layer, and only the first, must be of type input"),
    ([INPUT, INPUT, FLAT, OUT], "architecture[0]: the first layer, and only the first, must be of type input"),
    ([INPUT, FLAT, {"type": "dense", "n": 2, "activation": "sigmoid"}],
     "architecture[2]: the last layer must be dense with n 1 and activation sigmoid (P(cat))"),
    ([INPUT, FLAT, {"type": "dense", "n": 1, "activation": "relu"}],
     "architecture[2]: the last layer must be dense with n 1 and activation sigmoid (P(cat))"),
    ([INPUT, FLAT, {"type": "dense", "n": 4, "activation": "sigmoid"}, OUT],
     "architecture[2]: sigmoid is the output's activation; hidden dense layers take relu, tanh, leaky_relu"),
    ([INPUT, {"type": "max_pool", "f": 5, "stride": 1}, FLAT, OUT],
     "architecture[1]: the max_pool window is larger than its (padded) input"),
])
def test_each_refusal_names_the_layer_and_the_rule(specs: Any, message: str) -> None:
    assert str(refusal(specs)) == message


@pytest.mark.parametrize("kind", ["conv2d", "max_pool", "avg_pool", "global_avg_pool", "flatten"])
def test_an_image_layer_after_a_column_is_refused(kind: str) -> None:
    layer = {"type": kind, "n_C": 2} if kind == "conv2d" else {"type": kind}
    assert str(refusal([INPUT, FLAT, layer, OUT])) == (
        f"architecture[2]: a {kind} layer needs an image (n_H, n_W, n_C) input, not a column")


def test_max_layers_layers_pass_and_one_more_is_refused() -> None:
    hidden = [{"type": "dense", "n": 2}] * (MAX_LAYERS - 3)
    assert len(check_architecture([INPUT, FLAT, *hidden, OUT])) == MAX_LAYERS
    error = refusal([INPUT, FLAT, *hidden, {"type": "dense", "n": 2}, OUT])
    assert str(error) == "architecture: must be a list of 2 to 64 layer specs (objects), input first"
    assert (error.limit, error.value, error.actual) == ("MAX_LAYERS", MAX_LAYERS, MAX_LAYERS + 1)


def big(c0: int, k: int, a: int) -> list[dict[str, Any]]:
    """k (9 c0 + 1) conv weights, a (k + 1) + a hidden dense ones, a + 1 output ones."""
    return [{"type": "input", "n_H": 1, "n_W": 1, "n_C": c0},
            {"type": "conv2d", "n_C": k, "f": 3, "pad": 1}, FLAT, {"type": "dense", "n": a}, OUT]


def test_max_weights_weights_pass_and_one_more_is_refused_at_the_layer_that_passes() -> None:
    assert 4087 * (9 * 1152 + 1) + 1864 * (4087 + 1) + 1864 + 1 == MAX_WEIGHTS
    check_architecture(big(1152, 4087, 1864))
    assert 4094 * (9 * 903 + 1) + 4083 * (4094 + 1) + 4083 + 1 == MAX_WEIGHTS + 1
    error = refusal(big(903, 4094, 4083))
    assert str(error) == f"architecture[4]: the network has more than {MAX_WEIGHTS} weights"
    assert (error.limit, error.value, error.actual) == ("MAX_WEIGHTS", MAX_WEIGHTS, MAX_WEIGHTS + 1)


def test_the_weights_of_every_layer_are_summed() -> None:
    # 3000 (9 * 1000 + 1) = 27,003,000 and 1100 (9 * 3000 + 1) = 29,701,100: each below the bound, both above
    specs = [{"type": "input", "n_H": 1, "n_W": 1, "n_C": 1000},
             {"type": "conv2d", "n_C": 3000, "f": 3, "pad": 1}, {"type": "conv2d", "n_C": 1100, "f": 3, "pad": 1},
             FLAT, OUT]
    error = refusal(specs)
    assert str(error) == f"architecture[2]: the network has more than {MAX_WEIGHTS} weights"
    assert error.actual == 27_003_000 + 29_701_100
