"""Shared fixtures: the course's data sets, when CATVNONCAT_DATA points at them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

COURSE_FILES = ("train_catvnoncat.h5", "test_catvnoncat.h5")


def course_data_dir() -> Path | None:
    """The directory named by CATVNONCAT_DATA if it holds both course files, else None."""
    value = os.environ.get("CATVNONCAT_DATA")
    if not value:
        return None
    path = Path(value)
    return path if all((path / f).is_file() for f in COURSE_FILES) else None


@pytest.fixture(scope="session")
def course_dir() -> Path:
    path = course_data_dir()
    if path is None:
        pytest.skip("the course's data sets are absent: set CATVNONCAT_DATA to a directory "
                    "holding train_catvnoncat.h5 and test_catvnoncat.h5")
    return path


@pytest.fixture(scope="session")
def course_data(course_dir: Path):
    """(X_train, Y_train, X_test, Y_test) as uint8 (12288, m) pixels and (1, m) labels."""
    import h5py  # read directly: independent of model_core.data, which has its own tests

    with h5py.File(course_dir / "train_catvnoncat.h5", "r") as f:
        x_tr, y_tr = f["train_set_x"][:], f["train_set_y"][:]
    with h5py.File(course_dir / "test_catvnoncat.h5", "r") as f:
        x_te, y_te = f["test_set_x"][:], f["test_set_y"][:]
    return (x_tr.reshape(len(x_tr), -1).T, y_tr.reshape(1, -1),
            x_te.reshape(len(x_te), -1).T, y_te.reshape(1, -1))
