"""A running job's ETA: none until it can be estimated, then from the rate of its steps.

The ETA used to be (time since the job started) / steps done * steps left. The job's
start includes its set-up (the fork, reading the data set, the Gram matrix), which was
then charged to each of the first few steps: a 2-4 s job showed 1537 s at its start.
Here the clock starts at the first progress report instead, which comes after the first
step, and the ETA stays unknown until MIN_STEPS steps and MIN_SECONDS have passed
since: enough steps that a rate means something, enough time that timer noise does not.
"""
from __future__ import annotations

import time
from collections.abc import Callable

MIN_STEPS = 3
MIN_SECONDS = 0.5


class Eta:
    """Seconds left of a run of ``total`` steps, from the steps reported to :meth:`update`."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.start: tuple[float, int] | None = None  # (time, steps done) at the first report

    def update(self, done: int) -> float | None:
        """Seconds left now that ``done`` steps are done; None while it cannot be estimated."""
        now = self.clock()
        if self.start is None:
            self.start = (now, done)
            return None
        t0, done0 = self.start
        steps, elapsed = done - done0, now - t0
        if steps < MIN_STEPS or elapsed < MIN_SECONDS:
            return None
        return elapsed / steps * (self.total - done)
