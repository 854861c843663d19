"""A cluster on one machine: API replicas (``python -m service api``) and trainers
(``python -m service trainer``), each its own process group and its own empty data
directory, sharing only the Redis and the S3 server of tests/service/cluster/servers.py."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ..realserver import Server, wait_until

FINISHED = ("succeeded", "failed", "cancelled")


class Cluster:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.apis: list[Server] = []
        self.trainers: list[Server] = []

    def _node(self, role: str, **settings: Any) -> Server:
        n = len(self.apis) + len(self.trainers) + 1
        data = self.root / f"{role}{n}" / "data"  # its own, empty: nothing on a shared disk
        data.parent.mkdir(parents=True)
        return Server(data, self.root / f"{role}{n}.log", args=[role], WORKERS=1, **self.env, **settings)

    def api(self, ready: bool = True, **settings: Any) -> Server:
        server = self._node("api", **settings)
        self.apis.append(server)
        return server.start(ready=ready)

    def trainer(self, **settings: Any) -> Server:
        server = self._node("trainer", **settings)
        self.trainers.append(server)
        return server.launch()

    def stop(self) -> None:
        for server in [*self.apis, *self.trainers]:
            server.kill()

    def ran(self, job_id: str) -> list[Server]:
        """The trainers whose log says they ran ``job_id`` (its "running" line)."""
        return [t for t in self.trainers if any(
            line.get("job_id") == job_id and line.get("status") == "running" for line in t.log_lines())]


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = client.get(f"/train/{job_id}").json()
        return job if job["status"] in FINISHED else None

    return wait_until(done, timeout, f"job {job_id} to finish", interval=0.1)
