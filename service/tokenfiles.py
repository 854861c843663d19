"""Tokens kept in files (Docker and Kubernetes secrets), so that they need not sit in the
environment, where ``docker inspect`` and every child process can read them.

* :func:`read_token_file`: the token of ``CATSVC_<KIND>_TOKEN_FILE``, read at start-up.
* :func:`create_token_file`: the admin token that ``CATSVC_GENERATE_ADMIN_TOKEN`` makes at
  a first start (compose's quick start), readable by the service's user only.

Neither ever puts the token in a message or a log line; the path may be named.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

MAX_TOKEN_FILE_BYTES = 4096  # far more than any token; a larger file is the wrong file
GENERATED_TOKEN_BYTES = 32  # 64 hex characters, what `openssl rand -hex 32` makes


@dataclass(frozen=True)
class TokenFile:
    """A token file's path and the token it held at start-up; its repr shows the path only."""

    path: Path
    token: str = field(repr=False)


def read_token_file(path: Path) -> str:
    """The file's text without its trailing newline; ValueError saying what is wrong with the
    file (never its content)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as e:
        raise ValueError(f"cannot read the file {path} ({e.strerror or type(e).__name__})") from None
    if len(data) > MAX_TOKEN_FILE_BYTES:
        raise ValueError(f"the file {path} holds more than {MAX_TOKEN_FILE_BYTES} bytes: not a token file")
    try:
        # `echo token > file` and editors end the file with a newline; it is not part of the token
        token = data.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"the file {path} holds non-ASCII bytes; a token is printable ASCII") from None
    if not token:
        raise ValueError(f"the file {path} is empty; put the token in it (e.g. `openssl rand -hex 32 > {path}`)")
    return token


def create_token_file(path: Path) -> bool:
    """Write a new random token to ``path`` (mode 0600) unless the file exists; True if made.

    Written under another name and hard-linked into place: a crash leaves no half-written
    token, and of two services starting at once the second keeps the first one's token.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(GENERATED_TOKEN_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)
