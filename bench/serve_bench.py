"""Requests per second and latency of POST /predict, driven by wrk (Debian's `wrk`).

    python bench/serve_bench.py [--data ../shared/datasets] [--duration 10]

Starts `python -m service` on a free 127.0.0.1 port with a temporary data directory
(or measures --url), waits until it is ready, then runs wrk against /predict with one
64x64 PNG, one 500x375 JPEG and one JSON instance per request at concurrency 1, 8 and
32; a 64-image batch; and the single PNG again while a training job runs. wrk is C,
so the load generator does not eat the cores it measures as a Python client would
(it still takes some: the table says how many threads it had).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "post_file.lua"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_images(data_dir: Path | None) -> tuple[np.ndarray, str]:
    """A 64x64x3 picture: the course's first test image if present, else a drawing."""
    if data_dir and (data_dir / "test_catvnoncat.h5").is_file():
        import h5py

        with h5py.File(data_dir / "test_catvnoncat.h5", "r") as f:
            return f["test_set_x"][0], "the course's test image 0"
    from service.state.synthetic import make_synthetic  # type: ignore[attr-defined]

    X, _ = make_synthetic(4, seed=0)
    return X[:, 0].reshape(64, 64, 3), "a synthetic drawing"


def multipart(files: list[tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, data, ctype in files:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                  f"Content-Type: {ctype}\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def bodies(img: np.ndarray, workdir: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (body file, content type, description)."""
    png = io.BytesIO()
    Image.fromarray(img).save(png, "PNG")
    jpg = io.BytesIO()
    # a photo-sized JPEG, as a user's camera or browser sends it
    Image.fromarray(img).resize((500, 375), Image.Resampling.BICUBIC).save(jpg, "JPEG", quality=90)
    out: dict[str, tuple[Path, str, str]] = {}

    def put(name: str, body: bytes, ctype: str, what: str) -> None:
        path = workdir / f"{name}.body"
        path.write_bytes(body)
        out[name] = (path, ctype, what)

    put("png", *multipart([("cat.png", png.getvalue(), "image/png")]), f"one 64x64 PNG ({len(png.getvalue())} B)")
    put("jpeg", *multipart([("cat.jpg", jpg.getvalue(), "image/jpeg")]),
        f"one 500x375 JPEG ({len(jpg.getvalue())} B)")
    put("json", json.dumps({"instances": [img.reshape(-1).tolist()]}).encode(), "application/json",
        "one JSON instance (12288 numbers)")
    put("batch64", *multipart([(f"{i}.png", png.getvalue(), "image/png") for i in range(64)]),
        "64 PNGs in one request")
    return out


def run_wrk(url: str, body: Path, ctype: str, concurrency: int, duration: float, token: str) -> dict:
    threads = max(1, min(concurrency, 2))
    env = dict(os.environ, BENCH_BODY=str(body), BENCH_CTYPE=ctype, BENCH_TOKEN=token)
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s",
           "-s", str(LUA), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: _ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1)) for p in ("50", "99")}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "threads": threads,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


