"""Where a process's metric values live: files in prometheus-client's multiprocess format,
whose blocks are allocated before they are mapped.

prometheus-client's own value class (``MultiProcessValue``) maps a sparse file (it only
``truncate``s it to size): the first write to a page then needs a new block, and on a
full disk the kernel answers that write with SIGBUS, which kills the worker. Here every
file's blocks are reserved (``posix_fallocate``) before the pages are mapped, so a full
disk shows as an ``OSError`` when a file is made or grows, never as a signal: the series
that did not fit is kept in memory only (and not exported), with one warning in the log.

:class:`FileValue` is the value class prometheus-client's metric classes are given (its
``values.ValueClass`` seam); the scrape reads the files with prometheus-client's own
``MultiProcessCollector``. One lock per process guards the values: the prediction threads
count too. A value is one double in the mapped file, added to in place (8 aligned bytes,
one store: a scrape never reads half of one). The files are named ``<type>_<pid>.db`` as prometheus-client names them; the job
processes the trainer forks never count (their parent does), so a pid is one process.
"""
from __future__ import annotations

import errno
import logging
import mmap
import os
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import values
from prometheus_client.mmap_dict import mmap_key

log = logging.getLogger("service.metrics")

if TYPE_CHECKING:
    Doubles = memoryview[float]  # a mapping cast("d"): one double per index


INITIAL_BYTES = 1 << 16  # prometheus-client's initial size too; doubled as a file fills
_HEADER = struct.Struct("i")

lock = threading.Lock()  # every value of the process
_directory: Path | None = None
_files: dict[str, MetricsFile | None] = {}  # None: could not be made (full disk), not tried again
_values: list[FileValue] = []


def _allocate(fd: int, size: int) -> None:
    """Give the file ``size`` bytes of real blocks; OSError (ENOSPC ...) if the disk cannot."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        have = os.fstat(fd).st_size  # a file system without fallocate: zeros written are blocks too
        if have < size:
            os.pwrite(fd, bytes(size - have), have)


class MetricsFile:
    """One process's values of one metric type: ``used`` (int32) and 4 bytes of padding, then
    entries of a key's length (int32), the key (UTF-8, padded to 8 bytes) and two doubles
    (value, timestamp), each at a multiple of 8 bytes: :attr:`view` indexes them as doubles."""

    def __init__(self, path: Path) -> None:
        # made under another name and renamed once whole: a scrape never reads an empty file
        # (prometheus-client's reader fails on one), and a failed one is never seen
        partial = path.with_name(f".{path.name}.partial")
        self._fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _allocate(self._fd, INITIAL_BYTES)
            self._m = mmap.mmap(self._fd, INITIAL_BYTES)
            self._m[0:4] = _HEADER.pack(8)
            os.rename(partial, path)
        except OSError:
            os.close(self._fd)
            partial.unlink(missing_ok=True)
            raise
        self._capacity = INITIAL_BYTES
        # every mapping stays open: values keep the view of the one they were added in (the
        # mappings share the file's pages), so a hot path never looks its place up again
        self._maps = [self._m]
        self.view: Doubles = memoryview(self._m).cast("d")
        self._used = 8
        self._positions: dict[str, int] = {}
        self._full = False

    def slot(self, key: str) -> tuple[Doubles, int] | None:
        """Where ``key``'s value is, as (view, index of the value; the timestamp is next), added
        if new; None if the file cannot grow for it."""
        pos = self._positions.get(key)
        if pos is None:
            encoded = key.encode("utf-8")
            padded = encoded + b" " * (8 - (len(encoded) + 4) % 8)  # as prometheus-client reads it
            entry = struct.pack(f"i{len(padded)}sdd", len(encoded), padded, 0.0, 0.0)
            if self._used + len(entry) > self._capacity and not self._grow(self._used + len(entry)):
                return None
            self._m[self._used:self._used + len(entry)] = entry
            self._used += len(entry)
            self._m[0:4] = _HEADER.pack(self._used)  # after the entry: a reader never sees half of one
            pos = self._positions[key] = self._used - 16
        return self.view, pos // 8

    def _grow(self, needed: int) -> bool:
        capacity = self._capacity
        while capacity < needed:
            capacity *= 2
        try:
            _allocate(self._fd, capacity)
        except OSError as e:
            if not self._full:
                log.warning("metrics: cannot grow a metrics file (%s): new series are counted in memory only, "
                            "not exported (CATSVC_METRICS_DIR)", e.strerror)
            self._full = True
            return False
        self._m = mmap.mmap(self._fd, capacity)
        self._maps.append(self._m)
        self.view = memoryview(self._m).cast("d")
        self._capacity = capacity
        return True


def _file(kind: str) -> MetricsFile | None:
    if kind not in _files:
        assert _directory is not None
        try:
            _files[kind] = MetricsFile(_directory / f"{kind}_{os.getpid()}.db")
        except OSError as e:
            log.warning("metrics: cannot make a metrics file in %s (%s): this process's %s metrics are "
                        "not exported", _directory, e.strerror, kind)
            _files[kind] = None
    return _files[kind]


def _memory() -> Doubles:
    """A place for a value that no file holds: [value, timestamp]."""
    return memoryview(bytearray(16)).cast("d")


class FileValue:
    """A metric's value (prometheus-client's value interface), kept in this process's file of
    its type: ``view[index]`` is the value, ``view[index + 1]`` its timestamp. The hot path
    (:mod:`.families`) adds to ``view[index]`` itself, under :data:`lock`."""

    _multiprocess = True

    def __init__(self, typ: str, metric_name: str, name: str, labelnames: Any, labelvalues: Any, help_text: str,
                 multiprocess_mode: str = "", **_: Any) -> None:
        self._kind = f"gauge_{multiprocess_mode}" if typ == "gauge" else typ
        self._key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
        self.view: Doubles = _memory()
        self.index = 0
        with lock:
            _values.append(self)
            if _directory is not None:
                self._bind()

    def _bind(self) -> None:
        """Move the value into its file, if one can hold it (the lock held)."""
        file = _file(self._kind)
        slot = file.slot(self._key) if file is not None else None
        if slot is not None:
            view, index = slot
            view[index], view[index + 1] = self.view[self.index], self.view[self.index + 1]
            self.view, self.index = slot

    def inc(self, amount: float) -> None:
        with lock:
            self.view[self.index] += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        with lock:
            self.view[self.index + 1] = timestamp or 0.0  # the timestamp first: a scrape that sees the
            self.view[self.index] = value  # value sees its time ("mostrecent" gauges compare them)

    def get(self) -> float:
        return float(self.view[self.index])

    def set_exemplar(self, exemplar: Any) -> None:
        return None  # the multiprocess format has no exemplars

    def get_exemplar(self) -> None:
        return None


def write_to(directory: Path) -> None:
    """From now on this process's values go to files in ``directory`` (those made before too)."""
    global _directory
    with lock:
        if directory != _directory:
            _files.clear()  # another directory (tests make several apps in one process): new files
        _directory = directory
        for value in _values:
            value._bind()


# every metric made from now on, in this process, gets a FileValue (prometheus-client's
# metric classes read this attribute when they make a value)
values.ValueClass = FileValue  # the seam prometheus-client gives for this
