"""Every curl example of the README runs as written, in order, against a real
``python -m service`` started as the README says (its defaults; only the port, the data
directory and, for the Tokens section, the tokens differ), with real files for cat.jpg,
other.png, photos.zip and the model.npz the README downloads itself.

An example followed by an error body (`{"error": ..., "code": "X"}`) must get that code;
every other one a 2xx (a cancel may also find its job already finished: 409 JOB_FINISHED,
as its comment says).
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import image_bytes
from .realserver import ROOT, Server, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

README = ROOT / "README.md"
ADMIN, PREDICT = "admin-token-0123456789abcdef", "predict-token-0123456789abcdef"
README_JOB_ID = "92d3e4904ede4034"


def examples() -> list[tuple[str, str | None]]:
    """(command, the error code the README shows after it, if any) for each curl line in
    a fenced block, continuation lines joined and trailing comments dropped; a printf line
    before one (a body written to a file) runs first, in the same shell."""
    found: list[tuple[str, str | None]] = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", README.read_text(), flags=re.S | re.M):
        lines = [re.sub(r"\s+#\s.*$", "", line) for line in block.splitlines()]  # comments off first
        i, setup = 0, ""
        while i < len(lines):
            line = lines[i]
            if line.startswith("printf "):  # writes the body file the next curl sends
                setup = line + " && "
            elif line.startswith("curl "):
                command, setup = setup + line, ""
                # a shell reads on past a trailing backslash, and past a newline inside quotes
                while command.endswith("\\") or command.count("'") % 2:
                    i += 1
                    command = command.removesuffix("\\") + " " + lines[i].strip()
                after = lines[i + 1] if i + 1 < len(lines) else ""
                code = re.search(r'"code":"([A-Z_]+)"', after) if after.startswith('{"error"') else None
                found.append((command, code.group(1) if code else None))
            i += 1
    return found


def materials(cwd: Path) -> None:
    """The files the examples name, made real."""
    (cwd / "cat.jpg").write_bytes(image_bytes("JPEG", (120, 90), seed=1))
    (cwd / "other.png").write_bytes(image_bytes("PNG", (80, 80), seed=2))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"cat/{i}.png", image_bytes("PNG", seed=10 + i))
            zf.writestr(f"non-cat/{i}.jpg", image_bytes("JPEG", seed=20 + i))
    (cwd / "photos.zip").write_bytes(buf.getvalue())


def run(command: str, server: Server, cwd: Path, job_id: list[str]) -> tuple[int, str]:
    """Run one example (its port and placeholders replaced); (HTTP status, body)."""
    command = command.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
    command = command.replace("[[12288 numbers]]", json.dumps([[128] * 12288]))
    if job_id:
        command = command.replace(README_JOB_ID, job_id[0])
    done = subprocess.run(f"{command} -sS -w '\\n%{{http_code}}'", shell=True, cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "CATSVC_ADMIN_TOKEN": ADMIN,
                                                      "CATSVC_PREDICT_TOKEN": PREDICT, "TOKEN": ADMIN})
    assert done.returncode == 0, (command[:200], done.stderr)
    body, _, status = done.stdout.rpartition("\n")
    location = re.search(r"^location: /train/([0-9a-f]+)", body, flags=re.M | re.I)
    if location:
        job_id[:] = [location.group(1)]
    return int(status), body


def check(command: str, code: str | None, status: int, body: str) -> None:
    if code is not None:
        assert 400 <= status < 500 and json.loads(body)["code"] == code, (command[:200], status, body[:300])
    elif command.startswith("curl -X DELETE") and "/train/" in command and status == 409:
        assert json.loads(body)["code"] == "JOB_FINISHED", body
    else:
        assert 200 <= status < 300, (command[:200], status, body[:300])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_every_readme_example_runs_as_written(tmp_path: Path) -> None:
    found = examples()
    tokens = [e for e in found if "Authorization: Bearer" in e[0]]
    plain = [e for e in found if e not in tokens]
    assert len(plain) >= 20 and tokens, found
    materials(tmp_path)
    job_id: list[str] = []
    with Server(tmp_path / "data", tmp_path / "server.log", datasets_dir=ROOT / "data") as server:
        with server.client() as c:
            wait_until(lambda: c.get("/health/ready").status_code == 200, 60, "the first model")
        for command, code in plain:
            check(command, code, *run(command, server, tmp_path, job_id))
    with Server(tmp_path / "data2", tmp_path / "server2.log", admin_token=ADMIN, predict_token=PREDICT) as server:
        for command, code in tokens:
            check(command, code, *run(command, server, tmp_path, job_id))
