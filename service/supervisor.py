"""The supervisor: starts the API (uvicorn and its workers) and the trainer, stops both.

Two child processes, each with its own environment (BLAS thread counts must be set
before numpy loads). The supervisor holds no state: it restarts a trainer that died, and
an API process that died (after 1, 2, 4 ... s; it stops the service when the API dies
API_MAX_FAILURES times within API_FAILURE_WINDOW, or at once when it cannot start at all,
e.g. its port is taken).

Every process of the service holds the data directory's lock (:mod:`service.state.lock`), and
every child stops within ORPHAN_GRACE (1 s) of its parent's death
(:func:`service.state.procs.die_with_parent`): after ``kill -9`` of the supervisor, a new
service on the same directory waits for the old processes instead of running a second
trainer beside them.

Shutdown, on SIGTERM (``docker stop``) or SIGINT (Ctrl-C):

1. readiness answers 503 at once (``settings.stopping_file``, which /health/ready
   checks) and the trainer is told to stop: a running job's process is killed at once
   and is recorded ``cancelled`` with reason ``shutdown``;
2. for ``shutdown_drain`` seconds everything else goes on serving, so that a load
   balancer sees the 503 and sends new requests elsewhere (a second signal cuts it short);
3. the API stops accepting connections; requests in flight get ``shutdown_timeout``
   seconds to finish;
4. a child still running after that is killed, with its worker processes;
5. whatever a child left half-written (upload temporary files, staging directories)
   is removed, and the stopping mark with it.

In a container the supervisor is PID 1 (exec-form ``CMD``); elsewhere it is a child
subreaper. Either way orphaned processes (the workers of an API process that died) become
its children: it reaps them, which would otherwise stay zombies, and stops them.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time

from pydantic import ValidationError

from .settings import Settings
from .state import metrics
from .state.datasets import DatasetCatalog
from .state.lock import FD_ENV, DataDirInUse, lock_data_dir
from .state.logs import setup_logging
from .state.procs import (
    STARTUP_FAILURE,
    become_subreaper,
    children,
    descendants,
    kill_all,
)
from .state.storage import StorageUnavailable, check, writing
from .state.store import ModelStore
from .tokenfiles import create_token_file
from .trainer.worker import Trainer

log = logging.getLogger("service.supervisor")

KILL_GRACE = 5.0  # seconds past shutdown_timeout before a child is killed
RESTART_DELAY = 2.0  # seconds between two starts of a trainer that keeps dying
TICK = 0.2  # seconds between two looks at the children
# the processes of a service that died stop within ~1 s (procs.ORPHAN_GRACE): room to spare
LOCK_WAIT = 10.0
API_FIRST_DELAY = 1.0  # seconds before starting a dead API process again; doubled at each death
API_MAX_FAILURES = 4  # this many deaths of the API process within the window stop the service
API_FAILURE_WINDOW = 60.0
STRAY_GRACE = 2.0  # seconds the workers of a dead API process get to stop before they are killed
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
GENERATED_TOKEN_FILE = "admin_token"  # in the data directory (CATSVC_GENERATE_ADMIN_TOKEN)


def child_env(threads: int, lock_fd: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for name in _THREAD_VARS:
        env[name] = str(threads)
    if lock_fd is not None:
        env[FD_ENV] = str(lock_fd)
    return env


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory, remove what a crash left half-written, mark jobs that
    were running as interrupted and queue the first job if there is no model.

    Runs before any child starts, so nothing is being written at that moment. In cluster
    mode the data directory holds only this machine's temporary files and caches: the
    shared state's recovery is each trainer's (it retries while Redis or the object store
    are down, and other machines' trainers may be running jobs), so nothing here waits on them.
    """
    with writing(settings.data_dir):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    remove_partial(settings)
    if settings.metrics:  # under tmp/ (the default) it is gone already; elsewhere its files are
        with writing(settings.data_dir):
            metrics.clean(settings)
    if settings.cluster:
        return
    trainer = Trainer(settings)
    # recovery and the first job now, before any worker can answer "no job queued"
    trainer.start_up()
    trainer.queue.close()


def remove_partial(settings: Settings) -> None:
    """Delete what a stopped or killed process left half-written; only while no child runs.

    Raises StorageUnavailable when the data directory cannot be written.
    """
    if settings.cluster:
        shutil.rmtree(settings.data_dir / "cache", ignore_errors=True)  # versions read from the object store
    else:
        ModelStore(settings.data_dir).remove_partial()
        DatasetCatalog.from_settings(settings).remove_partial()
    shutil.rmtree(settings.tmp_dir, ignore_errors=True)
    with writing(settings.data_dir):
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)  # exists still if it could not be removed


ROLES = ("api", "trainer")


