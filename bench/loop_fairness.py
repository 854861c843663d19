"""Event loops under saturation: asyncio's against uvloop's, on a server that is only that.

    python bench/loop_fairness.py [--duration 5] [--rounds 3] [--work-us 1000]

Where a saturated worker's tail at concurrency 32 comes from. One process serves HTTP
with a bare ``asyncio.Protocol`` (no framework, no parser: it splits the head at its
blank line and skips ``Content-Length`` bytes) that spins for ``--work-us`` on each
request (CPU, as long as nothing preempts it), inside a task, as a saturated API worker
does with a small image; wrk (C) keeps 32 connections busy. Every request waits behind
the same work, so a fair loop answers each in about 32 x the work (Little's law) and its
p99 sits near its median.

Each loop runs twice at concurrency 32: cold, wrk's 32 connections opened at once as the
load starts (wrk's default), and warm, each connection's first request held back until
all are open (bench/wrk/post_file.lua), so that the latencies are those of established
connections. The server notes when it accepted each connection: "last accept" is the
32nd's delay after the first. uvloop's libuv accepts one connection per listening socket
per loop iteration, and under load an iteration serves every connection already open, so
the k-th waits about k^2/2 times the work; its first requests, and the synthetic samples
wrk's latency correction adds for each slow one, make the cold p99. "uvloop x32" listens
on 32 sockets of one SO_REUSEPORT group, as each API worker of the service does
(service/api/server.py): the kernel spreads the connections over them and an iteration
accepts one from each. "deferred" has each request's task yield one turn of the loop
before its work (``await asyncio.sleep(0)``), as the service's protocol does
(service/api/http/protocol.py, ``_run_app``): uvloop reads the sockets while it polls and polls again right after the last
task of a turn answers, before that client's next request is there, so the connection
answered last in a turn waits a whole extra turn; the new tasks' first steps run after
the answers and hold the poll back. The same run with no work at all measures what the loop
itself costs a request (CPU time of the server process per request, from ``/proc``, wrk
at concurrency 8).

The loops alternate round by round, so that a busy moment of a shared machine falls on
both; medians over the rounds are printed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
# (loop, listening sockets, task yielding a turn first): the last is the service's way,
# LISTENERS_PER_WORKER sockets in one SO_REUSEPORT group (service/api/server.py), one
# accepted from each per loop turn, and each request's task yielding one turn before its work
SERVERS = (("asyncio", 1, False), ("uvloop", 1, False), ("uvloop", 32, False), ("uvloop", 32, True))


class BusyProtocol(asyncio.Protocol):
    """Answers each request after ``work`` seconds of CPU, spent in a task."""

    def __init__(self, work: float, deferred: bool) -> None:
        self.work, self.deferred, self.buffer, self.skip = work, deferred, b"", 0

    accepted: list[float] = []  # perf_counter() of each connection_made, in this process

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        BusyProtocol.accepted.append(time.perf_counter())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.skip:  # the body of the request whose head came
                taken = min(self.skip, len(self.buffer))
                self.buffer, self.skip = self.buffer[taken:], self.skip - taken
                if self.skip:
                    return
            head, blank, rest = self.buffer.partition(b"\r\n\r\n")
            if not blank:
                return
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            self.buffer, self.skip = rest, int(length.group(1)) if length else 0
            asyncio.get_running_loop().create_task(self.answer())

    async def answer(self) -> None:
        if self.deferred:  # one turn of the loop first, as the service's protocol does
            await asyncio.sleep(0)
        end = time.perf_counter() + self.work
        while time.perf_counter() < end:  # CPU, holding the loop as decoding an image inline does
            pass
        self.transport.write(RESPONSE)  # type: ignore[attr-defined]  # a TCP transport


def label(loop_name: str, listeners: int, deferred: bool) -> str:
    return loop_name + (f" x{listeners}" if listeners > 1 else "") + (" deferred" if deferred else "")


def serve(loop_name: str, listeners: int, deferred: bool, port: int, work: float, report: str) -> None:
    """Serve until SIGTERM, then write the accept times (ms after the first) to ``report``."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        if listeners == 1:
            servers = [await loop.create_server(lambda: BusyProtocol(work, deferred), "127.0.0.1", port)]
        else:
            servers = []
            for _ in range(listeners):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind(("127.0.0.1", port))
                servers.append(await loop.create_server(lambda: BusyProtocol(work, deferred), sock=sock))
        await stop
        for server in servers:
            server.close()
        times = BusyProtocol.accepted[1:]  # the first is measure()'s probe
        Path(report).write_text(json.dumps([(t - times[0]) * 1e3 for t in times] if times else []))

    if loop_name == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def measure(loop_name: str, listeners: int, deferred: bool, work: float, concurrency: int, duration: int,
            warm: bool) -> dict[str, float]:
    """One server process, one wrk run against it: req/s, p50/p99/max (ms), CPU us/request,
    and the last connection's accept after the first (ms)."""
    from bench.serve_bench import free_port, run_wrk  # here: the --serve process stays a bare loop

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "accepted.json"
        proc = subprocess.Popen([sys.executable, __file__, "--serve", loop_name, str(listeners), str(int(deferred)),
                                 str(port), str(work), str(report)])
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit(f"the {loop_name} server did not start")
                    time.sleep(0.05)
            before = cpu_seconds(proc.pid)
            r = run_wrk(f"http://127.0.0.1:{port}/", None, concurrency, duration, warm=warm)
            cpu = cpu_seconds(proc.pid) - before
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        accepted = json.loads(report.read_text()) if report.exists() else []
    if r["socket_errors"] or r["non_2xx"]:  # a request that timed out or failed would be missing from the latencies
        raise SystemExit(f"wrk against the {loop_name} server: socket errors {r['socket_errors'] or 0}, "
                         f"non-2xx {r['non_2xx']}")
    return {"rps": r["rps"], "p50": r["p50_ms"], "p99": r["p99_ms"], "max": r["max_ms"],
            "cpu_us": cpu / max(r["requests"], 1) * 1e6, "last_accept": max(accepted, default=0.0),
            "steal_pct": r["steal_pct"]}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), bool(int(sys.argv[4])), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, the loops alternating (default 3)")
    ap.add_argument("--work-us", type=float, default=1000, help="CPU per request in the saturated runs (default 1000)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's bench package
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    plan = (("cold", args.work_us * 1e-6, 32, False), ("warm", args.work_us * 1e-6, 32, True), ("bare", 0.0, 8, False))
    for r in range(args.rounds):
        for server in SERVERS if r % 2 == 0 else SERVERS[::-1]:
            for kind, work, concurrency, warm in plan:
                result = measure(*server, work, concurrency, args.duration, warm)
                runs.setdefault((label(*server), kind), []).append(result)
                print(f"round {r + 1} {label(*server):<19} {kind:<5} c={concurrency:<3} "
                      f"{result['rps']:>8.0f} req/s  "
                      f"p50 {result['p50']:>7.2f}  p99 {result['p99']:>7.2f}  max {result['max']:>7.2f} ms  "
                      f"last accept {result['last_accept']:>6.1f} ms  cpu {result['cpu_us']:>6.1f} us/req  "
                      f"steal {result['steal_pct']:>4.1f}%", flush=True)

    def median(loop_name: str, kind: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[(loop_name, kind)])

    print(f"\nmedians over {args.rounds} rounds; saturated: {args.work_us:g} us of CPU a request, 32 connections")
    print("| loop | connections | req/s | p50 | p99 | max | last accept | CPU per request with no work (c=8) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for loop_name in (label(*server) for server in SERVERS):
        for kind in ("cold", "warm"):
            print(f"| {loop_name} | {kind} | {median(loop_name, kind, 'rps'):.0f} | {median(loop_name, kind, 'p50'):.1f} ms"
                  f" | {median(loop_name, kind, 'p99'):.1f} ms | {median(loop_name, kind, 'max'):.1f} ms"
                  f" | {median(loop_name, kind, 'last_accept'):.0f} ms"
                  f" | {median(loop_name, 'bare', 'cpu_us'):.1f} us |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
