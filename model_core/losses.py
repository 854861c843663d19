"""Binary cross-entropy cost, with optional L2 regularization."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["compute_cost", "cost_from_logits", "l2_penalty"]


def l2_penalty(parameters: Mapping[str, np.ndarray], l2: float, m: int) -> float:
    """(l2 / 2m) * sum over layers of ||W_l||_F^2 (the course's L2 term)."""
    if not l2:
        return 0.0
    total = 0.0
    for key, W in parameters.items():
        if key.startswith("W"):
            total += float(np.vdot(W, W))
    return l2 / (2 * m) * total


def compute_cost(
    AL: np.ndarray,
    Y: np.ndarray,
    parameters: Mapping[str, np.ndarray] | None = None,
    l2: float = 0.0,
) -> float:
    """Binary cross-entropy of ``AL`` (1, m) against labels ``Y`` (1, m), plus L2.

    Numerically safe: AL is kept inside [tiny, 1 - eps] so a saturated output gives a
    large finite cost instead of inf or nan; ``log1p(-AL)`` keeps precision near AL = 0.
    """
    AL = np.asarray(AL)
    Y = np.asarray(Y)
    m = Y.shape[-1]
    finfo = np.finfo(AL.dtype if AL.dtype.kind == "f" else np.float64)
    A = np.clip(AL, finfo.tiny, 1 - finfo.epsneg)
    cost = -(np.dot(Y.ravel(), np.log(A).ravel()) + np.dot(1 - Y.ravel(), np.log1p(-A).ravel())) / m
    if parameters is not None and l2:
        cost += l2_penalty(parameters, l2, m)
    return float(cost)


def cost_from_logits(ZL: np.ndarray, Y: np.ndarray) -> float:
    """The same cross-entropy from the output pre-activation ZL (1, m), exact for any ZL.

    -[y log s(z) + (1-y) log(1-s(z))] = log(1 + e^z) - y z.
    """
    m = Y.shape[-1]
    return float((np.logaddexp(0, ZL).sum() - np.dot(Y.ravel(), ZL.ravel())) / m)
