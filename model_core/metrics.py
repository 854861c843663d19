"""Classification metrics for labels Y and predictions, both (1, m) of 0/1 (1 = cat)."""
from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "classification_report", "confusion"]


def confusion(Y: np.ndarray, Y_hat: np.ndarray) -> dict[str, int]:
    """Counts of true/false positives/negatives (positive = cat)."""
    y = np.asarray(Y).ravel().astype(bool)
    p = np.asarray(Y_hat).ravel().astype(bool)
    return {
        "tp": int(np.count_nonzero(y & p)),
        "fp": int(np.count_nonzero(~y & p)),
        "fn": int(np.count_nonzero(y & ~p)),
        "tn": int(np.count_nonzero(~y & ~p)),
    }


def accuracy(Y: np.ndarray, Y_hat: np.ndarray) -> float:
    y, p = np.asarray(Y).ravel(), np.asarray(Y_hat).ravel()
    return float(np.mean(y == p)) if y.size else float("nan")


def classification_report(Y: np.ndarray, Y_hat: np.ndarray) -> dict[str, object]:
    """accuracy, precision, recall, f1 and the confusion counts; 0.0 where undefined."""
    c = confusion(Y, Y_hat)
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": accuracy(Y, Y_hat),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "confusion": c,
        "m": int(np.asarray(Y).size),
    }
