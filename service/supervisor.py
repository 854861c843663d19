"""The supervisor: starts the API (uvicorn and its workers) and the trainer, stops both.

Two child processes, each with its own environment (BLAS thread counts must be set
before numpy loads). The supervisor holds no state: it restarts a trainer that died and
stops everything if the API dies.

Shutdown, on SIGTERM (``docker stop``) or SIGINT (Ctrl-C):

1. readiness answers 503 at once (``settings.stopping_file``, which /health/ready
   checks) and the trainer is told to stop: a running job stops at its next iteration
   and is recorded ``cancelled`` with reason ``shutdown``;
2. for ``shutdown_drain`` seconds everything else goes on serving, so that a load
   balancer sees the 503 and sends new requests elsewhere (a second signal cuts it short);
3. the API stops accepting connections; requests in flight get ``shutdown_timeout``
   seconds to finish;
4. a child still running after that is killed, with its worker processes;
5. whatever a child left half-written (upload temporary files, staging directories)
   is removed, and the stopping mark with it.

In a container the supervisor is PID 1 (exec-form ``CMD``): it also reaps orphaned
processes, which would otherwise stay zombies, and its children die with it
(``service.procs.die_with_parent``).
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

from pydantic import ValidationError

from .logs import setup_logging
from .procs import descendants
from .settings import Settings
from .tokenfiles import create_token_file

log = logging.getLogger("service.supervisor")

KILL_GRACE = 5.0  # seconds past shutdown_timeout before a child is killed
RESTART_DELAY = 2.0  # seconds between two starts of a trainer that keeps dying
TICK = 0.2  # seconds between two looks at the children
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
GENERATED_TOKEN_FILE = "admin_token"  # in the data directory (CATSVC_GENERATE_ADMIN_TOKEN)


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
    remove_partial(settings)
    trainer = Trainer(settings)
    # recovery and the first job now, before any worker can answer "no job queued"
    trainer.start_up()
    trainer.queue.close()


def remove_partial(settings: Settings) -> None:
    """Delete what a stopped or killed process left half-written; only while no child runs."""
    from .services import make_catalog
    from .store import ModelStore

    ModelStore(settings.data_dir).remove_partial()
    make_catalog(settings).remove_partial()
    shutil.rmtree(settings.tmp_dir, ignore_errors=True)
    settings.tmp_dir.mkdir(parents=True)


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # plain flags, not threading.Event: set from a signal handler, which must not take a lock
        self._stopping = False
        self._hurry = False
        self.api: subprocess.Popen[bytes] | None = None
        self.trainer: subprocess.Popen[bytes] | None = None

    def stop(self, signum: int = signal.SIGTERM, _frame: object = None) -> None:
        """Signal handler: the first signal starts the shutdown, a second skips the drain."""
        if self._stopping:
            self._hurry = True
        self._stopping = True

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
        code = self._watch()
        self._shutdown()
        return code

    def _watch(self) -> int:
        """Look after the children until a signal comes (0) or the API dies (its code)."""
        assert self.api is not None and self.trainer is not None
        last_start = time.monotonic()
        while not self._stopping:
            time.sleep(TICK)
            self._reap_orphans()
            if self.api.poll() is not None:
                log.error("the API process exited with code %s; stopping", self.api.returncode)
                return self.api.returncode or 1
            if self.trainer.poll() is not None and time.monotonic() - last_start > RESTART_DELAY:
                # a stop signal sent to the whole process group (kill -TERM -pgid) reaches the
                # trainer too, and it may exit before our own handler has run: let it land
                time.sleep(TICK)
                if self._stopping:
                    break
                log.error("the trainer exited with code %s; restarting it", self.trainer.returncode)
                self.trainer = self._start_trainer()
                last_start = time.monotonic()
        return 0

    def _shutdown(self) -> None:
        s = self.settings
        s.stopping_file.touch()  # /health/ready: 503 from now on
        log.info("stopping: readiness answers 503; the running job stops; requests are served for %g s more",
                 s.shutdown_drain)
        _terminate(self.trainer)
        drain_end = time.monotonic() + s.shutdown_drain
        while time.monotonic() < drain_end and not self._hurry and _alive(self.api):
            time.sleep(0.05)
            self._reap_orphans()
        _terminate(self.api)  # uvicorn: no new connections; requests in flight finish
        deadline = time.monotonic() + s.shutdown_timeout + KILL_GRACE
        while (_alive(self.api) or _alive(self.trainer)) and time.monotonic() < deadline:
            time.sleep(0.05)
            self._reap_orphans()
        for p in (self.api, self.trainer):
            if _alive(p):
                assert p is not None
                log.error("process %d did not stop in %.0f s; killing it", p.pid, s.shutdown_timeout + KILL_GRACE)
                _kill_tree(p)
        self._reap_orphans()
        remove_partial(s)  # no child runs now: nothing half-written stays behind
        log.info("stopped")

    def _reap_orphans(self) -> None:
        """Collect exited processes that are not our two children (as PID 1, orphans become ours)."""
        for _ in range(64):
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            ours = [p for p in (self.api, self.trainer) if p is not None and p.pid == info.si_pid]
            if ours:
                ours[0].poll()  # Popen reaps its own child and keeps its exit code
            else:
                try:
                    os.waitpid(info.si_pid, 0)
                except ChildProcessError:
                    pass


def _alive(p: subprocess.Popen[bytes] | None) -> bool:
    return p is not None and p.poll() is None


def _terminate(p: subprocess.Popen[bytes] | None) -> None:
    if _alive(p):
        assert p is not None
        p.send_signal(signal.SIGTERM)


def _kill_tree(p: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child and its own children (uvicorn's workers), deepest first."""
    for pid in [*descendants(p.pid), p.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()


def load_settings() -> Settings:
    """The settings, or exit 2 with one line naming each invalid variable (never its value)."""
    try:
        return Settings()
    except ValidationError as e:
        problems = "; ".join(f"CATSVC_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}" for err in e.errors())
        print(f"invalid setting: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


def generated_admin_token(settings: Settings) -> Settings:
    """With CATSVC_GENERATE_ADMIN_TOKEN and no admin token (nor CATSVC_ALLOW_OPEN_ADMIN):
    the token file in the data directory, made at the first start; the settings that use it.

    The children find it as any token file: CATSVC_ADMIN_TOKEN_FILE in their environment.
    """
    if not settings.generate_admin_token or settings.admin_token is not None or settings.allow_open_admin:
        return settings
    path = (settings.data_dir / GENERATED_TOKEN_FILE).resolve()
    try:
        made = create_token_file(path)
    except OSError as e:
        print(f"invalid setting: CATSVC_GENERATE_ADMIN_TOKEN: cannot write {path} ({e.strerror}); "
              "make CATSVC_DATA_DIR writable, or set CATSVC_ADMIN_TOKEN_FILE", file=sys.stderr)
        raise SystemExit(2) from None
    os.environ["CATSVC_ADMIN_TOKEN_FILE"] = str(path)
    log.info("admin token %s %s (compose: `docker compose exec api cat %s`); training, uploads and "
             "activation need it as 'Authorization: Bearer <token>'", "made in" if made else "read from", path, path)
    return load_settings()


def log_open_doors(settings: Settings) -> None:
    """Say at start-up which endpoints anyone who reaches the port may use (no tokens in the log)."""
    if settings.admin_disabled:
        log.warning("no CATSVC_ADMIN_TOKEN and CATSVC_HOST=%s is not a loopback address: training, uploads "
                    "and activation answer 403 ADMIN_DISABLED; set CATSVC_ADMIN_TOKEN (or "
                    "CATSVC_ADMIN_TOKEN_FILE), or CATSVC_ALLOW_OPEN_ADMIN=true to open them", settings.host)
    elif settings.admin_token is None:
        log.warning("no CATSVC_ADMIN_TOKEN: anyone who reaches the port can train, upload data sets and "
                    "parameters, and switch the active model")
    if settings.predict_token is None:
        log.warning("no CATSVC_PREDICT_TOKEN: anyone who reaches the port can ask for predictions")
    hosts = settings.allowed_host_names
    log.info("answering requests whose Host is %s (CATSVC_ALLOWED_HOSTS; /health/* answers any)",
             "any" if hosts is None else ", ".join(sorted(hosts)))


def main() -> None:
    settings = load_settings()
    setup_logging(settings.log_level)
    settings = generated_admin_token(settings)
    log_open_doors(settings)
    supervisor = Supervisor(settings)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    raise SystemExit(supervisor.run())
