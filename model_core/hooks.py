"""What every training engine does after a step: refuse a non-finite cost, report progress."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import TrainingDivergedError

__all__ = ["ProgressFn", "StopFn", "after_step"]

ProgressFn = Callable[[int, int, float], None]
StopFn = Callable[[], bool]


def after_step(i: int, total: int, cost: float, learning_rate: float, on_progress: ProgressFn | None) -> None:
    """Raise TrainingDivergedError on a non-finite cost at step ``i``; else call ``on_progress``."""
    if not np.isfinite(cost):
        raise TrainingDivergedError(
            f"training diverged: the cost is {cost} at step {i}; "
            f"try a smaller learning_rate (got {learning_rate})"
        )
    if on_progress is not None:
        on_progress(i + 1, total, cost)
