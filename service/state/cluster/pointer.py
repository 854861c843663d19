"""The active-version pointer in Redis, and each process's view of it.

A switch is ``SET <prefix>:active N`` and ``PUBLISH <prefix>:active N`` in one
transaction. A process that asks for :meth:`ActivePointer.stamp` (an API worker, once per
request) starts a thread subscribed to that channel: while it is subscribed the stamp is
the last version it heard, read from memory (no Redis command on the hot path), and a
switch reaches the worker in milliseconds, the registered callbacks loading the new
model off the request path before requests see the new stamp. While the subscription is down (Redis restarting, the
network cut), each request reads the key itself instead (the fallback), through a
client that never waits, and keeps the model it has if Redis does not answer. On every
(re)subscription the thread reads the key once: a switch made while it was away is not
missed. A process has one pointer per Redis and prefix (:func:`shared`), so a switch it
makes itself (an API worker's activation, an in-process trainer's) it sees at once.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis

from .connect import REDIS_ERRORS

log = logging.getLogger("service.pointer")

RESUBSCRIBE_DELAY = 0.5  # seconds between two tries to subscribe again


class ActivePointer:
    def __init__(self, patient: redis.Redis, quick: redis.Redis, key: str) -> None:
        # Any: redis-py types every reply as a union of all its commands' replies
        self._redis: Any = patient
        self._quick: Any = quick
        self.key = self.channel = key
        self._heard: int | None = None  # the version the subscription last heard
        self._subscribed = threading.Event()
        self._last_read: int | None = None
        self._callbacks: list[Callable[[int | None], None]] = []
        self._started = False
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- writing and plain reading
    def get(self) -> int | None:
        return _version(self._redis.get(self.key))

    def set(self, version: int) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key, version).publish(self.channel, version).execute()
        # this process sees its own switch at once (its next request loads it), not only
        # when its subscription hears it back
        self._heard = self._last_read = version

    # -- the per-request view
    def on_switch(self, callback: Callable[[int | None], None]) -> None:
        self._callbacks.append(callback)
        self._start()

    def stamp(self) -> int | None:
        """The active version as this process knows it; no Redis command while subscribed."""
        self._start()
        if self._subscribed.is_set():
            return self._heard
        try:  # the fallback: one GET, never waiting on a server that is down
            self._last_read = _version(self._quick.get(self.key))
        except REDIS_ERRORS:
            pass  # keep what we had: predictions go on with the loaded model
        return self._last_read

    def close(self) -> None:
        """Stop the subscription (its thread ends within a second and closes its connection)."""
        self._stop.set()

    @property
    def subscribed(self) -> bool:
        """Whether the stamp comes from the subscription (no Redis command per request)."""
        return self._subscribed.is_set()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def _start(self) -> None:
        if self._started:
            return
        with self._lock:
            if not self._started:
                threading.Thread(target=self._listen, name="active-pointer", daemon=True).start()
                self._started = True

    def _listen(self) -> None:
        said = False
        while not self._stop.is_set():
            try:
                pubsub = self._quick.pubsub(ignore_subscribe_messages=True)
                try:
                    pubsub.subscribe(self.channel)
                    self._changed(_version(self._quick.get(self.key)))  # what changed while away
                    self._subscribed.set()
                    if said:
                        log.info("subscribed again to the active-version channel")
                        said = False
                    while not self._stop.is_set():
                        message = pubsub.get_message(timeout=1.0)
                        if message is not None and message.get("type") == "message":
                            self._changed(_version(message["data"]))
                finally:
                    self._subscribed.clear()
                    pubsub.close()
            except REDIS_ERRORS as e:
                if not said:
                    log.warning("the active-version subscription is down (%s): each request reads the "
                                "pointer until it is back", e)
                    said = True
                self._stop.wait(RESUBSCRIBE_DELAY)

    def _changed(self, version: int | None) -> None:
        """Run the callbacks (they load the new model), then let requests see the new stamp."""
        for callback in self._callbacks:
            try:
                callback(version)
            except Exception:  # a model that cannot load: the request path says so again
                log.exception("loading the new active version failed")
        # the fallback starts from it too: a subscription that drops leaves the stamp as it
        # was (a changed stamp made every request read the pointer again, through the retries)
        self._heard = self._last_read = version


def close_all() -> None:
    """Stop every pointer of this process: for a process that opens many namespaces and
    cannot reach each of their owners (a test suite's, between tests)."""
    with _SHARED_LOCK:
        pointers = list(_SHARED.values())
        _SHARED.clear()
    for pointer in pointers:
        pointer.close()


def _version(raw: bytes | str | None) -> int | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    return int(text) if text.isdigit() else None


_SHARED: dict[tuple[str, str], ActivePointer] = {}
_SHARED_LOCK = threading.Lock()


def shared(url: str, key: str, make: Callable[[], ActivePointer]) -> ActivePointer:
    """This process's pointer of ``key`` on the Redis at ``url``, made by ``make`` once, and
    again after a close (an app that shut down in a process that goes on)."""
    with _SHARED_LOCK:
        pointer = _SHARED.get((url, key))
        if pointer is None or pointer.closed:
            pointer = _SHARED[(url, key)] = make()
        return pointer
