"""Connections and the files they need: the service raises its open-file limit, and says
when it cannot hold its connection cap."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from service.procs import raise_open_file_limit

from .realserver import ROOT, free_port


def test_the_service_raises_its_soft_open_file_limit_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
    try:
        raised = raise_open_file_limit()
        assert raised == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert raised == hard or hard == resource.RLIM_INFINITY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_api_warns_when_its_open_file_limit_cannot_hold_the_connection_cap(tmp_path: Path) -> None:
    env = {**os.environ, "CATSVC_PORT": str(free_port()), "CATSVC_DATA_DIR": str(tmp_path), "CATSVC_WORKERS": "1"}
    low = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 512))  # noqa: E731
    with subprocess.Popen([sys.executable, "-m", "service.api"], cwd=ROOT, env=env, preexec_fn=low,
                          stderr=subprocess.PIPE, text=True) as api:
        try:
            assert api.stderr is not None
            first = json.loads(api.stderr.readline())  # the API's first line, before it serves
        finally:
            api.kill()
    assert first["level"] == "warning" and "CATSVC_MAX_CONNECTIONS" in first["msg"] and "512" in first["msg"]
