"""A data directory that cannot be written: read-only or full.

What a write failure means (service.storage), then the real server: at run time with
its directories made read-only, and with its file system full (every write answers 503
STORAGE_UNAVAILABLE naming which, /health/ready says so, a job that cannot save its
model is recorded failed with that reason, SIGTERM still stops it cleanly); at start-up
on a read-only bind mount, a full file system or directories it may not write (one line
on stderr, exit status 2).

Root ignores file modes, and these tests run as root here and in CI; nothing is
installed for them, they use util-linux, which the image has:
- ``setpriv`` runs the server without CAP_DAC_OVERRIDE, so that ``chmod a-w`` binds it
  as it binds any other user (a run-time read-only file system cannot be made: the
  kernel refuses to remount one read-only while the service holds files open for writing);
- ``unshare --mount`` gives the server a private mount namespace in which its data
  directory is a read-only bind mount or a small tmpfs, invisible to the rest of the
  machine (a non-root user gets one with ``--user --map-root-user``).
A test whose mechanism is missing or refused skips, saying which.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.api.errors import Code
from service.state.jobs import JobQueue
from service.state.storage import NO_SPACE, READ_ONLY, StorageUnavailable, storage_error, writing

from .conftest import SMALL, leftovers, npz_bytes
from .realserver import ROOT, Server, course_npz, seed_models, wait_until

LONG_JOB = {"dataset": "synthetic", "layer_dims": [12288, 4, 1], "iterations": 10_000_000}
NO_OVERRIDE = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
               "--bounding-set=-dac_override,-dac_read_search"]
# sh scripts run in the server's mount namespace before it starts: $0 is the data directory
READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0"'
# ... and $1 the directory whose contents it starts with
TMPFS = 'mount -t tmpfs -o size=4m catsvc "$0" && cp -a "$1/." "$0/" && shift'
FILL = '{ head -c 8M /dev/zero > "$0/filler" 2>/dev/null; true; }'


# -- what a failure means
def kind(e: BaseException, where: Path) -> str | None:
    mapped = storage_error(e, where)
    return None if mapped is None else mapped.kind


def test_write_failures_of_files_and_of_sqlite_are_one_error(tmp_path: Path) -> None:
    fd = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    with pytest.raises(OSError) as full:
        os.write(fd, b"x")
    os.close(fd)
    assert kind(full.value, tmp_path) == NO_SPACE
    assert kind(OSError(errno.EROFS, "Read-only file system"), tmp_path) == READ_ONLY
    assert kind(OSError(errno.EACCES, "Permission denied"), tmp_path) == READ_ONLY
    assert kind(OSError(errno.ENOENT, "No such file or directory"), tmp_path) is None

    path = tmp_path / "jobs.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(sqlite3.OperationalError) as ro:
        sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("INSERT INTO t VALUES (1)")
    assert kind(ro.value, tmp_path) == READ_ONLY
    db = sqlite3.connect(path)
    db.execute("PRAGMA max_page_count = 2")  # as if the disk were full
    with pytest.raises(sqlite3.OperationalError) as disk_full:
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    assert "full" in str(disk_full.value) and kind(disk_full.value, tmp_path) == NO_SPACE

    # anything else goes through as it was
    with pytest.raises(FileNotFoundError), writing(tmp_path):
        open(tmp_path / "missing" / "file", "wb")
    with pytest.raises(sqlite3.OperationalError, match="syntax"), writing(tmp_path):
        db.execute("NOT SQL")
    with pytest.raises(StorageUnavailable, match="no space left"), writing(tmp_path):
        raise OSError(errno.ENOSPC, "No space left on device")


# -- the mechanisms
def without_override(tmp_path: Path) -> list[str]:
    """A command prefix under which file modes bind the server (setpriv for root), or skip."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed: root writes to read-only directories without it")
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o555)
    r = subprocess.run([*NO_OVERRIDE, sys.executable, "-c", f"open({str(probe / 'f')!r}, 'w')"],
                       capture_output=True, text=True)
    probe.rmdir()
    if "PermissionError" not in r.stderr:
        pytest.skip(f"setpriv could not take CAP_DAC_OVERRIDE away: {r.stderr.strip()[-200:] or 'a write succeeded'}")
    return NO_OVERRIDE


def in_mount_namespace(script: str, *args: Path) -> list[str]:
    """A command prefix: a private mount namespace, ``script`` (sh) run in it, then the server; or skip."""
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare[1:1] = ["--user", "--map-root-user"]
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    r = subprocess.run([*unshare, "sh", "-c", 'mount -t tmpfs -o size=1m probe "$0"', str(args[0])],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"a private mount namespace is refused here: {r.stderr.strip()[-200:]}")
    return [*unshare, "sh", "-c", f'{script} && exec "$@"', *map(str, args)]


