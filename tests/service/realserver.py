"""The real service (``python -m service``) on a free 127.0.0.1 port, for the tests that
need real processes, sockets and signals. Every wait is bounded."""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import numpy as np
import pytest

from model_core import load_parameters
from service.settings import Settings
from service.state.backend import State, open_state
from service.state.jobs import JobQueue
from service.state.protocols import JobQueueProtocol, ModelStoreProtocol
from service.state.procs import children
from service.state.store import ModelStore

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
N_X = 12288
# a POST /predict JSON body: one instance of N_X pixel values
INSTANCE_JSON = b'{"instances": [[' + b",".join([b"0"] * N_X) + b"]]}"

T = TypeVar("T")

# CATSVC_TEST_BACKEND=cluster (.ci/run's second pass): the CATSVC_* variables of the session's
# redis-server and S3 server but the prefix (tests/service/conftest.py fills this in); every
# Server and seed_models then runs on them, in a namespace of its data directory's own
CLUSTER: dict[str, str] = {}


def cluster_env(data_dir: Path) -> dict[str, str]:
    """The cluster-mode variables of a server whose data directory is ``data_dir`` ({} when
    the tests run embedded). The prefix comes from the directory, so that ``seed_models(d)``
    and ``Server(d, ...)`` meet in one namespace, and no two tests share one."""
    if not CLUSTER:
        return {}
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return CLUSTER | {"CATSVC_CLUSTER_PREFIX": f"t{digest}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds (a bound,
    not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (httpx.TransportError, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def course_npz(seed: int = 0, hidden: int = 3) -> bytes:
    """A parameter file as the course writes it: np.savez(f, **parameters)."""
    rng = np.random.RandomState(seed)
    buf = io.BytesIO()
    np.savez(buf, W1=rng.randn(hidden, N_X) * 0.01, b1=np.zeros((hidden, 1)),
             W2=rng.randn(1, hidden), b2=np.zeros((1, 1)))
    return buf.getvalue()


def backend_settings(data_dir: Path) -> dict[str, Any]:
    """:func:`cluster_env` as Settings fields ({} when the tests run embedded): for an
    in-process app on ``data_dir``, in the namespace its Server would use."""
    return {k.removeprefix("CATSVC_").lower(): v for k, v in cluster_env(data_dir).items()}


@functools.cache
def _cluster_state(data_dir: Path) -> State:
    # another process: a data directory of its own beside (the S3 store's cache); one per
    # directory, so that a test's checks do not open a client (and a socket) each
    own = data_dir.with_name(data_dir.name + "-reader")
    return open_state(Settings(**backend_settings(data_dir), data_dir=own, datasets_dir=None))


def store_of(data_dir: Path) -> ModelStoreProtocol:
    """The model store of a Server on ``data_dir``, as another process opens it: that
    directory's files, or (cluster) its namespace on the S3 server and Redis."""
    return _cluster_state(data_dir).store if CLUSTER else ModelStore(data_dir)


def queue_of(data_dir: Path) -> JobQueueProtocol:
    """The job queue of a Server on ``data_dir``: its SQLite file, or (cluster) Redis."""
    return _cluster_state(data_dir).queue if CLUSTER else JobQueue(data_dir / "jobs.sqlite")


def seed_models(data_dir: Path, count: int = 1, store: Any = None) -> list[int]:
    """``count`` small model versions in a fresh data directory (or ``store``: the one a
    test's settings name), the last one active (so the server starts ready, with no first
    job to train)."""
    store = store or store_of(data_dir)
    versions = []
    for seed in range(count):
        parameters, metadata = load_parameters(course_npz(seed))
        metadata["created_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        metadata["source"] = {"kind": "upload", "uploaded_at": metadata["created_at"]}
        versions.append(store.add(parameters, metadata))
    store.activate(versions[-1])
    return versions


class Server:
    """``python -m service`` in its own process group (so that all its processes can be
    killed at once), its stdout and stderr in ``log``; ``prefix`` runs it under another
    command that execs it (setpriv, unshare), so that the supervisor keeps its pid."""

    def __init__(self, data_dir: Path, log: Path, port: int | None = None, prefix: Sequence[str] = (), *,
                 address_space: int | None = None, args: Sequence[str] = (), **settings: Any) -> None:
        """``address_space``: an RLIMIT_AS cap (bytes) on every process of the service, for
        tests that send memory bombs: a regression then fails inside the cage."""
        self.data_dir, self.log, self.prefix = data_dir, log, list(prefix)
        self.address_space = address_space
        self.args = list(args)  # e.g. ["api"] or ["trainer"]: python -m service's role
        self.port = port or free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CATSVC_")}
        # no data sets directory unless a test gives one: ./data, the default, is the checkout's
        self.env["CATSVC_DATASETS_DIR"] = str(data_dir.parent / "no-datasets")
        self.env.update(cluster_env(data_dir))
        self.env.update(CATSVC_PORT=str(self.port), CATSVC_DATA_DIR=str(data_dir), CATSVC_WORKERS="2",
                        CATSVC_PROGRESS_INTERVAL="0.05", CATSVC_POLL_INTERVAL="0.1")
        for name, value in settings.items():
            self.env[name if name.startswith("CATSVC_") else f"CATSVC_{name.upper()}"] = str(value)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, ready: bool = True) -> Self:
        return self.launch().wait_ready(ready)

    def launch(self) -> Self:
        """Start the process, without waiting for it to answer."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([*self.prefix, sys.executable, "-m", "service", *self.args], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=out, start_new_session=True,
                                         preexec_fn=self._cage if self.address_space else None)
        return self

    def wait_ready(self, ready: bool = True) -> Self:
        """Wait until /health/ready (or /health/live) answers 200."""
        with httpx.Client(base_url=self.url, timeout=10) as c:
            path = "/health/ready" if ready else "/health/live"
            wait_until(lambda: self.exited() or c.get(path).status_code == 200, START_TIMEOUT, path)
        assert not self.exited(), self.log.read_text()[-3000:]
        return self

    def _cage(self) -> None:
        assert self.address_space is not None
        resource.setrlimit(resource.RLIMIT_AS, (self.address_space, self.address_space))

    def exited(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30), **kwargs)

    def pids(self) -> list[int]:
        """The supervisor and every process under it."""
        assert self.proc is not None
        from service.state.procs import descendants

        return [self.proc.pid, *descendants(self.proc.pid)]

    def terminate(self) -> int:
        """SIGTERM, then wait for the exit; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole process group: the supervisor, the API and its workers, the trainer."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=STOP_TIMEOUT)

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines of the log (anything else fails the test: every line must be JSON)."""
        lines = []
        for raw in self.log.read_text().splitlines():
            if raw.strip():
                try:
                    lines.append(json.loads(raw))
                except json.JSONDecodeError:
                    pytest.fail(f"a log line is not JSON: {raw[:300]}")
        return lines

    def __enter__(self) -> Self:
        # `with Server(...).start() as s` must not start a second one (the first would run on,
        # orphaned, after the block); `with server:` after a kill starts it again
        return self if not self.exited() else self.start()

    def __exit__(self, *exc: object) -> None:
        if not self.exited():
            self.kill()


def gone(pid: int) -> bool:
    """Whether process ``pid`` has stopped (exited, or a zombie no one has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].startswith("Z")
    except FileNotFoundError:
        return True


def cmdline(pid: int) -> str:
    """The command line of a process, "" once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def api_process(server: Server, not_in: Collection[int] = ()) -> int | None:
    """The pid of the supervisor's API process (not one of ``not_in``), if one runs."""
    assert server.proc is not None
    found = [p for p in children(server.proc.pid) if "service.api" in cmdline(p) and p not in not_in]
    return found[0] if found else None


RAW_BOUND = 20.0  # seconds a raw-socket test waits for the server to answer and close


def ready(sock: socket.socket, timeout: float, read: bool = True, write: bool = False) -> tuple[bool, bool]:
    """(readable, writable), of what is asked, within ``timeout`` seconds. poll, not select:
    select() refuses a descriptor above 1023, and a long suite's process holds more than that."""
    poller = select.poll()
    poller.register(sock, (select.POLLIN if read else 0) | (select.POLLOUT if write else 0))
    events = poller.poll(timeout * 1000)
    flags = events[0][1] if events else 0
    return bool(flags & (select.POLLIN | select.POLLHUP | select.POLLERR)), bool(flags & select.POLLOUT)


def connect(server: Server, source: str | None = None) -> socket.socket:
    """A raw TCP connection to the server, from the loopback address ``source`` if given."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=5,
                                    source_address=(source, 0) if source else None)


def tcp_sockets() -> list[list[str]]:
    """The kernel's IPv4 TCP sockets, a row of /proc/net/tcp's fields each (1: local
    address, 2: remote, 3: state, 9: inode; 0 for one no process holds)."""
    return [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]


def _proc_net_address(host: str, port: int) -> str:
    """``host:port`` as /proc/net/tcp spells an IPv4 end: the address as a 32-bit number in
    the host's byte order, the port in hex."""
    packed = socket.inet_aton(host)
    return f"{(packed[::-1] if sys.byteorder == 'little' else packed).hex().upper()}:{port:04X}"


# the states of a server end that was accepted, then closed (FIN_WAIT1, FIN_WAIT2,
# TIME_WAIT, LAST_ACK, CLOSING); SYN_RECV (03) and CLOSE_WAIT (08) may still be in a backlog
_CLOSED_AFTER_ACCEPT = frozenset(("04", "05", "06", "09", "0B"))


def connect_accepted(server: Server, source: str | None = None) -> socket.socket:
    """:func:`connect`, then wait until the server has accepted the connection.

    A worker listens on a group of sockets and the kernel spreads connections over them, so
    connections that wait in the backlogs together are accepted in no set order. A test
    whose connections must be counted in the order it opened them opens each with this:
    the kernel shows the server's end of a connection still in a backlog with inode 0 in
    /proc/net/tcp, and the inode of the socket a process holds once accepted (or, once
    the server has closed it, one of the states only an accepted end reaches).
    """
    sock = connect(server, source)
    server_end = _proc_net_address(*sock.getpeername()[:2]), _proc_net_address(*sock.getsockname()[:2])

    def accepted() -> bool:
        for fields in tcp_sockets():
            if (fields[1], fields[2]) == server_end:
                return fields[9] != "0" or fields[3] in _CLOSED_AFTER_ACCEPT
        return False

    try:
        wait_until(accepted, RAW_BOUND, "the server to accept the connection")
    except BaseException:
        sock.close()
        raise
    return sock


def read_to_eof(sock: socket.socket, bound: float = RAW_BOUND) -> bytes:
    """Everything the server sends until it closes the connection; fails the test if it
    is still open after ``bound`` seconds (a bound, not a timing)."""
    received = b""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if not ready(sock, 0.5)[0]:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the server kept the connection open for {bound:.0f} s; got {received[:200]!r}")


def parse(response: bytes) -> tuple[int, dict[str, str], dict]:
    """Status, headers (names in lower case) and JSON body of one raw response."""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def rss_high_water_kb(pid: int) -> int:
    """VmHWM of a process: the most resident memory it ever had, in kB (from /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")
