"""The named recipes are what the README says they are, and an unknown name is refused
naming the field, the choices and the name given."""
from __future__ import annotations

import pytest

from model_core import ConfigError, TrainConfig, recipe
from model_core.recipes import PHOTOS_ARCHITECTURE


def test_the_photos_convolutions_are_3x3_stride_1_same_padding_relu() -> None:
    convs = [spec for spec in PHOTOS_ARCHITECTURE if spec["type"] == "conv2d"]
    assert convs == [{"type": "conv2d", "n_C": n, "f": 3, "stride": 1, "pad": 1, "activation": "relu"}
                     for n in (16, 32, 64, 64)]


def test_the_course_recipe_is_the_default_config() -> None:
    assert recipe("course") == TrainConfig()


def test_an_unknown_recipe_is_refused_naming_the_choices_and_the_name() -> None:
    with pytest.raises(ConfigError) as caught:
        recipe("nope")
    assert str(caught.value) == "recipe must be one of course, photos; got 'nope'"
    assert (caught.value.field, caught.value.reason) == ("recipe", "recipe must be one of course, photos")