def set_writable(data: Path, writable: bool) -> None:
    """chmod every directory of the data directory: without w, no file is made, renamed or removed there."""
    for d in [data, *(p for p in data.rglob("*") if p.is_dir())]:
        d.chmod(0o755 if writable else 0o555)


def fill(path: Path) -> None:
    """Write to ``path`` until the file system has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def check_storage_answers(server: Server, reason: str, words: str) -> None:
    """Every write answers 503 naming the reason; readiness says it; reads and predictions go on."""
    with server.client() as c:
        ready = wait_until(lambda: (r := c.get("/health/ready")).status_code == 503 and r, 10, "readiness 503")
        assert ready.json()["code"] == Code.STORAGE_UNAVAILABLE and ready.json()["reason"] == reason
        writes: list[tuple[str, Callable[[], httpx.Response]]] = [
            ("PUT /params", lambda: c.put("/params", files={"file": ("p.npz", course_npz(seed=5))})),
            ("POST /models/1/activate", lambda: c.post("/models/1/activate")),
            ("POST /datasets", lambda: c.post("/datasets", files={"file": ("s.npz", small_npz())})),
            ("POST /train", lambda: c.post("/train", json={"dataset": "synthetic", **SMALL})),
        ]
        for name, send in writes:
            r = send()
            assert r.status_code == 503, (name, r.text)
            body = r.json()
            assert (body["code"], body["reason"]) == (Code.STORAGE_UNAVAILABLE, reason), name
            assert words in body["error"] and r.headers["retry-after"] == "30", name
        assert [m["version"] for m in c.get("/models").json()["models"]] == [2, 1]
        r = c.post("/predict", json={"instances": [[7] * 12288]})
        assert r.status_code == 200 and r.json()["version"] == 2


def small_npz() -> bytes:
    from service.state.synthetic import make_synthetic

    return npz_bytes(*make_synthetic(4, seed=3))


def stop(server: Server) -> list[str]:
    """SIGTERM; the exit status must be 0; the log's messages (every line JSON)."""
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=60) == 0
    return [line["msg"] for line in server.log_lines()]


