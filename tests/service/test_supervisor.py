"""service.supervisor: one service per data directory, and the start-up preparation."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from service.state.jobs import JobQueue
from service.settings import Settings
from service.state.lock import DataDirInUse, lock_data_dir
from service.supervisor import child_env, generated_admin_token, load_settings, prepare_data_dir


def test_a_data_directory_serves_one_service_at_a_time(settings: Settings) -> None:
    fd = lock_data_dir(settings.data_dir)
    try:
        with pytest.raises(DataDirInUse):
            lock_data_dir(settings.data_dir)
        with pytest.raises(DataDirInUse):
            lock_data_dir(settings.data_dir, wait=0.3)  # waits, then gives up
    finally:
        os.close(fd)
    os.close(lock_data_dir(settings.data_dir))  # free again


@pytest.mark.embedded_only  # the data directory's leftovers and its SQLite queue
def test_preparation_cleans_up_recovers_and_queues_the_first_job(settings: Settings) -> None:
    queue = JobQueue(settings.jobs_db)
    stale = queue.enqueue("synthetic", {}, total=1, unit="iteration", max_queued=5).id
    queue.claim()  # running when the last service died
    (settings.models_dir / ".tmp-half").mkdir(parents=True)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    (settings.tmp_dir / "upload-1.part").write_bytes(b"half an upload")
    prepare_data_dir(settings)
    assert queue.get(stale).reason == "interrupted"
    assert [j.dataset for j in queue.pending()] == ["synthetic"]
    assert not (settings.models_dir / ".tmp-half").exists()
    assert list(settings.tmp_dir.iterdir()) == []


def test_children_get_their_blas_thread_count() -> None:
    env = child_env(3)
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "3"


def test_a_port_in_use_stops_the_service_with_a_message(tmp_path) -> None:
    import socket
    import subprocess

    from .realserver import ROOT, Server, free_port, seed_models

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        server = Server(tmp_path / "data", tmp_path / "server.log", port=port)
        proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=server.env,
                                stderr=subprocess.PIPE, text=True)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "serving on" not in err  # it used to say so before the API had even tried

    # nor may a second service share the port of a first one (SO_REUSEPORT would allow it)
    seed_models(tmp_path / "data")
    with Server(tmp_path / "data", tmp_path / "first.log", port=port) as first:
        second = Server(tmp_path / "other", tmp_path / "second.log", port=port)
        proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=second.env,
                                stderr=subprocess.PIPE, text=True)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in err
        with first.client() as c:
            assert c.get("/health/ready").status_code == 200


def test_serving_on_is_logged_once_the_port_answers(tmp_path: Path) -> None:
    import socket

    from .realserver import Server, seed_models, wait_until

    seed_models(tmp_path / "data")  # a model already: no first job to train meanwhile
    server = Server(tmp_path / "data", tmp_path / "server.log").launch()
    try:
        wait_until(lambda: server.exited() or "serving on http://" in server.log.read_text(), 60, "'serving on'")
        assert not server.exited(), server.log.read_text()[-3000:]
        # at once, with no retry: the port answers from the moment the line is written
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        line = next(rec for rec in server.log_lines() if rec["msg"].startswith("serving on"))
        assert line["msg"] == (f"serving on http://127.0.0.1:{server.port} (2 API workers, uvloop event loop, "
                               "docs at /docs), "
                               f"data directory {(tmp_path / 'data').resolve()}")
        assert line["logger"] == "service.api"
        server.wait_ready()
    finally:
        server.terminate()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_workers_run_the_event_loop_chosen(tmp_path: Path, loop: str) -> None:
    """CATSVC_EVENT_LOOP reaches every worker: uvloop's extension is mapped into exactly the
    two API workers with uvloop (the default), into no process of the service with asyncio."""
    from service.state.procs import children

    from .realserver import Server, api_process, cmdline, seed_models, wait_until

    def maps(pid: int, library: str) -> bool:
        try:
            return library in Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            return False

    def workers() -> list[int]:
        """The API process's two workers once both have loaded the app (numpy mapped: uvicorn
        sets up its loop before it imports the app), else []."""
        api = api_process(server)
        found = [p for p in children(api) if "resource_tracker" not in cmdline(p)] if api else []
        return found if len(found) == 2 and all(maps(p, "_multiarray_umath") for p in found) else []

    seed_models(tmp_path / "data")
    env = {"event_loop": loop} if loop == "asyncio" else {}
    server = Server(tmp_path / "data", tmp_path / "server.log", **env).start()
    try:
        found = wait_until(workers, 60, "both API workers with the app loaded")
        line = next(rec["msg"] for rec in server.log_lines() if rec["msg"].startswith("serving on"))
        assert f"(2 API workers, {loop} event loop," in line
        on_uvloop = {p for p in server.pids() if maps(p, "/uvloop/")}
        assert on_uvloop == (set(found) if loop == "uvloop" else set()), [(p, cmdline(p)) for p in server.pids()]
    finally:
        server.terminate()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """The process environment, holding only a data directory of our own among CATSVC_*."""
    for name in list(os.environ):
        if name.startswith("CATSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CATSVC_DATA_DIR", str(tmp_path / "data"))
    # empty means unset; recorded, so that what generated_admin_token sets is undone after the test
    monkeypatch.setenv("CATSVC_ADMIN_TOKEN_FILE", "")
    return monkeypatch


def test_a_generated_admin_token_is_made_once_and_handed_to_the_children(environment: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    environment.setenv("CATSVC_GENERATE_ADMIN_TOKEN", "true")
    settings = generated_admin_token(load_settings())
    path = (tmp_path / "data" / "admin_token").resolve()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.environ["CATSVC_ADMIN_TOKEN_FILE"] == str(path)  # what the children read
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == path.read_text().strip()
    token = path.read_text()
    environment.delenv("CATSVC_ADMIN_TOKEN_FILE")
    assert generated_admin_token(load_settings()).admin_token == settings.admin_token  # the next start
    assert path.read_text() == token and [p.name for p in path.parent.iterdir()] == ["admin_token"]


@pytest.mark.parametrize("other", [{"CATSVC_ADMIN_TOKEN": "a" * 32}, {"CATSVC_ALLOW_OPEN_ADMIN": "true"},
                                   {"CATSVC_GENERATE_ADMIN_TOKEN": "false"}], ids=str)
def test_no_token_is_generated_when_one_is_set_or_open_admin_is_asked_for(
    environment: pytest.MonkeyPatch, tmp_path: Path, other: dict[str, str]
) -> None:
    environment.setenv("CATSVC_GENERATE_ADMIN_TOKEN", "true")
    for name, value in other.items():
        environment.setenv(name, value)
    settings = load_settings()
    assert generated_admin_token(settings) is settings
    assert not (tmp_path / "data" / "admin_token").exists()
