"""The metadata schema's bounds at their edges (issue 15's mutation run)."""
from __future__ import annotations

import pytest

from model_core import ParameterFileError
from model_core.metadata import FIELDS, MAX_STRING, check_metadata

DIMS = [12288, 3, 1]
ARCHITECTURE = [
    {"type": "input", "n_H": 4, "n_W": 4, "n_C": 3},
    {"type": "flatten"},
    {"type": "dense", "n": 1, "activation": "sigmoid"},
]


@pytest.mark.parametrize("field", ["format", "engine", "model_core_version", "recipe"])
def test_a_string_field_takes_at_most_max_string_characters(field: str) -> None:
    assert check_metadata({field: "x" * MAX_STRING}, DIMS)[field] == "x" * MAX_STRING
    with pytest.raises(ParameterFileError) as caught:
        check_metadata({field: "x" * (MAX_STRING + 1)}, DIMS)
    assert caught.value.field == field


def test_an_object_value_takes_at_most_max_string_characters() -> None:
    assert check_metadata({"source": {"kind": "y" * MAX_STRING}}, DIMS)["source"] == {"kind": "y" * MAX_STRING}
    with pytest.raises(ParameterFileError, match="metadata field source must be"):
        check_metadata({"source": {"kind": "y" * (MAX_STRING + 1)}}, DIMS)


def test_a_config_integer_list_holds_1_to_1000_positive_integers() -> None:
    for n in (1, 1000):
        assert check_metadata({"config": {"layer_dims": [3] * n}}, DIMS)["config"] == {"layer_dims": [3] * n}
    for bad in ([], [3] * 1001, [3, 0], [3, True]):
        with pytest.raises(ParameterFileError) as caught:
            check_metadata({"config": {"layer_dims": bad}}, DIMS)
        assert caught.value.field == "config"


def test_each_record_level_refusal_is_worded_exactly_and_names_its_field() -> None:
    cases = [
        ([1, 2], "the metadata must be a JSON object", None),
        ({"zz": 1, "yy": 2}, f"the metadata has 2 field(s) the format does not define; it defines "
                             f"{', '.join(FIELDS)}", "metadata"),
        ({}, "metadata field layer_dims is missing", "layer_dims"),
        ({"architecture": ARCHITECTURE, "layer_dims": [48, 2, 1]},
         "metadata field layer_dims does not match the architecture", "layer_dims"),
    ]
    for meta, message, field in cases:
        with pytest.raises(ParameterFileError) as caught:
            check_metadata(meta)
        assert (str(caught.value), caught.value.field) == (message, field)
    assert check_metadata({"architecture": ARCHITECTURE})["layer_dims"] == [48, 1]  # derived when left out


def test_an_architecture_over_a_limit_carries_the_limit_and_the_count() -> None:
    from model_core.architecture import MAX_LAYERS

    too_deep = [ARCHITECTURE[0], ARCHITECTURE[1]] + [{"type": "dense", "n": 2}] * MAX_LAYERS + [ARCHITECTURE[2]]
    with pytest.raises(ParameterFileError) as caught:
        check_metadata({"architecture": too_deep})
    e = caught.value
    assert (e.field, e.limit, e.value, e.actual) == ("architecture", "MAX_LAYERS", MAX_LAYERS, len(too_deep))


def test_tta_flip_on_a_fully_connected_net_needs_12288_inputs() -> None:
    assert check_metadata({"tta": "flip"}, [12288, 3, 1])["tta"] == "flip"
    assert check_metadata({"tta": "flip", "architecture": ARCHITECTURE})["tta"] == "flip"  # it mirrors 4x4 too
    for dims in ([12287, 3, 1], [4096, 3, 1], [100, 12288, 1]):
        with pytest.raises(ParameterFileError) as caught:
            check_metadata({"tta": "flip"}, dims)
        assert caught.value.field == "tta"
        assert str(caught.value) == ("metadata field tta flip needs an architecture or 64x64x3 images "
                                     "(layer_dims[0] = 12288)")