# -- at run time
@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.embedded_only  # the data directory itself made read-only or full
def test_a_read_only_data_directory_answers_503_and_the_service_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data, count=2)
    server = Server(data, tmp_path / "server.log", prefix=without_override(tmp_path))
    with server, server.client() as c:
        running = c.post("/train", json=LONG_JOB).json()["id"]
        wait_until(lambda: c.get(f"/train/{running}").json()["status"] == "running", 60, "the job to run")
        waiting = c.post("/train", json={"dataset": "synthetic", **SMALL}).json()["id"]
        set_writable(data, False)
        try:
            check_storage_answers(server, READ_ONLY, "read-only")
            # the queued job runs once the running one is cancelled: its model cannot be saved
            assert c.delete(f"/train/{running}").status_code == 202
            job = wait_until(lambda: (j := c.get(f"/train/{waiting}").json())["status"] == "failed" and j, 60,
                             "the queued job to fail")
            assert (job["reason"], job["model_version"]) == ("storage_unavailable", None)
            assert "read-only" in job["message"] and "POST /train" in job["message"]
            messages = stop(server)
        finally:
            set_writable(data, True)
    assert any(m.startswith("cannot write the stopping mark") for m in messages) and messages[-1] == "stopped"

    # nothing saved was lost, nothing half-written stayed
    with Server(data, tmp_path / "again.log") as again, again.client() as c:
        ready = c.get("/health/ready").json()
        assert (ready["status"], ready["version"]) == ("ready", 2)
        assert [m["version"] for m in c.get("/models").json()["models"]] == [2, 1]
    assert not list((data / "models").glob(".tmp-*")) and not list((data / "datasets").glob(".tmp-*"))
    assert leftovers(data / "tmp") == []
    queue = JobQueue(data / "jobs.sqlite")
    assert (queue.get(running).status, queue.get(waiting).reason) == ("cancelled", "storage_unavailable")


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.embedded_only  # the data directory itself made read-only or full
def test_a_full_data_directory_answers_503_until_space_is_freed(tmp_path: Path) -> None:
    data, seed = tmp_path / "data", tmp_path / "seed"
    data.mkdir()
    seed_models(seed, count=2)
    server = Server(data, tmp_path / "server.log", prefix=in_mount_namespace(TMPFS, data, seed))
    with server:
        assert server.proc is not None
        inside = Path(f"/proc/{server.proc.pid}/root") / data.relative_to("/")  # the server's tmpfs
        assert (inside / "models" / "2").is_dir() and not (data / "models").exists()
        fill(inside / "filler")
        check_storage_answers(server, NO_SPACE, "no space left")
        (inside / "filler").unlink()
        with server.client() as c:
            wait_until(lambda: c.get("/health/ready").status_code == 200, 10, "readiness 200 again")
            r = c.put("/params", files={"file": ("p.npz", course_npz(seed=5))})
            assert r.status_code == 201 and r.json()["version"] == 3
        messages = stop(server)
    assert messages[-1] == "stopped"


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.embedded_only  # the data directory itself made read-only or full
def test_metrics_on_a_full_data_directory_go_on_without_the_new_series(tmp_path: Path) -> None:
    """The metrics files live under the data directory (tmp/metrics): on a full disk a series
    that needs a file to grow is kept in memory only (one warning); no worker dies (a write
    to a mapped page that has no block would be SIGBUS), and /metrics answers."""
    data, seed = tmp_path / "data", tmp_path / "seed"
    data.mkdir()
    seed_models(seed)
    server = Server(data, tmp_path / "server.log", prefix=in_mount_namespace(TMPFS, data, seed),
                    access_log="false")
    with server, server.client(headers={"Connection": "close"}) as c:
        assert server.proc is not None
        inside = Path(f"/proc/{server.proc.pid}/root") / data.relative_to("/")
        pids = sorted(server.pids())
        paths = sorted(c.get("/openapi.json").json()["paths"])
        assert c.post("/predict", json={"instances": [[7] * 12288]}).status_code == 200
        fill(inside / "filler")
        # each (route, method, status) is a histogram series of 20 values, about 4 KB of a
        # worker's file; this many need more than a file's first 64 KiB in each worker
        for method in ("PATCH", "TRACE"):
            for path in paths:
                r = c.request(method, path.replace("{", "x").replace("}", "x"))
                assert r.status_code in (404, 405), (method, path, r.status_code)
        r = c.get("/metrics")
        assert r.status_code == 200
        assert 'route="/predict"' in r.text and "catsvc_api_workers 2.0" in r.text
        assert sorted(server.pids()) == pids  # no process died and was replaced
        assert c.post("/predict", json={"instances": [[7] * 12288]}).status_code == 200
        (inside / "filler").unlink()
        # with room again, a new series is exported
        assert c.options("/models").status_code == 405
        text = wait_until(lambda: (r := c.get("/metrics")).status_code == 200 and r.text, 10, "a scrape")
        assert 'method="OPTIONS",route="/models",status="405"' in text
        messages = stop(server)
    assert any(m.startswith("metrics: cannot grow a metrics file") for m in messages), messages
    assert messages[-1] == "stopped"


# -- at start-up
def read_only_mount(tmp_path: Path) -> tuple[Path, list[str]]:
    data = tmp_path / "data"
    seed_models(data)
    return data, in_mount_namespace(READ_ONLY_MOUNT, data)


def full_file_system(tmp_path: Path) -> tuple[Path, list[str]]:
    data, seed = tmp_path / "data", tmp_path / "seed"
    data.mkdir()
    seed_models(seed)
    return data, in_mount_namespace(f"{TMPFS} && {FILL}", data, seed)


def not_writable(tmp_path: Path) -> tuple[Path, list[str]]:
    data = tmp_path / "data"
    seed_models(data)
    prefix = without_override(tmp_path)
    set_writable(data, False)
    return data, prefix


@pytest.mark.parametrize(("make", "words"), [
    (read_only_mount, "read-only (a read-only file system)"),
    (full_file_system, "no space left"),
    (not_writable, "read-only (permission denied)"),
])
@pytest.mark.embedded_only  # the data directory itself made read-only or full
def test_a_start_on_a_read_only_or_full_data_directory_says_so_in_one_line(
    tmp_path: Path, make: Callable[[Path], tuple[Path, list[str]]], words: str
) -> None:
    data, prefix = make(tmp_path)
    server = Server(data, tmp_path / "server.log")
    try:
        proc = subprocess.run([*prefix, sys.executable, "-m", "service"], cwd=ROOT, env=server.env,
                              capture_output=True, text=True, timeout=60)
    finally:
        set_writable(data, True)
    assert proc.returncode == 2, proc.stderr[-2000:]
    [line] = proc.stderr.splitlines()  # one line, no traceback
    record = json.loads(line)
    assert record["level"] == "error" and words in record["msg"], record
    assert record["msg"].startswith("cannot start: the service's data directory ")
    assert record["msg"].endswith(f"; CATSVC_DATA_DIR={data}")
