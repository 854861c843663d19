"""In CI a missing course data directory fails the run instead of skipping its tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(env_changes: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_changes}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                           "tests/model_core/test_course.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_ci_with_a_misspelt_data_directory_fails(tmp_path: Path) -> None:
    done = run_pytest({"CI": "true", "CATVNONCAT_DATA": str(tmp_path / "no-such-dir")})
    assert done.returncode != 0
    assert "CI=true, but CATVNONCAT_DATA" in done.stdout + done.stderr


def test_outside_ci_the_same_run_collects(tmp_path: Path) -> None:
    done = run_pytest({"CI": "false", "CATVNONCAT_DATA": str(tmp_path / "no-such-dir")})
    assert done.returncode == 0, done.stdout + done.stderr
