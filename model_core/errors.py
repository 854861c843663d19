"""Exceptions of model_core. All are ValueErrors whose message names the bad value."""
from __future__ import annotations

import numpy as np

__all__ = [
    "ConfigError",
    "DataError",
    "ModelCoreError",
    "NotAnImageError",
    "ParameterFileError",
    "TrainingCancelled",
    "TrainingDivergedError",
    "describe_dtype",
]


class ModelCoreError(ValueError):
    """Base class: a value given to model_core is wrong; the message says which and why.

    An error raised because an input passed one of model_core's limits carries the limit,
    so that a caller can map it without reading the message: ``limit`` names it (the
    argument, e.g. ``"max_pixels"``, or the module constant, e.g. ``"MAX_IFD_ENTRIES"``:
    the case tells a caller's bound from a fixed one), ``value`` is the limit's value and
    ``actual`` what the input had (None where it was not measured, e.g. a zip inflated
    only as far as the limit). Any other error has all three None.
    """

    def __init__(
        self, message: str, *, limit: str | None = None, value: int | None = None, actual: int | None = None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.actual = actual


class ConfigError(ModelCoreError):
    """A hyperparameter or argument is out of its allowed range.

    ``field`` names it (None where no single field is at fault) and ``reason`` is the
    message without the offending value, for callers that must not echo their input.
    """

    _NO_VALUE = object()

    def __init__(
        self, reason: str, *, field: str | None = None, got: object = _NO_VALUE,
        limit: str | None = None, value: int | None = None, actual: int | None = None,
    ) -> None:
        super().__init__(reason if got is ConfigError._NO_VALUE else f"{reason}; got {got!r}",
                         limit=limit, value=value, actual=actual)
        self.field = field
        self.reason = reason


class ParameterFileError(ModelCoreError):
    """A parameter file (.npz) is unreadable, incomplete or inconsistent.

    ``field`` names the metadata field at fault, where one is.
    """

    def __init__(
        self, message: str, *, field: str | None = None,
        limit: str | None = None, value: int | None = None, actual: int | None = None,
    ) -> None:
        super().__init__(message, limit=limit, value=value, actual=actual)
        self.field = field


class DataError(ModelCoreError):
    """A data set or image cannot be read or has the wrong layout."""


class NotAnImageError(DataError):
    """The bytes are not an image in any format Pillow reads (as opposed to a broken one)."""


class TrainingDivergedError(ModelCoreError):
    """Training produced non-finite weights or costs, or saturated instead of learning."""


class TrainingCancelled(Exception):
    """Raised by train() when its ``should_stop`` callback asked it to stop."""


def describe_dtype(dtype: np.dtype) -> str:
    """What kind of values a dtype holds, in words, without its field names (uploader content)."""
    if dtype.fields is not None:
        return "records (a compound type)"
    kinds = {"b": "booleans", "i": "integers", "u": "unsigned integers", "f": "floats", "c": "complex numbers",
             "S": "byte strings", "U": "strings", "O": "objects", "V": "raw bytes", "M": "dates", "m": "durations"}
    return kinds.get(dtype.kind, "values of an unsupported type")
