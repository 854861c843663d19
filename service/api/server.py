"""The API process: ``workers`` uvicorn processes of :func:`service.api.app.create_app`.

This is what ``uvicorn.run("service.api.app:create_app", factory=True, workers=N)`` does,
with two differences: the listening sockets are made here, and each worker has several
(LISTENERS_PER_WORKER, so that uvloop accepts a burst of connections at once). uvicorn
makes its one socket with protocol 0, and asyncio turns on TCP_NODELAY only for sockets
that say they are TCP; without it every keep-alive response waits ~40 ms for a delayed
ACK (Nagle), capping each connection at about 25 requests per second.

The uvicorn settings that bound slow and stalled clients live in :func:`uvicorn_config`
and :mod:`service.api.http.protocol`; on SIGTERM uvicorn stops accepting, lets requests in
flight finish for up to ``shutdown_timeout`` seconds, then exits.

This process and each worker hold the data directory's lock (:mod:`service.state.lock`) and
stop within a second of their parent's death (:func:`service.state.procs.die_with_parent`).
"""
from __future__ import annotations

import gc
import logging
import socket
import sys

import uvicorn
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from ..settings import Settings
from ..state.lock import SpawnedFd, inherited_fd
from ..state.logs import setup_logging
from ..state.procs import STARTUP_FAILURE, die_with_parent, raise_open_file_limit
from .http.protocol import GuardedHttpProtocol

log = logging.getLogger("service.api")

# Listening sockets per worker, all in one SO_REUSEPORT group on the port. uvloop's libuv
# accepts one connection per listening socket per turn of the loop, and a saturated worker's
# turn serves every connection it already has: with one socket, 32 connections opened
# together were accepted over half a second, the k-th after about k^2 / 2 requests' work
# (README, "The event loop"). The kernel spreads new connections over a group's sockets and
# a turn takes one from each: with 32 a worker, the same 32 connections were all accepted
# within about 25 ms on a bare uvloop server (370 to 500 ms with one; 128 sockets gained
# nothing more in the service's tail). asyncio's loop takes every waiting one anyway.
LISTENERS_PER_WORKER = 32
# the backlog of each of them: 32 x 128 connections may wait for a worker to accept them
# (uvicorn's default of 2048 was for the one socket it listens on)
BACKLOG_PER_LISTENER = 128
FILES_BESIDE_CONNECTIONS = 64 + LISTENERS_PER_WORKER  # a worker's own files: listening sockets, logs, database, models, pipes


def listening_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)  # a worker process accepts on it
    return sock


def listen(sockets: list[socket.socket], backlog: int) -> None:
    """Make the port answer now: connections wait in the backlog until a worker accepts.

    Otherwise it answers only once a worker has imported the app (a second or more), and
    "serving on ..." could not be said truthfully here (uvicorn listens again, which changes nothing).
    """
    for sock in sockets:
        sock.listen(backlog)


def worker_sockets(host: str, port: int, n: int,
                   per_worker: int = LISTENERS_PER_WORKER) -> list[list[socket.socket]]:
    """Listening sockets of their own for each of ``n`` workers, ``per_worker`` each, all on
    the same port (SO_REUSEPORT).

    With one shared socket, whichever worker wakes first accepts every waiting
    connection at once (asyncio accepts in batches): the 8 connections a client pool
    opens together often all land on one worker, which then serves them alone at half
    the machine's speed. With sockets of its own, the kernel spreads new connections over
    the workers; with several each, a turn of a worker's loop accepts several (see
    LISTENERS_PER_WORKER). SO_REUSEPORT would also let a second service of the same user
    share the port unnoticed, so the port is first bound once without it: taken -> an error.
    """
    listening_socket(host, port).close()  # EADDRINUSE if anyone listens there
    return [[listening_socket(host, port, reuse_port=True) for _ in range(per_worker)] for _ in range(n)]