class Supervisor:
    def __init__(self, settings: Settings, roles: tuple[str, ...] = ROLES) -> None:
        self.settings = settings
        self.roles = roles  # what this machine runs: both (the default), or one (cluster mode)
        # plain flags, not threading.Event: set from a signal handler, which must not take a lock
        self._stopping = False
        self._hurry = False
        self.api: subprocess.Popen[bytes] | None = None
        self.trainer: subprocess.Popen[bytes] | None = None
        self.lock_fd: int | None = None

    def stop(self, signum: int = signal.SIGTERM, _frame: object = None) -> None:
        """Signal handler: the first signal starts the shutdown, a second skips the drain."""
        if self._stopping:
            self._hurry = True
        self._stopping = True

    def _start(self, module: str, threads: int) -> subprocess.Popen[bytes]:
        # the child inherits the lock's descriptor, so it holds the lock until it exits
        fds = () if self.lock_fd is None else (self.lock_fd,)
        return subprocess.Popen([sys.executable, "-m", module], env=child_env(threads, self.lock_fd), pass_fds=fds)

    def _start_api(self) -> subprocess.Popen[bytes]:
        return self._start("service.api", self.settings.api_threads)

    def _start_trainer(self) -> subprocess.Popen[bytes]:
        return self._start("service.trainer", self.settings.train_threads)

    def run(self) -> int:
        s = self.settings
        try:
            self.lock_fd = lock_data_dir(s.data_dir, wait=LOCK_WAIT)
            self._check_storage()
            prepare_data_dir(s)
        except DataDirInUse as e:
            log.error("%s (still after %.0f s); stop it first, or set CATSVC_DATA_DIR to another directory",
                      e, LOCK_WAIT)
            return 2
        except StorageUnavailable as e:  # one line, not a traceback
            log.error("cannot start: %s; CATSVC_DATA_DIR=%s", e, s.data_dir.resolve())
            return 2
        log_open_doors(s)
        become_subreaper()
        # the trainer first: it recovers interrupted jobs and queues the first one
        if "trainer" in self.roles:
            self.trainer = self._start_trainer()
        if "api" in self.roles:
            self.api = self._start_api()  # it says "serving on ..." once its port answers
        log.info("started %s, data directory %s", " and ".join(
            f"the {name} (pid {p.pid})" for name, p in (("API process", self.api), ("trainer", self.trainer))
            if p is not None), s.data_dir.resolve())
        code = self._watch()
        self._shutdown()
        return code

    def _check_storage(self) -> None:
        """Raise StorageUnavailable if the data directory is read-only or full (before writing to it)."""
        problem = check(self.settings.writable_dirs)
        if problem is not None:
            raise problem

    def _watch(self) -> int:
        """Look after the children until a signal comes (0) or the API cannot be kept up (non-zero)."""
        trainer_started = time.monotonic()
        api_deaths: list[float] = []  # when the API process died, within the window
        api_due: float | None = None  # when to start the API process again
        while not self._stopping:
            time.sleep(TICK)
            self._reap_orphans()
            now = time.monotonic()
            if self.api is not None and self.api.poll() is not None:
                if self._stop_signal_landed():
                    break
                code = self.api.returncode
                if code == STARTUP_FAILURE:  # the API has logged why (e.g. the port is taken)
                    log.error("the API process could not start; stopping")
                    return code
                api_deaths = [t for t in api_deaths if now - t < API_FAILURE_WINDOW] + [now]
                if len(api_deaths) >= API_MAX_FAILURES:
                    log.error("the API process died %d times in %.0f s (last exit code %s); stopping",
                              len(api_deaths), API_FAILURE_WINDOW, code)
                    return 1
                delay = API_FIRST_DELAY * 2 ** (len(api_deaths) - 1)
                log.error("the API process exited with code %s; starting it again in %g s", code, delay)
                self.api, api_due = None, now + delay
            if self.api is None and api_due is not None and now >= api_due:
                self._stop_strays()  # its old workers hold the port
                self.api, api_due = self._start_api(), None
                log.info("API process started again (pid %d)", self.api.pid)
            if self.trainer is not None and self.trainer.poll() is not None and now - trainer_started > RESTART_DELAY:
                if self._stop_signal_landed():
                    break
                log.error("the trainer exited with code %s; restarting it", self.trainer.returncode)
                self.trainer = self._start_trainer()
                trainer_started = time.monotonic()
        return 0

    def _stop_signal_landed(self) -> bool:
        """Whether a child that just exited was stopped by our own shutdown signal.

        A stop signal sent to the whole process group (kill -TERM -pgid) reaches the children
        too, and one may exit before our own handler has run: let it land.
        """
        time.sleep(TICK)
        return self._stopping

    def _strays(self) -> list[int]:
        """Our children that are neither the API process nor the trainer: adopted orphans."""
        ours = {p.pid for p in (self.api, self.trainer) if p is not None and p.poll() is None}
        return [pid for pid in children(os.getpid()) if pid not in ours]

    def _stop_strays(self) -> None:
        """Wait up to STRAY_GRACE for adopted orphans to stop by themselves, then kill them."""
        deadline = time.monotonic() + STRAY_GRACE
        while (strays := self._strays()) and time.monotonic() < deadline:
            time.sleep(0.05)
            self._reap_orphans()
        if strays:
            log.warning("killing %d process(es) of a dead API process that did not stop", len(strays))
            for pid in strays:
                kill_all([*descendants(pid), pid])
            time.sleep(0.05)
            self._reap_orphans()

    def _shutdown(self) -> None:
        s = self.settings
        try:
            s.stopping_file.touch()  # /health/ready: 503 from now on
        except OSError as e:  # read-only or full: /health/ready already answers 503 STORAGE_UNAVAILABLE
            log.warning("cannot write the stopping mark (%s); stopping all the same", e.strerror)
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
        self._stop_strays()
        try:
            remove_partial(s)  # no child runs now: nothing half-written stays behind
        except StorageUnavailable as e:
            log.warning("cannot remove what the children left half-written: %s; the next start will", e)
        log.info("stopped")

    def _reap_orphans(self) -> None:
        """Collect exited processes that are not our two children (orphans are ours: PID 1 or subreaper)."""
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
    kill_all([*descendants(p.pid), p.pid])
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


def roles(argv: list[str]) -> tuple[str, ...]:
    """``python -m service [api | trainer]``: both processes, or one of them."""
    if not argv:
        return ROLES
    if len(argv) == 1 and argv[0] in ROLES:
        return (argv[0],)
    print("usage: python -m service [api | trainer]  (no argument: both)", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    chosen = roles(sys.argv[1:])
    settings = load_settings()
    setup_logging(settings.log_level)
    settings = generated_admin_token(settings)
    supervisor = Supervisor(settings, chosen)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    raise SystemExit(supervisor.run())
