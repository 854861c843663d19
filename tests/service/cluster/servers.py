"""The real servers of cluster mode on free loopback ports: Debian's ``redis-server``
(append-only file on, in its own temporary directory) and moto's S3 server mode."""
from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import boto3
import pytest
import redis

from ..realserver import free_port

BUCKET = "catvnoncat"
KEY, SECRET = "testing-key", "testing-secret"


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
        self.directory.mkdir(parents=True, exist_ok=True)
        # appendfsync always: an acknowledged write is on disk, so even kill -9 loses nothing
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=open(self.directory / "redis.log", "ab"), stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    pytest.fail("redis-server did not start: " + (self.directory / "redis.log").read_text()[-2000:])
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: redis-server writes its append-only file and exits; SIGKILL: it just dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class S3Server:
    """moto's S3 server, in a thread of the test process (its buckets live as long as it)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> S3Server:
        self._server.start()
        self.client().create_bucket(Bucket=BUCKET)
        return self

    def stop(self) -> None:
        self._server.stop()

    def restart(self) -> None:
        """Up again on the same port, with the same objects (moto keeps them in this process)."""
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def client(self) -> object:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=KEY, aws_secret_access_key=SECRET)
