"""kill -9 of the supervisor alone, or of the API process alone, on the real server.

A dead supervisor: every process under it stops within seconds however busy it is (a
trainer stuck publishing a version, a worker draining a slow upload or a request in
flight), holds the data directory's lock until it has stopped, and a new service on the
same directory and port waits for them and starts no child while one lives. A dead API
process: started again, and the service stops after repeated deaths.

The 5 s bounds prove the design (children stop within ~1 s of their parent's death)
without timing it: without it they stop after the store's two-minute test pause, or
uvicorn's 20 s drain.
"""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import threading
from pathlib import Path

import httpx
import pytest

from service.state.lock import LOCK_FILE
from service.state.procs import descendants
from service.state.store import TEST_PAUSE_ENV

from .conftest import SMALL, leftovers
from .realserver import Server, api_process, cmdline, course_npz, gone, seed_models, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

LONG_JOB = {"dataset": "synthetic", "layer_dims": [12288, 4, 1], "iterations": 10_000_000}
STOPPED_WITHIN = 5.0  # seconds: a bound, not a timing


def lock_is_free(data: Path) -> bool:
    fd = os.open(data / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases it again if we got it
    return True


def holds(pid: int, path: Path) -> bool:
    fd_dir = f"/proc/{pid}/fd"
    return any(os.readlink(f"{fd_dir}/{fd}") == str(path) for fd in os.listdir(fd_dir))


def slow_upload(server: Server) -> socket.socket:
    """A POST /datasets whose body never ends: uvicorn waits for it when asked to stop."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.npz"\r\n\r\n'
    sock.sendall(b"POST /datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                 b"Content-Length: 10000000\r\n\r\n" + part + b"\0" * 100_000)
    return sock


def check_recovered(server: Server, data: Path, job_id: str, versions: list[int]) -> dict:
    """The restarted service serves the same versions; the job is finished; nothing half-written."""
    with server.client() as client:
        ready = client.get("/health/ready").json()
        assert (ready["status"], ready["version"]) == ("ready", versions[-1])
        assert [m["version"] for m in client.get("/models").json()["models"]] == versions[::-1]
        r = client.post("/predict", json={"instances": [[7] * 12288]})
        assert r.status_code == 200 and r.json()["version"] == versions[-1]
        job = client.get(f"/train/{job_id}").json()
    assert not list((data / "models").glob(".tmp-*"))
    assert leftovers(data / "tmp") == []
    return job


@pytest.mark.embedded_only  # the data directory's lock and files
def test_the_children_of_a_killed_supervisor_stop_and_hold_the_lock_until_then(tmp_path: Path) -> None:
    data, marker = tmp_path / "data", tmp_path / "paused"
    versions = seed_models(data)
    server = Server(data, tmp_path / "server.log", **{TEST_PAUSE_ENV: marker})
    with server, server.client() as client:
        job_id = client.post("/train", json={"dataset": "synthetic", **SMALL}).json()["id"]
        wait_until(marker.exists, 60, "the trainer to be publishing its version")  # deaf to SIGTERM now
        upload = slow_upload(server)
        wait_until(lambda: list((data / "tmp").glob("upload-*")), 30, "the upload's temporary file")

        pids = server.pids()
        assert len(pids) >= 5  # supervisor, API, its two workers, trainer
        lock = (data / LOCK_FILE).resolve()
        # every process holds the lock, but multiprocessing's resource tracker of the API
        # process (it writes nothing, and exits when the API process and its workers have)
        assert all(holds(p, lock) or "resource_tracker" in cmdline(p) for p in pids), \
            [(p, cmdline(p)) for p in pids]
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)  # the supervisor only
        server.proc.wait(timeout=10)

        def stopped() -> bool:
            free = lock_is_free(data)
            alive = [(p, cmdline(p)) for p in pids if not gone(p)]
            assert not (free and alive), f"the lock was free while these still ran: {alive}"
            return not alive

        wait_until(stopped, STOPPED_WITHIN, "every process of the killed supervisor to stop")
        wait_until(lambda: lock_is_free(data), STOPPED_WITHIN, "the lock to be free")
        upload.close()

    server.env.pop(TEST_PAUSE_ENV)
    with server:  # the same data directory and port
        job = check_recovered(server, data, job_id, versions)
    assert (job["status"], job["reason"], job["model_version"]) == ("failed", "interrupted", None)


@pytest.mark.embedded_only  # the data directory's lock and files
def test_a_service_started_right_after_a_kill_9_waits_for_the_old_processes(tmp_path: Path) -> None:
    data, marker = tmp_path / "data", tmp_path / "paused"
    versions = seed_models(data)
    old = Server(data, tmp_path / "old.log", **{TEST_PAUSE_ENV: marker})
    with old, old.client() as client:
        job_id = client.post("/train", json=LONG_JOB).json()["id"]
        wait_until(lambda: client.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, 60, "the job to run")

        outcome: list[BaseException] = []

        def upload() -> None:  # in flight in a worker, paused in the store: uvicorn would wait 20 s
            try:
                with old.client(timeout=120) as c:
                    c.put("/params", files={"file": ("params.npz", course_npz(seed=9))})
            except BaseException as e:  # noqa: BLE001  # judged in the test's thread
                outcome.append(e)

        uploader = threading.Thread(target=upload)
        uploader.start()
        wait_until(marker.exists, 60, "a worker to be writing the uploaded version")

        pids = old.pids()
        assert old.proc is not None
        os.kill(old.proc.pid, signal.SIGKILL)
        new = Server(data, tmp_path / "new.log", port=old.port).launch()  # at once, no waiting
        assert new.proc is not None
        new_pid = new.proc.pid
        try:
            def old_stopped() -> bool:
                # its API process or trainer (not a passing `uname -p` that an import runs)
                started = [(p, c) for p in descendants(new_pid) if "-m service." in (c := cmdline(p))]
                # read after `started`: a process alive now was alive then
                alive = [(p, cmdline(p)) for p in pids if not gone(p)]
                assert not (started and alive), f"the new service started {started} while these ran: {alive}"
                return not alive

            wait_until(old_stopped, STOPPED_WITHIN, "every process of the killed supervisor to stop")
            new.wait_ready()
            uploader.join(timeout=60)
            assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError), outcome  # cut off
            job = check_recovered(new, data, job_id, versions)  # the upload never became a version
        finally:
            new.kill()
    # stopped by the signal its parent's death sent (cancelled) or, if it took longer, by the next start
    assert (job["status"], job["reason"]) in {("cancelled", "shutdown"), ("failed", "interrupted")}


def test_a_killed_api_process_is_started_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    versions = seed_models(data)
    server = Server(data, tmp_path / "server.log")
    with server:
        first = api_process(server)
        assert first is not None
        old = [first, *descendants(first)]
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: all(gone(p) for p in old), STOPPED_WITHIN, "the API process's workers to stop")
        second = wait_until(lambda: api_process(server, not_in={first}), 30, "a new API process")
        with server.client() as client:
            wait_until(lambda: client.get("/health/ready").status_code == 200, 60, "the new API to answer")
            r = client.post("/predict", json={"instances": [[7] * 12288]})
            assert r.status_code == 200 and r.json()["version"] == versions[-1]
        assert api_process(server) == second and not server.exited()
    messages = [line["msg"] for line in server.log_lines()]
    assert "the API process exited with code -9; starting it again in 1 s" in messages


def test_an_api_process_that_keeps_dying_stops_the_service(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    server = Server(data, tmp_path / "server.log")
    with server:
        killed: set[int] = set()
        while not server.exited():
            pid = wait_until(lambda: server.exited() or api_process(server, not_in=killed), 60, "an API process")
            if pid is True:
                break
            pids = [pid, *descendants(pid)]
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            wait_until(lambda: all(gone(p) for p in pids), STOPPED_WITHIN, "the API process's workers to stop")
        assert server.proc is not None
        assert server.proc.wait(timeout=60) == 1
    assert len(killed) == 4
    messages = [line["msg"] for line in server.log_lines()]
    assert "the API process died 4 times in 60 s (last exit code -9); stopping" in messages
    assert messages[-1] == "stopped"