class Server:
    """python -m service on a free port with a temporary data directory."""

    def __init__(self, data: Path | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="serve-bench-"))
        self.port = free_port()
        env = dict(os.environ, CATSVC_PORT=str(self.port), CATSVC_DATA_DIR=str(self.dir / "var"),
                   CATSVC_LOG_LEVEL="warning")
        if data is not None:
            env["CATSVC_DATASETS_DIR"] = str(data)
        self.proc = subprocess.Popen([sys.executable, "-m", "service"], env=env, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_ready(url: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/health/ready", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} was not ready after {timeout} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=os.environ.get("CATVNONCAT_DATA"),
                    help="the course's data directory (default: $CATVNONCAT_DATA); the first model trains on it")
    ap.add_argument("--url", help="measure a running service instead of starting one")
    ap.add_argument("--token", default=os.environ.get("CATSVC_PREDICT_TOKEN", ""), help="prediction token, if any")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--cases", default="png,jpeg,json,batch,training",
                    help="which rows to run (default: all of png,jpeg,json,batch,training)")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    ap.add_argument("--recipes", default="",
                    help="comma-separated recipes (photos,course): train each in turn, make it active and "
                         "run the png/jpeg/json rows on it (default: only the first model)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    data = Path(args.data) if args.data else None
    server = None if args.url else Server(data)
    url = args.url or server.url
    results: list[dict] = []
    try:
        ready = wait_ready(url)
        img, what = sample_images(data)
        work = Path(tempfile.mkdtemp(prefix="serve-bench-bodies-"))
        cases = bodies(img, work)
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        print(f"model version {ready.get('version')} ({ready}); picture: {what}; {os.cpu_count()} cores; "
              f"wrk {args.duration:g} s per row", flush=True)
        levels = [int(c) for c in args.concurrency.split(",")]
        wanted = set(args.cases.split(","))
        for name in ("png", "jpeg", "json"):
            for c in levels if name in wanted else []:
                body, ctype, desc = cases[name]
                r = run_wrk(f"{url}/predict", body, ctype, c, args.duration, args.token)
                results.append({"case": desc, "concurrency": c, "per_request": 1, **r})
                _row(results[-1])
        for name in [r for r in args.recipes.split(",") if r]:
            version = _activate_recipe(url, name, headers)
            for case in ("png", "jpeg", "json"):
                for c in levels if case in wanted else []:
                    body, ctype, desc = cases[case]
                    r = run_wrk(f"{url}/predict", body, ctype, c, args.duration, args.token)
                    results.append({"case": f"{desc}, {name} (v{version})", "concurrency": c, "per_request": 1, **r})
                    _row(results[-1])
        if "batch" in wanted:
            body, ctype, desc = cases["batch64"]
            r = run_wrk(f"{url}/predict", body, ctype, 8, args.duration, args.token)
            results.append({"case": desc, "concurrency": 8, "per_request": 64, **r})
            _row(results[-1])
        if "training" in wanted:
            _while_training(url, cases, headers, results, args)
        if args.json:
            print(json.dumps(results))
    finally:
        if server:
            server.stop()
    return 0


def _while_training(url: str, cases: dict, headers: dict, results: list[dict], args: argparse.Namespace) -> None:
    """The single PNG again while the trainer runs a long job (Adam, mini-batches)."""
    job = httpx.post(f"{url}/train", json={"optimizer": "adam", "learning_rate": 0.001, "epochs": 100000,
                                            "batch_size": 64, "activate": False},
                     headers=headers, timeout=30)
    job.raise_for_status()
    job_url = url + job.headers["location"]
    for _ in range(200):
        if httpx.get(job_url, headers=headers, timeout=5).json()["status"] == "running":
            break
        time.sleep(0.1)
    body, ctype, desc = cases["png"]
    r = run_wrk(f"{url}/predict", body, ctype, 8, args.duration, args.token)
    state = httpx.get(job_url, headers=headers, timeout=5).json()["status"]
    httpx.delete(job_url, headers=headers, timeout=10)
    results.append({"case": desc + f" while a job trains ({state})", "concurrency": 8, "per_request": 1, **r})
    _row(results[-1])
    base = next((x for x in results if x["case"] == desc and x["concurrency"] == 8), None)
    if base:
        print(f"\nwhile training: {results[-1]['rps'] / base['rps']:.2f}x the idle rate")


def _activate_recipe(url: str, name: str, headers: dict) -> int:
    """Train ``name`` on the default data set, activated; its version once it answers."""
    job = httpx.post(f"{url}/train", json={"recipe": name}, headers=headers, timeout=30)
    job.raise_for_status()
    job_url = url + job.headers["location"]
    for _ in range(3000):
        state = httpx.get(job_url, headers=headers, timeout=5).json()
        if state["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    if state["status"] != "succeeded":
        raise SystemExit(f"the {name} job ended {state['status']}: {state.get('message')}")
    time.sleep(1.5)  # every worker sees the new pointer at its next request
    return int(state["model_version"])


def _row(r: dict) -> None:
    items = r["rps"] * r["per_request"]
    bad = f"  non-2xx {r['non_2xx']}" if r["non_2xx"] else ""
    bad += f"  socket errors {r['socket_errors']}" if r["socket_errors"] else ""
    print(f"{r['case']:<52} c={r['concurrency']:<3} {r['rps']:>8.0f} req/s {items:>8.0f} images/s  "
          f"p50 {r['p50_ms']:>6.2f} ms  p99 {r['p99_ms']:>6.2f} ms{bad}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
