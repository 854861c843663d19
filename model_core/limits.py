"""The limit arguments of model_core's readers (``max_bytes``, ``max_pixels``, ...), checked.

Every reader of untrusted input takes its bounds as arguments; an error raised because an
input passed one carries the limit's name and value (see :class:`ModelCoreError`).
"""
from __future__ import annotations

from .errors import ConfigError

__all__ = ["check_limit"]


def check_limit(what: str, value: int | None, *, allow_none: bool = False) -> None:
    """Refuse a limit argument that is not a positive int (or None, where ``allow_none``)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive int, got {value!r}")
