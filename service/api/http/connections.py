"""Per API worker: who holds its connections, so that idle ones cannot lock others out.

2,400 connections that never send a byte used to fill every worker's
``CATSVC_MAX_CONNECTIONS`` and get every other client a 503 until the header deadline
(10 s) cut them, and the attacker simply reconnected (issue 13 section 6). The choices,
applied by :class:`service.api.http.protocol.GuardedHttpProtocol` with a :class:`ConnectionBook`:

* **Per client address**: at most ``CATSVC_MAX_CONNECTIONS_PER_CLIENT`` open connections
  per address and per worker; the next one gets 429 ``TOO_MANY_CLIENT_CONNECTIONS``
  (``Retry-After: 1``) and is closed. A 429, not a silent close: it is that client's own
  excess, and a crowd behind one NAT address learns which setting to raise. Counted per
  worker (no state is shared between worker processes; SO_REUSEPORT spreads an address's
  connections over the workers), so one address holds at most workers x the cap.
* **Silent connections** (accepted, not one byte received yet) are kept oldest first.
  Past :data:`HIGH_WATER` of the cap, a new one has :data:`SILENT_DEADLINE` seconds
  instead of ``CATSVC_HEADER_TIMEOUT`` to send its first byte (then the usual deadline
  for the rest of its head). At the cap, a new connection closes the oldest silent one
  (quietly: it asked for nothing) instead of being refused: a newcomer is what a
  legitimate client looks like, and it sends its request at once, so it is never locked
  out by idle ones. Only when no open connection is silent does a newcomer get the 503.
  Shorter deadlines alone would not do: with more idle connections than room, every
  freed slot goes to the attacker's next reconnect as often as to anyone else.

Refusals and evictions are counted and logged at most once per :data:`LOG_EVERY`
seconds each: a flood of connections must not become a flood of log lines.
"""
from __future__ import annotations

import fcntl
import functools
import logging
import sys
import termios
from collections import OrderedDict
from typing import Any, Generic, Hashable, TypeVar

from ...settings import Settings

HIGH_WATER = 0.75  # fraction of CATSVC_MAX_CONNECTIONS past which silent connections get SILENT_DEADLINE
SILENT_DEADLINE = 1.0  # seconds a connection accepted past HIGH_WATER has to send its first byte
LOG_EVERY = 10.0  # seconds between two log lines about refused or evicted connections

C = TypeVar("C", bound=Hashable)
log = logging.getLogger("service.protocol")


class ConnectionBook(Generic[C]):
    """Open connections per client address, and the silent ones in the order they came."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._per_host: dict[str | None, int] = {}
        self._silent: OrderedDict[C, None] = OrderedDict()

    def opened(self, host: str | None) -> bool:
        """Count a new connection from ``host``; False if that passes the per-client cap
        (it is counted all the same, until :meth:`closed`)."""
        count = self._per_host.get(host, 0) + 1
        self._per_host[host] = count
        return count <= self.per_client

    def closed(self, conn: C, host: str | None) -> None:
        self._silent.pop(conn, None)
        count = self._per_host.get(host, 0) - 1
        if count > 0:
            self._per_host[host] = count
        else:
            self._per_host.pop(host, None)  # no entry per address ever seen: the dict stays small

    def silent(self, conn: C) -> None:
        """``conn`` was admitted and has sent nothing yet."""
        self._silent[conn] = None

    def heard(self, conn: C) -> None:
        """``conn`` sent its first byte."""
        self._silent.pop(conn, None)

    def pop_oldest_silent(self) -> C | None:
        return self._silent.popitem(last=False)[0] if self._silent else None


def unread_bytes(transport: object) -> int:
    """Bytes the kernel has received on ``transport``'s socket that the event loop has not
    read yet (``FIONREAD``): a connection accepted in the same batch as many others may
    hold a whole request that no ``data_received`` has delivered."""
    sock = transport.get_extra_info("socket")  # type: ignore[attr-defined]  # any asyncio transport has it
    if sock is None:
        return 0
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int.from_bytes(raw, sys.byteorder, signed=True)


class Tally:
    """Counts an event and logs the count at most once per :data:`LOG_EVERY` seconds."""

    def __init__(self, log: logging.Logger, level: int, message: str) -> None:
        self.log, self.level, self.message = log, level, message  # message: %d is the count
        self._count = 0
        self._next_at = float("-inf")

    def add(self, now: float) -> None:
        self._count += 1
        if now >= self._next_at:
            self.log.log(self.level, self.message, self._count)
            self._count, self._next_at = 0, now + LOG_EVERY


class Tallies:
    """The log lines about refused and evicted connections, at most one per LOG_EVERY s
    each, with the count since the previous one."""

    def __init__(self) -> None:
        self.cap = Tally(log, logging.WARNING, "refused %d connections: at the limit (CATSVC_MAX_CONNECTIONS), "
                                               "with no silent connection to close instead")
        self.client_cap = Tally(log, logging.WARNING, "refused %d connections from addresses at their limit "
                                                      "(CATSVC_MAX_CONNECTIONS_PER_CLIENT)")
        self.evicted = Tally(log, logging.INFO, "closed %d silent connections to make room for new ones "
                                                "at the limit (CATSVC_MAX_CONNECTIONS)")


TALLIES = Tallies()


@functools.cache
def settings() -> Settings:
    # read once per worker process from its environment, as the app factory does
    return Settings()


@functools.cache
def book() -> ConnectionBook[Any]:
    # one per worker process: its connections (uvicorn's server state has no room for it)
    return ConnectionBook(settings().max_connections_per_client)


def make_room(now: float) -> bool:
    """Close the oldest silent connection of this worker for a new one; False if there is none.

    A connection is a protocol with ``transport`` and ``first_byte()``.
    """
    connections = book()
    while (oldest := connections.pop_oldest_silent()) is not None:
        if oldest.transport.is_closing():
            continue
        if unread_bytes(oldest.transport):  # its request came but is not read yet: not silent
            oldest.first_byte()
            continue
        TALLIES.evicted.add(now)
        oldest.transport.close()  # quietly: it asked for nothing
        return True
    return False
