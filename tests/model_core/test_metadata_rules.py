"""The metadata schema's bounds at their edges (issue 15's mutation run)."""
from __future__ import annotations

import pytest

from model_core import ParameterFileError
from model_core.metadata import MAX_STRING, check_metadata

DIMS = [12288, 3, 1]


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
