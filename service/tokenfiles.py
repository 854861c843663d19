"""Tokens kept in files (Docker and Kubernetes secrets), so that they need not sit in the
environment, where ``docker inspect`` and every child process can read them.

:func:`read_token_file` reads the token of ``CATSVC_<KIND>_TOKEN_FILE`` at start-up. It
never puts the token in a message; the path may be named.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MAX_TOKEN_FILE_BYTES = 4096  # far more than any token; a larger file is the wrong file


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

