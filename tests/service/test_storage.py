"""A data directory that cannot be written: read-only or full.

What a write failure means (service.storage), then the real server at start-up on a
read-only bind mount, a full file system or directories it may not write (one line on
stderr, exit status 2).

Root ignores file modes, and these tests run as root here and in CI; nothing is
installed for them, they use util-linux, which the image has:
- ``setpriv`` runs the server without CAP_DAC_OVERRIDE, so that ``chmod a-w`` binds it
  as it binds any other user (a run-time read-only file system cannot be made: the
  kernel refuses to remount one read-only while the service holds files open for writing);
- ``unshare --mount`` gives the server a private mount namespace in which its data
  directory is a read-only bind mount or a small tmpfs, invisible to the rest of the
  machine (a non-root user gets one with ``--user --map-root-user``).
A test whose mechanism is missing or refused skips, saying which.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from service.storage import NO_SPACE, READ_ONLY, StorageUnavailable, storage_error, writing

from .realserver import ROOT, Server, seed_models

NO_OVERRIDE = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
               "--bounding-set=-dac_override,-dac_read_search"]
# sh scripts run in the server's mount namespace before it starts: $0 is the data directory
READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0"'
# ... and $1 the directory whose contents it starts with
TMPFS = 'mount -t tmpfs -o size=4m catsvc "$0" && cp -a "$1/." "$0/" && shift'
FILL = '{ head -c 8M /dev/zero > "$0/filler" 2>/dev/null; true; }'


# -- what a failure means
def test_write_failures_of_files_and_of_sqlite_are_one_error(tmp_path: Path) -> None:
    fd = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    with pytest.raises(OSError) as full:
        os.write(fd, b"x")
    os.close(fd)
    assert storage_error(full.value, tmp_path).kind == NO_SPACE  # type: ignore[union-attr]
    assert storage_error(OSError(errno.EROFS, "Read-only file system"), tmp_path).kind == READ_ONLY  # type: ignore[union-attr]
    assert storage_error(OSError(errno.EACCES, "Permission denied"), tmp_path).kind == READ_ONLY  # type: ignore[union-attr]

    path = tmp_path / "jobs.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(sqlite3.OperationalError) as ro:
        sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("INSERT INTO t VALUES (1)")
    assert storage_error(ro.value, tmp_path).kind == READ_ONLY  # type: ignore[union-attr]
    db = sqlite3.connect(path)
    db.execute("PRAGMA max_page_count = 2")  # as if the disk were full
    with pytest.raises(sqlite3.OperationalError) as disk_full:
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    assert "full" in str(disk_full.value)
    assert storage_error(disk_full.value, tmp_path).kind == NO_SPACE  # type: ignore[union-attr]

    # anything else goes through as it was
    with pytest.raises(FileNotFoundError), writing(tmp_path):
        open(tmp_path / "missing" / "file", "wb")
    with pytest.raises(sqlite3.OperationalError, match="syntax"), writing(tmp_path):
        db.execute("NOT SQL")
    with pytest.raises(StorageUnavailable, match="no space left"), writing(tmp_path):
        raise OSError(errno.ENOSPC, "No space left on device")


# -- the mechanisms
def without_override(tmp_path: Path) -> list[str]:
    """A command prefix under which file modes bind the server (setpriv for root), or skip."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed: root writes to read-only directories without it")
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o555)
    r = subprocess.run([*NO_OVERRIDE, sys.executable, "-c", f"open({str(probe / 'f')!r}, 'w')"],
                       capture_output=True, text=True)
    probe.rmdir()
    if "PermissionError" not in r.stderr:
        pytest.skip(f"setpriv could not take CAP_DAC_OVERRIDE away: {r.stderr.strip()[-200:] or 'a write succeeded'}")
    return NO_OVERRIDE


def in_mount_namespace(script: str, *args: Path) -> list[str]:
    """A command prefix: a private mount namespace, ``script`` (sh) run in it, then the server; or skip."""
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare[1:1] = ["--user", "--map-root-user"]
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    r = subprocess.run([*unshare, "sh", "-c", 'mount -t tmpfs -o size=1m probe "$0"', str(args[0])],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"a private mount namespace is refused here: {r.stderr.strip()[-200:]}")
    return [*unshare, "sh", "-c", f'{script} && exec "$@"', *map(str, args)]


def set_writable(data: Path, writable: bool) -> None:
    """chmod every directory of the data directory: without w, no file is made, renamed or removed there."""
    for d in [data, *(p for p in data.rglob("*") if p.is_dir())]:
        d.chmod(0o755 if writable else 0o555)


# -- at start-up
def read_only_mount(tmp_path: Path) -> tuple[Path, list[str]]:
    data = tmp_path / "data"
    seed_models(data)
    return data, in_mount_namespace(READ_ONLY_MOUNT, data)


def full_file_system(tmp_path: Path) -> tuple[Path, list[str]]:
    data, seed = tmp_path / "data", tmp_path / "seed"
    data.mkdir()
    seed_models(seed)
    return data, in_mount_namespace(f"{TMPFS} && {FILL}", data, seed)


def not_writable(tmp_path: Path) -> tuple[Path, list[str]]:
    data = tmp_path / "data"
    seed_models(data)
    prefix = without_override(tmp_path)
    set_writable(data, False)
    return data, prefix


@pytest.mark.parametrize(("make", "words"), [
    (read_only_mount, "read-only (a read-only file system)"),
    (full_file_system, "no space left"),
    (not_writable, "read-only (permission denied)"),
])
def test_a_start_on_a_read_only_or_full_data_directory_says_so_in_one_line(
    tmp_path: Path, make: Callable[[Path], tuple[Path, list[str]]], words: str
) -> None:
    data, prefix = make(tmp_path)
    server = Server(data, tmp_path / "server.log")
    try:
        proc = subprocess.run([*prefix, sys.executable, "-m", "service"], cwd=ROOT, env=server.env,
                              capture_output=True, text=True, timeout=60)
    finally:
        set_writable(data, True)
    assert proc.returncode == 2, proc.stderr[-2000:]
    [line] = proc.stderr.splitlines()  # one line, no traceback
    record = json.loads(line)
    assert record["level"] == "error" and words in record["msg"], record
    assert record["msg"].startswith("cannot start: the service's data directory ")
    assert record["msg"].endswith(f"; CATSVC_DATA_DIR={data}")
