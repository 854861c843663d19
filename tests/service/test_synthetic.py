"""service.synthetic: the generated first data set."""
from __future__ import annotations

import numpy as np

from service.state.synthetic import make_synthetic, synthetic_split


def test_it_is_deterministic_balanced_and_in_the_course_layout() -> None:
    X, Y = make_synthetic(40, seed=5)
    X2, Y2 = make_synthetic(40, seed=5)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)
    assert X.shape == (12288, 40) and X.dtype == np.uint8
    assert Y.shape == (1, 40) and int(Y.sum()) == 20
    assert not np.array_equal(make_synthetic(40, seed=6)[0], X)


def test_train_and_dev_are_different_drawings() -> None:
    (X, Y), (X_dev, Y_dev) = synthetic_split()
    assert X.shape[1] == 300 and X_dev.shape[1] == 200
    train_images = {X[:, j].tobytes() for j in range(X.shape[1])}
    assert not any(X_dev[:, j].tobytes() in train_images for j in range(X_dev.shape[1]))


def test_cats_and_others_differ_in_what_a_network_can_see() -> None:
    # every picture is varied: no two are equal, and no class is a flat colour
    X, Y = make_synthetic(60, seed=9)
    assert len({X[:, j].tobytes() for j in range(60)}) == 60
    assert (X.reshape(64 * 64, 3, 60).std(axis=0).mean(axis=0)[Y[0] == 1] > 0).all()
