"""Exceptions of model_core. All are ValueErrors whose message names the bad value."""
from __future__ import annotations


class ModelCoreError(ValueError):
    """Base class: a value given to model_core is wrong; the message says which and why."""


class ConfigError(ModelCoreError):
    """A hyperparameter or argument is out of its allowed range."""


class ParameterFileError(ModelCoreError):
    """A parameter file (.npz) is unreadable, incomplete or inconsistent."""


class DataError(ModelCoreError):
    """A data set or image cannot be read or has the wrong layout."""


class TrainingDivergedError(ModelCoreError):
    """Training produced non-finite weights or costs."""


class TrainingCancelled(Exception):
    """Raised by train() when its ``should_stop`` callback asked it to stop."""
