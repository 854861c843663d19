"""check_limit: a limit argument is a positive int; None only where the caller allows it."""
from __future__ import annotations

import pytest

from model_core.errors import ConfigError
from model_core.limits import check_limit


@pytest.mark.parametrize("value", [None, 0, -1, True, 1.0, "5"])
def test_a_limit_is_a_positive_int_and_none_needs_allow_none(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        check_limit("max_pixels", value)  # type: ignore[arg-type]
    assert str(caught.value) == f"max_pixels must be a positive int, got {value!r}"
    if value is None:
        check_limit("max_pixels", None, allow_none=True)


def test_a_positive_int_passes() -> None:
    for value in (1, 2**40):
        check_limit("max_bytes", value)
        check_limit("max_bytes", value, allow_none=True)