class Workers(Multiprocess):
    """uvicorn's worker supervisor, with listening sockets of its own for each worker (see
    :func:`worker_sockets`), which it closes on shutdown.

    Each worker closes its own copies when it stops accepting; this process's copies would
    keep the port open, and new connections would queue where no one accepts them
    until every request in flight has finished. Closed, they are refused at once.
    """

    def __init__(self, config: uvicorn.Config, groups: list[list[socket.socket]]) -> None:
        super().__init__(config, [sock for group in groups for sock in group])
        self.own = groups  # worker i serves on the sockets of self.own[i]
        self.startup_failed = False

    def init_processes(self) -> None:
        for group in self.own[: self.processes_num]:
            process = Process(self.config, group)
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        # uvicorn's, except that a replacement gets the socket of the worker it replaces
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker %s failed to start; stopping", process.pid)
                self.startup_failed = True
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker %s died; starting another", process.pid)
            replacement = Process(self.config, self.own[idx])
            replacement.start()
            self.processes[idx] = replacement

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()

    # uvicorn's SIGHUP (restart every worker), SIGTTIN (one more) and SIGTTOU (one fewer)
    # would start workers on every worker's sockets, or leave a stopped worker's sockets
    # open where no one accepts: the workers and their sockets are fixed at start
    # (CATSVC_WORKERS); to change them, restart the service
    def handle_hup(self) -> None:
        self._ignored("SIGHUP")

    def handle_ttin(self) -> None:
        self._ignored("SIGTTIN")

    def handle_ttou(self) -> None:
        self._ignored("SIGTTOU")

    def _ignored(self, name: str) -> None:
        log.warning("%s ignored: the API workers are fixed at start (CATSVC_WORKERS); restart the service "
                    "to change them", name)


class DirectEntry:
    """The app as uvicorn calls it: HTTP goes straight to its middleware stack, the rest
    (lifespan) to the app.

    FastAPI's ``__call__`` asks OpenTelemetry on every request whether tracing, metrics
    or logs are configured (the service configures none): 2% of a one-PNG /predict in the
    profile, with Starlette's ``__call__`` under it. The stack is the one those would
    call, built the same way.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.stack = app.build_middleware_stack()
        app.middleware_stack = self.stack  # the one stack, whichever way a request comes in

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["app"] = self.app  # what Starlette sets, and Request.app reads
            await self.stack(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def worker_app() -> DirectEntry:
    """uvicorn's factory in each worker process."""
    from .app import create_app

    die_with_parent()  # a worker whose API process died stops too
    entry = DirectEntry(create_app())
    freeze_startup_objects()
    return entry


def freeze_startup_objects() -> None:
    """Move what the worker made while starting out of the cyclic collector's sight.

    A full collection walks every tracked object and runs on whichever thread allocates,
    here mostly the event loop: the imports, the app and (in cluster mode) boto3's service
    models are 77,000 objects embedded and 137,000 in cluster mode, 47 and 80 ms a full
    collection on this machine, a stall of every connection each time one comes. Frozen,
    they are never scanned again (gc.freeze, Python's advice for long-lived processes:
    under 0.1 ms a full collection after it); what requests make later is still
    collected. One collection first, so that none of the startup's garbage is frozen.
    """
    gc.collect()
    gc.freeze()


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        "service.api.server:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=GuardedHttpProtocol,  # llhttp; header and send deadlines, connection caps, JSON errors
        loop=settings.event_loop,
        ws="none",  # no WebSocket endpoints: an upgrade request is plain HTTP here
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]  # a float works
        timeout_graceful_shutdown=settings.shutdown_timeout,  # type: ignore[arg-type]  # a float works
        log_config=None,  # JSON lines through the root handler (service.logs)
        log_level=settings.log_level,
        access_log=False,  # the service's own line per request replaces uvicorn's
        backlog=BACKLOG_PER_LISTENER,  # each listening socket's (LISTENERS_PER_WORKER a worker)
    )


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    die_with_parent()  # the supervisor died: stop too
    files = raise_open_file_limit()  # before the workers start: they inherit it
    needed = settings.max_connections + FILES_BESIDE_CONNECTIONS
    if files < needed:
        log.warning("the open-file limit is %d, below the %d a worker needs for CATSVC_MAX_CONNECTIONS (%d): "
                    "raise it (ulimit -n, compose's ulimits: nofile) or lower CATSVC_MAX_CONNECTIONS",
                    files, needed, settings.max_connections)
    config = uvicorn_config(settings)
    try:
        groups = worker_sockets(settings.host, settings.port, settings.workers)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, e)
        sys.exit(STARTUP_FAILURE)
    listen([sock for group in groups for sock in group], config.backlog)
    log.info("serving on http://%s:%d (%d API worker%s, %s event loop, docs at /docs), data directory %s",
             settings.host, settings.port, settings.workers, "s" if settings.workers != 1 else "",
             settings.event_loop, settings.data_dir.resolve())
    lock = inherited_fd()
    if lock is not None:
        # the config is pickled into every worker it spawns: so each one holds the lock too
        config.data_dir_lock = SpawnedFd(lock)  # type: ignore[attr-defined]  # our own attribute, pickled along
    if settings.workers > 1:
        workers = Workers(config, groups)
        workers.run()
        if workers.startup_failed:  # the supervisor must not start it again: it would fail the same way
            sys.exit(STARTUP_FAILURE)
    else:
        server = uvicorn.Server(config)
        server.run(sockets=groups[0])
        if not server.started:
            sys.exit(STARTUP_FAILURE)
