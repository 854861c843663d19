"""TrainConfig: validation errors name the field and its allowed range."""
from __future__ import annotations

import pytest

from model_core import TrainConfig, initialize_parameters
from model_core.activations import check_activation
from model_core.errors import ConfigError
from model_core.normalization import check_input_norm
from model_core.optimizers import make_optimizer


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("learning_rate", 0.0, r"learning_rate must be a number in \(0.0, 100.0\]"),
        ("learning_rate", float("nan"), "learning_rate"),
        ("iterations", 0, "iterations must be an integer from 1"),
        ("epochs", -1, "epochs must be an integer from 1"),
        ("batch_size", 2.5, "batch_size"),
        ("l2", -1.0, "l2 must be a number in"),
        ("beta1", 1.0, r"beta1 must be a number in \[0.0, 1.0\)"),
        ("optimizer", "sgd", "optimizer must be one of gd, momentum, rmsprop, adam"),
        ("dtype", "float16", "dtype must be one of float32, float64"),
        ("input_norm", "minmax", "input_norm must be one of scale, per_image"),
        ("augment", "rotate", "augment must be one of none, flip"),
        ("hidden_activation", "gelu", "hidden_activation must be one of"),
        ("seed", -1, "seed must be an integer"),
        ("layer_dims", (12288, 5, 2), "1 unit"),
    ],
)
def test_bad_values_are_named(field: str, value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        TrainConfig(**{field: value})
    assert info.value.field == field  # the service's 422 names this field from it


def test_errors_carry_the_field_and_a_reason_without_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(learning_rate=-3.5)
    assert info.value.field == "learning_rate"
    assert "-3.5" in str(info.value) and "-3.5" not in info.value.reason
    with pytest.raises(ConfigError) as info:
        TrainConfig(layer_dims=(12288, 5, 2))
    assert info.value.field == "layer_dims"


def test_flip_needs_images() -> None:
    with pytest.raises(ConfigError, match="64x64x3"):
        TrainConfig(layer_dims=(10, 1), augment="flip")


def test_round_trip_through_a_dict() -> None:
    config = TrainConfig(layer_dims=(12288, 7, 1), optimizer="adam", epochs=5)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["layer_dims"] == [12288, 7, 1]


def test_unknown_fields_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown config field\\(s\\): lr"):
        TrainConfig.from_dict({"lr": 0.1})


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        TrainConfig().learning_rate = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("field,refuse,valid", [
    ("hidden_activation", lambda: check_activation("gelu"), ("relu", "tanh", "sigmoid", "leaky_relu")),
    ("input_norm", lambda: check_input_norm("gelu"), ("scale", "per_image")),
    ("init", lambda: initialize_parameters([3, 1], "gelu"), ("zeros", "scaled", "course", "he", "xavier")),
    ("optimizer", lambda: make_optimizer("gelu", 0.1), ("gd", "momentum", "rmsprop", "adam")),
])
def test_an_unknown_name_is_refused_with_its_field_the_valid_names_and_the_name_given(field, refuse, valid) -> None:
    with pytest.raises(ConfigError) as info:
        refuse()
    assert info.value.field == field
    assert info.value.reason == f"{field} must be one of {', '.join(valid)}"  # without the value: the service's 422
    assert str(info.value) == f"{info.value.reason}; got 'gelu'"  # with it: for the CLI and notebooks


def test_an_error_without_a_value_is_its_reason_alone() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"lr": 0.1})
    assert str(info.value) == info.value.reason == "unknown config field(s): lr"
    assert str(ConfigError("a rule", field="x")) == "a rule"
    assert str(ConfigError("a rule", field="x", got=None)) == "a rule; got None"  # None is a value too


SMALL_NET = ({"type": "input", "n_H": 4, "n_W": 4, "n_C": 1}, {"type": "flatten"},
             {"type": "dense", "n": 1, "activation": "sigmoid"})


def test_equal_configs_hash_alike_and_different_ones_apart() -> None:
    # the specs' keys in another order make an equal config, with the same hash
    reordered = tuple(dict(reversed(list(spec.items()))) for spec in SMALL_NET)
    assert TrainConfig(architecture=SMALL_NET) == TrainConfig(architecture=reordered)
    assert hash(TrainConfig(architecture=SMALL_NET)) == hash(TrainConfig(architecture=reordered))
    assert len({TrainConfig(architecture=SMALL_NET), TrainConfig(architecture=reordered)}) == 1
    # the hash follows the fields: twenty seeds, twenty hashes (not one bucket for all)
    assert len({hash(TrainConfig(seed=s)) for s in range(20)}) == 20
    assert hash(TrainConfig(architecture=SMALL_NET)) != hash(TrainConfig())


def test_unknown_fields_are_all_named_and_the_first_is_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"zeta": 1, "alpha": 2, "seed": 3})
    assert info.value.reason == "unknown config field(s): alpha, zeta"
    assert info.value.field == "alpha"
