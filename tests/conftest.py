"""Shared fixtures: the course's data sets, when CATVNONCAT_DATA points at them.

Outside CI the tests that need the data skip, saying so. In CI (``CI=true``, as
``.ci/run`` sets) a missing or misspelt data directory fails the run at once: a typo
there must not quietly skip the course reproduction.
"""
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


def photos_dir() -> Path | None:
    """``$CATVNONCAT_DATA/photos``, the 147 real photographs, if it is there."""
    root = course_data_dir()
    path = root / "photos" / "images" if root else None
    return path.parent if path is not None and (path / "cat").is_dir() and (path / "non-cat").is_dir() else None


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI", "").lower() == "true" and course_data_dir() is None:
        raise pytest.UsageError(
            f"CI=true, but CATVNONCAT_DATA={os.environ.get('CATVNONCAT_DATA')!r} is not a directory holding "
            f"{' and '.join(COURSE_FILES)}: in CI the course's data must be there")


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
