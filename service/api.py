"""The API process: ``workers`` uvicorn processes of :func:`service.app.create_app`.

This is what ``uvicorn.run("service.app:create_app", factory=True, workers=N)`` does,
with one difference: the listening socket is made here. uvicorn makes it with protocol
0, and asyncio turns on TCP_NODELAY only for sockets that say they are TCP; without it
every keep-alive response waits ~40 ms for a delayed ACK (Nagle), capping each
connection at about 25 requests per second.
"""
from __future__ import annotations

import logging
import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

from .settings import Settings

log = logging.getLogger("service.api")

STARTUP_FAILURE = 3  # uvicorn's exit code when it cannot start


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)  # the worker processes accept on it
    return sock


def main() -> None:
    settings = Settings()
    config = uvicorn.Config(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )
    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, e)
        sys.exit(STARTUP_FAILURE)
    if settings.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
        if not server.started:
            sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
