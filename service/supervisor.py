"""The supervisor: starts the API (uvicorn and its workers) and the trainer, stops both.

Two child processes, each with its own environment (BLAS thread counts must be set
before numpy loads). The supervisor holds no state: it restarts a trainer that died,
stops everything if the API dies, and on SIGTERM or SIGINT stops both and waits.
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from pydantic import ValidationError

from .logs import setup_logging
from .settings import Settings

log = logging.getLogger("service.supervisor")

STOP_TIMEOUT = 30.0  # seconds a child gets to stop before it is killed
RESTART_DELAY = 2.0  # seconds between two starts of a trainer that keeps dying
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in _THREAD_VARS:
        env[name] = str(threads)
    return env


class DataDirInUse(RuntimeError):
    pass


def lock_data_dir(settings: Settings) -> int:
    """Hold an exclusive lock on the data directory for the life of this process.

    One service per data directory: a second one would run a second trainer on the same
    queue and clean up the first one's half-written files. Returns the lock's descriptor.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.data_dir / "service.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirInUse(f"another service is using the data directory {settings.data_dir}") from None
    return fd


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory, remove what a crash left half-written, mark jobs that
    were running as interrupted and queue the first job if there is no model.

    Runs before any child starts, so nothing is being written at that moment.
    """
    from .trainer import Trainer  # numpy and model_core: only the supervisor's own work

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(settings)
    trainer.store.remove_partial()
    trainer.catalog.remove_partial()
    shutil.rmtree(settings.tmp_dir, ignore_errors=True)
    settings.tmp_dir.mkdir()
    # recovery and the first job now, before any worker can answer "no job queued"
    trainer.start_up()
    trainer.queue.close()


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self.api: subprocess.Popen[bytes] | None = None
        self.trainer: subprocess.Popen[bytes] | None = None

    def stop(self, *_: object) -> None:
        self._stop.set()

    def _start_api(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "service.api"], env=child_env(self.settings.api_threads))

    def _start_trainer(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "service.trainer"], env=child_env(self.settings.train_threads))

    def run(self) -> int:
        s = self.settings
        try:
            lock_data_dir(s)
        except DataDirInUse as e:
            log.error("%s; stop it first, or set CATSVC_DATA_DIR to another directory", e)
            return 2
        prepare_data_dir(s)
        # the trainer first: it recovers interrupted jobs and queues the first one
        self.trainer = self._start_trainer()
        self.api = self._start_api()
        log.info("serving on http://%s:%d (%d API workers, docs at /docs), data directory %s",
                 s.host, s.port, s.workers, s.data_dir.resolve())
        code = 0
        last_start = time.monotonic()
        while not self._stop.wait(0.5):
            if self.api.poll() is not None:
                log.error("the API process exited with code %s; stopping", self.api.returncode)
                code = self.api.returncode or 1
                break
            if self.trainer.poll() is not None and time.monotonic() - last_start > RESTART_DELAY:
                log.error("the trainer exited with code %s; restarting it", self.trainer.returncode)
                self.trainer = self._start_trainer()
                last_start = time.monotonic()
        self._shutdown()
        return code

    def _shutdown(self) -> None:
        children = [p for p in (self.api, self.trainer) if p is not None and p.poll() is None]
        for p in children:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for p in children:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("process %d did not stop in %.0f s; killing it", p.pid, STOP_TIMEOUT)
                p.kill()
                p.wait()
        log.info("stopped")


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as e:
        problems = "; ".join(f"CATSVC_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}" for err in e.errors())
        print(f"invalid setting: {problems}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings.log_level)
    supervisor = Supervisor(settings)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    raise SystemExit(supervisor.run())
