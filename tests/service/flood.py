"""An attacker for tests/service/test_connections.py, in its own process (so that its
busy loop does not share the test's interpreter): it holds ``--sockets`` connections
that never send a byte, from loopback addresses 127.0.0.2 and up (``--per-address``
each, so each address stays under the per-client cap and only the idle-connection
policy can help), and re-opens at once every one the server closes, as an attacker
would.

``python -m tests.service.flood --port P --sockets 5000 --per-address 50 --seconds 60``
prints one JSON line when every socket has been opened once (``{"ready": ..., "connected":
n}``), then one when it stops (at ``--seconds``, or when its stdin closes):
``{"connected": n, "cut": n, "failed": n}``: sockets connected at that moment, ones the
server closed (re-opened each time) and re-opens that failed at once.
"""
from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import resource
import selectors
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux: port chosen at connect


def open_one(sel: selectors.BaseSelector, source: str, port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)  # else bind() picks ports blind
    sock.bind((source, 0))
    sock.setblocking(False)
    code = sock.connect_ex(("127.0.0.1", port))
    if code not in (0, errno.EINPROGRESS):
        sock.close()
        return False
    sel.register(sock, selectors.EVENT_READ, source)  # readable: closed by the server, or failed
    return True


def connected(sel: selectors.BaseSelector) -> int:
    count = 0
    for key in list(sel.get_map().values()):
        if key.fileobj is sys.stdin:
            continue
        try:
            key.fileobj.getpeername()  # type: ignore[union-attr]
            count += 1
        except OSError:
            pass
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--per-address", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    first = ipaddress.IPv4Address("127.0.0.2")
    sources = [str(first + i // args.per_address) for i in range(args.sockets)]
    sel = selectors.DefaultSelector()
    failed = sum(not open_one(sel, source, args.port) for source in sources)
    print(json.dumps({"ready": True, "connected": connected(sel), "failed": failed}), flush=True)
    sel.register(sys.stdin, selectors.EVENT_READ, None)  # a pipe from the test
    cut, deadline = 0, time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            if key.fileobj is sys.stdin:  # the test is done (stdin closed)
                deadline = 0.0
                continue
            sock = key.fileobj
            sel.unregister(sock)
            sock.close()  # type: ignore[union-attr]  # whatever it got (nothing, a 429, a 503): reconnect
            cut += 1
            failed += not open_one(sel, key.data, args.port)
    print(json.dumps({"connected": connected(sel), "cut": cut, "failed": failed}), flush=True)


if __name__ == "__main__":
    main()
