"""SIGTERM to the real server: readiness 503 at once, requests in flight finish, the
running job is recorded cancelled (shutdown), nothing half-written stays behind."""
from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from service.api.errors import Code

from .conftest import image_bytes
from .realserver import Server, queue_of, seed_models, store_of, wait_until
from .test_slow_clients import parse, read_to_eof

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

LONG_JOB = {"dataset": "synthetic", "layer_dims": [12288, 4, 1], "iterations": 10_000_000}


def multipart(data: bytes) -> tuple[bytes, bytes]:
    """(head, body) of a POST /predict with one image part."""
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in-flight.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + data + b"\r\n--b--\r\n")
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head, body


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_drains_finishes_requests_in_flight_and_cancels_the_job(tmp_path: Path) -> None:
    data = tmp_path / "data"
    version = seed_models(data)[0]
    server = Server(data, tmp_path / "server.log", shutdown_drain=3, shutdown_timeout=5)
    with server:
        with server.client() as client:
            r = client.post("/train", json=LONG_JOB)
            assert r.status_code == 202, r.text
            job_id, train_request_id = r.json()["id"], r.headers["x-request-id"]
            wait_until(lambda: client.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, 60,
                       "the job to run")

        # a prediction in flight: headers and half the body sent
        head, body = multipart(image_bytes("PNG", size=(200, 150)))
        in_flight = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        in_flight.sendall(head + body[: len(body) // 2])
        # an upload that will never finish: its temporary file is on disk
        upload = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        upload.sendall(b"POST /datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                       b"boundary=b\r\nContent-Length: 10000000\r\n\r\n"
                       b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.h5\"\r\n\r\n"
                       + b"\0" * 300_000)
        wait_until(lambda: list((data / "tmp").glob("upload-*")), 30, "the upload's temporary file")

        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        with server.client() as client:
            ready = wait_until(lambda: (r := client.get("/health/ready")).status_code == 503 and r, 10,
                               "readiness to turn 503")
            assert ready.json()["code"] == Code.SHUTTING_DOWN
            assert client.get("/health/live").status_code == 200  # still serving during the drain
        wait_until(lambda: refused(server.port), 30, "the server to stop accepting connections")

        # the request in flight is answered although the server no longer accepts new ones
        in_flight.sendall(body[len(body) // 2:])
        status, _, answer = parse(read_to_eof(in_flight))
        in_flight.close()
        assert status == 200, answer
        assert answer["version"] == version
        assert answer["predictions"][0]["filename"] == "in-flight.png"

        assert server.proc.wait(timeout=60) == 0
        upload.close()

    job = queue_of(data).get(job_id)
    assert (job.status, job.reason, job.model_version) == ("cancelled", "shutdown", None)
    # nothing half-written: no upload remains, no staging directory, no stopping mark
    assert list((data / "tmp").iterdir()) == []
    assert not list((data / "models").glob(".tmp-*")) and not list((data / "datasets").glob(".tmp-*"))
    assert store_of(data).versions() == [version]  # the one seeded: the job wrote none

    lines = server.log_lines()
    transitions = [(line["status"], line["request_id"]) for line in lines if line.get("job_id") == job_id]
    assert transitions == [("queued", train_request_id), ("running", train_request_id),
                           ("cancelled", train_request_id)]
    messages = [line["msg"] for line in lines]
    assert any(m.startswith("no CATSVC_ADMIN_TOKEN") for m in messages)
    assert any(m.startswith("no CATSVC_PREDICT_TOKEN") for m in messages)
    assert any(m.startswith("stopping") for m in messages) and messages[-1] == "stopped"


def test_a_second_signal_skips_the_drain(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    server = Server(data, tmp_path / "server.log", shutdown_drain=300, workers=1)
    with server:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        with server.client() as client:
            wait_until(lambda: client.get("/health/ready").status_code == 503, 10, "readiness to turn 503")
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=60) == 0
