"""Metrics against their definitions, counted here one example at a time."""
from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from model_core.metrics import accuracy, classification_report, confusion

labels = st.integers(1, 30).flatmap(
    lambda m: st.tuples(st.lists(st.integers(0, 1), min_size=m, max_size=m),
                        st.lists(st.integers(0, 1), min_size=m, max_size=m)))


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


@given(labels)
def test_the_report_follows_the_definitions(pair: tuple[list[int], list[int]]) -> None:
    y, p = pair
    Y, Y_hat = np.array([y]), np.array([p])
    pairs = list(zip(y, p))
    counts = {"tp": pairs.count((1, 1)), "fp": pairs.count((0, 1)), "fn": pairs.count((1, 0)), "tn": pairs.count((0, 0))}
    assert confusion(Y, Y_hat) == counts
    precision = _ratio(counts["tp"], counts["tp"] + counts["fp"])  # 0.0 where undefined
    recall = _ratio(counts["tp"], counts["tp"] + counts["fn"])
    f1 = _ratio(2 * counts["tp"], 2 * counts["tp"] + counts["fp"] + counts["fn"])  # the same f1, by counts
    report = classification_report(Y, Y_hat)
    assert report["confusion"] == counts and report["m"] == len(y)
    assert report["accuracy"] == accuracy(Y, Y_hat) == (counts["tp"] + counts["tn"]) / len(y)
    assert abs(report["precision"] - precision) < 1e-12  # type: ignore[operator]
    assert abs(report["recall"] - recall) < 1e-12  # type: ignore[operator]
    assert abs(report["f1"] - f1) < 1e-12  # type: ignore[operator]


def test_no_predicted_cat_and_no_cat_give_zeros_not_nan() -> None:
    report = classification_report(np.zeros((1, 4)), np.zeros((1, 4)))
    assert (report["precision"], report["recall"], report["f1"], report["accuracy"]) == (0.0, 0.0, 0.0, 1.0)


def test_accuracy_of_nothing_is_nan_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's mean of nothing warns: it must not be asked
        assert np.isnan(accuracy(np.zeros((1, 0)), np.zeros((1, 0))))
