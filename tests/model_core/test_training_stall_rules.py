"""The stall rule of _check_learned at its edges: a run "did not learn" when its final
cross-entropy is at least (1 - LEARNED_MARGIN) of the majority cost (inclusive), its last
third of recorded costs (at least two) spreads over less than STALL_SPREAD of it (strict),
and the cost moved, last against first, by at least STALL_SPREAD of it."""
from __future__ import annotations

import numpy as np
import pytest

from model_core import TrainConfig
from model_core.errors import TrainingDivergedError
from model_core.losses import compute_cost
from model_core.training import LEARNED_MARGIN, STALL_SPREAD, _check_learned

Y = (np.arange(6) % 2).reshape(1, 6)  # prior 1/2
MAJORITY = float(-(0.5 * np.log(0.5) + (1 - 0.5) * np.log1p(-0.5)))  # as _check_learned forms it
S = STALL_SPREAD * MAJORITY  # the spread bound
HALF = np.full((1, 6), 0.5)  # a cross-entropy of log 2, the majority cost: no better


def check(costs: list[list[float]], AL: np.ndarray = HALF, Y: np.ndarray = Y) -> None:
    _check_learned(costs, AL, Y, TrainConfig(layer_dims=(5, 1), learning_rate=0.5))


def diverges(costs: list[list[float]], AL: np.ndarray = HALF, Y: np.ndarray = Y) -> bool:
    try:
        check(costs, AL, Y)
    except TrainingDivergedError as e:
        assert str(e).startswith("training diverged: the cost stopped at ")
        return True
    return False


def test_the_stall_window_is_the_last_third_of_the_costs() -> None:
    # nine costs: the last three are the window; its first one still falls, so no stall,
    # though the last two alone are flat
    falling = [[100 * i, 0.9 - 0.02 * i] for i in range(6)]
    assert not diverges(falling + [[600, MAJORITY + 0.1], [700, MAJORITY], [800, MAJORITY]])
    assert diverges(falling + [[600, MAJORITY], [700, MAJORITY], [800, MAJORITY]])


def test_a_spread_of_the_bound_itself_is_no_stall() -> None:
    base = S  # 2S - S is S exactly (doubling and Sterbenz's lemma)
    assert (base + S) - base == S
    costs = [[0, 0.9], [100, base], [200, base + S]]
    assert not diverges(costs)  # spread == S: not < S
    assert diverges([[0, 0.9], [100, base], [200, base + S / 2]])


def test_moved_is_the_last_cost_against_the_first() -> None:
    # the second cost has not moved from the first yet; the last has
    assert diverges([[0, 0.9], [100, 0.9], [200, MAJORITY], [300, MAJORITY]])
    # the last two within the spread, the one before them within it of the first, the last
    # past it: the run moved (last against first), then stalled
    assert diverges([[0, MAJORITY], [100, MAJORITY + 0.6 * S], [200, MAJORITY + 1.2 * S]])
    # and one that never moved (last against first) is a slow start, not a stall
    assert not diverges([[0, MAJORITY], [100, MAJORITY + 0.6 * S], [200, MAJORITY + 0.9 * S]])


def test_a_cost_at_the_margin_itself_has_not_learned() -> None:
    """ce == (1 - LEARNED_MARGIN) x majority exactly counts as no better (the bound is inclusive)."""
    Y2 = np.array([[1, 0]])  # prior 1/2 again: the same majority cost
    bound = (1 - LEARNED_MARGIN) * MAJORITY
    # AL = (q, 0): the cost is -log(q) / 2 (the 0 is clipped to a tiny value, log1p of which
    # adds nothing); walk q from exp(-2 bound) by ulps to a cost of the bound exactly
    q = float(np.exp(-2 * bound))
    for _ in range(64):
        ce = compute_cost(np.array([[q, 0.0]]), Y2)
        if ce == bound:
            break
        q = float(np.nextafter(q, 0.0 if ce < bound else 1.0))
    assert ce == bound
    flat = [[0, 0.9], [100, 0.7], [200, 0.7]]
    assert diverges(flat, np.array([[q, 0.0]]), Y2)
    above = float(np.nextafter(q, 1.0))  # one ulp more P(cat) on the cat: a lower cost
    assert compute_cost(np.array([[above, 0.0]]), Y2) < bound
    assert not diverges(flat, np.array([[above, 0.0]]), Y2)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_flat_at_the_majority_cost_after_a_fall_is_a_stall(n: int) -> None:
    assert diverges([[0, 0.9]] + [[100 * i, MAJORITY] for i in range(1, n)])


def test_a_move_of_the_bound_itself_has_moved() -> None:
    # last against first is S exactly (2S - S, exact): moved (>= S), then flat: a stall
    assert (2 * S) - S == S
    assert diverges([[0, S], [100, 2 * S], [200, 2 * S]])
    assert not diverges([[0, S], [100, 1.9 * S], [200, 1.9 * S]])  # less than S: never moved
