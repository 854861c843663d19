"""TrainConfig's refusals carry the value they refused (issue 15's mutation run)."""
from __future__ import annotations

import pytest

from model_core import TrainConfig
from model_core.errors import ConfigError

ARCHITECTURE = (
    {"type": "input", "n_H": 4, "n_W": 4, "n_C": 3},
    {"type": "flatten"},
    {"type": "dense", "n": 1, "activation": "sigmoid"},
)


@pytest.mark.parametrize("layer_dims", [(48, 5, 1), (47, 1)])
def test_layer_dims_beside_an_architecture_are_refused_with_their_value(layer_dims: tuple[int, ...]) -> None:
    assert TrainConfig(architecture=ARCHITECTURE).layer_dims == (48, 1)
    with pytest.raises(ConfigError) as caught:
        TrainConfig(architecture=ARCHITECTURE, layer_dims=layer_dims)
    e = caught.value
    assert e.field == "layer_dims" and e.reason == "with an architecture, layer_dims follows from it ([48, 1]): leave it out"
    assert str(e) == f"{e.reason}; got {list(layer_dims)!r}"


# field -> (low, high, open at low, open at high, integer): the ranges TrainConfig documents
RANGES = {
    "seed": (0, 2**32 - 1, False, False, True),
    "iterations": (1, 10_000_000, False, False, True),
    "epochs": (1, 1_000_000, False, False, True),
    "batch_size": (1, 1_000_000, False, False, True),
    "learning_rate": (0.0, 100.0, True, False, False),
    "l2": (0.0, 1e6, False, False, False),
    "beta": (0.0, 1.0, False, True, False),
    "beta1": (0.0, 1.0, False, True, False),
    "beta2": (0.0, 1.0, False, True, False),
    "epsilon": (0.0, 1.0, True, False, False),
}
LAYER_RANGES = {"shift": (0, 16, False, False, True), "weight_decay": (0.0, 1.0, False, False, False)}


def _config(field: str, value: object) -> TrainConfig:
    extra: dict[str, object] = {"architecture": ARCHITECTURE} if field in LAYER_RANGES else {}
    return TrainConfig(**{field: value}, **extra)  # type: ignore[arg-type]


def _refused(field: str, value: object, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(field, value)
    assert caught.value.field == field and caught.value.reason == reason
    assert str(caught.value) == f"{reason}; got {value!r}"


@pytest.mark.parametrize("field", [*RANGES, *LAYER_RANGES])
def test_each_numeric_field_is_bounded_at_its_edges_as_documented(field: str) -> None:
    low, high, open_low, open_high, integer = {**RANGES, **LAYER_RANGES}[field]
    if integer:
        reason = f"{field} must be an integer from {low} to {high}"
        below, above, inside = low - 1, high + 1, [low, high]
        for wrong in (float(low), True, "1", None if field != "epochs" else 1.5):
            _refused(field, wrong, reason)
    else:
        reason = f"{field} must be a number in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        step = 1e-9
        below, above = low - step, high + (high * 1e-9 or step)
        inside = [low + step if open_low else low, high - step if open_high else high, int(high) if not open_high else 0]
        if open_low:
            _refused(field, low, reason)
        if open_high:
            _refused(field, high, reason)
        for wrong in (float("nan"), float("inf"), -float("inf"), True, "0.5", None):
            _refused(field, wrong, reason)
    _refused(field, below, reason)
    _refused(field, above, reason)
    for value in inside:
        if value == 0 and open_low:
            continue
        assert getattr(_config(field, value), field) == value


@pytest.mark.parametrize(("field", "allowed"), [
    ("init", "zeros, scaled, course, he, xavier"),
    ("optimizer", "gd, momentum, rmsprop, adam"),
    ("dtype", "float32, float64"),
    ("augment", "none, flip"),
    ("tta", "none, flip"),
])
def test_a_name_outside_its_set_is_refused_naming_field_set_and_value(field: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**{field: "gelu"})  # type: ignore[arg-type]
    e = caught.value
    assert (e.field, e.reason) == (field, f"{field} must be one of {allowed}")
    assert str(e) == f"{e.reason}; got 'gelu'"


def test_layer_dims_are_kept_as_a_tuple_of_python_ints() -> None:
    import numpy as np

    for given in ([12, 3, 1], (np.int64(12), np.int32(3), 1), range(2, 0, -1)):
        config = TrainConfig(layer_dims=given)  # type: ignore[arg-type]
        assert type(config.layer_dims) is tuple and all(type(n) is int for n in config.layer_dims)
        assert config.layer_dims == tuple(int(n) for n in given)


@pytest.mark.parametrize(("field", "value"), [("shift", 2), ("weight_decay", 0.25)])
def test_a_layer_option_without_an_architecture_is_refused_with_its_value(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**{field: value})  # type: ignore[arg-type]
    e = caught.value
    assert e.field == field
    assert str(e) == (f"{field} needs an architecture (the course's fully connected path keeps its own "
                      f"options); got {value!r}")


@pytest.mark.parametrize("field", ["augment", "tta"])
def test_flip_without_64x64x3_images_names_its_field_and_the_input_size(field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(layer_dims=(10, 5, 1), **{field: "flip"})  # type: ignore[arg-type]
    e = caught.value
    assert e.field == field
    assert str(e) == f"{field}='flip' needs 64x64x3 images (layer_dims[0] = 12288); got 10"
