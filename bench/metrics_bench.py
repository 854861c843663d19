"""What counting costs the hot path: PNG predictions per second with metrics on and off.

    python bench/metrics_bench.py [--duration 5] [--rounds 6] [--workers 1]

Starts two services side by side on free 127.0.0.1 ports, the same model (the course's
4-layer net, as bench/serve_bench.py makes it) and settings, except ``CATSVC_METRICS``:
``true`` on one, ``false`` on the other. Then, in rounds whose order alternates (on, off,
off, on, ...) so that a busy moment of the shared machine falls on both, wrk at
concurrency 8 posts one 64x64 PNG per request to each. It prints every run, then the
medians: requests/s and the CPU time the service's processes spent per request, on and
off, and their ratios (the issue's bar: counting costs under 5%). Before the load it
also times, in this process, what one one-PNG /predict counts (a request, a decode, a
forward pass: six writes), in microseconds. At the end it scrapes the metrics service's
/metrics and prints how many PNG predictions it counted, against wrk's total.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's service and model_core

from bench.serve_bench import (  # noqa: E402  (after the path is set)
    Server,
    bodies,
    course_parameters,
    run_wrk,
    sample_image,
    seed_service,
)


def counting_cost(repeat: int = 20000) -> float:
    """Microseconds of what one one-PNG /predict counts, measured in this process."""
    from service.settings import Settings
    from service.state import metrics

    with tempfile.TemporaryDirectory() as tmp:
        metrics.start(Settings(data_dir=Path(tmp), metrics=True))
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(repeat):
                metrics.request("/predict", "POST", 200, 0.0003)
                metrics.decoded(0.0001)
                metrics.forward(1, "native", 1, 1, 0.00006)
            best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    ap.add_argument("--rounds", type=int, default=6, help="rounds, each one run on and one off (default 6)")
    ap.add_argument("--workers", type=int, default=1, help="API workers of each service (default 1)")
    ap.add_argument("--concurrency", type=int, default=8, help="wrk connections (default 8)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="metrics-bench-"))
    img, what = sample_image(None)
    png = bodies(img, work)["png"]
    parameters, how = course_parameters(None)
    npz = work / "params.npz"
    np.savez(npz, **parameters)
    base = {k: v for k, v in os.environ.items() if not k.startswith("CATSVC_")}
    apps: dict[str, Server] = {}
    for name, on in (("on", "true"), ("off", "false")):
        data_dir = work / name / "var"
        seed_service(data_dir, npz)
        env = dict(base, CATSVC_DATA_DIR=str(data_dir), CATSVC_DATASETS_DIR=str(work / "no-datasets"),
                   CATSVC_WORKERS=str(args.workers), CATSVC_METRICS=on)
        apps[name] = Server(f"metrics {name}", [sys.executable, "-m", "service"], env, {"png": "/predict"},
                            work / f"{name}.log")
    try:
        for server in apps.values():
            server.start()
        for server in apps.values():
            server.wait_ready()
        print(f"counting one one-PNG /predict in-process: {counting_cost():.2f} us", flush=True)
        print(f"{os.cpu_count()} cores; {args.workers} API worker(s) each; the course's 4-layer net, {how}; "
              f"{png.what} of {what}; wrk c{args.concurrency}, {args.duration:g} s a run, {args.rounds} rounds",
              flush=True)
        for server in apps.values():  # warm up: the model loads, the forward pass is measured
            run_wrk(server.url + "/predict", png, args.concurrency, 1)
        runs: dict[str, list[dict]] = {"on": [], "off": []}
        total_on = 0
        for r in range(args.rounds):
            for name in (("on", "off") if r % 2 == 0 else ("off", "on")):
                result = run_wrk(apps[name].url + "/predict", png, args.concurrency, args.duration, server=apps[name])
                runs[name].append(result)
                if name == "on":
                    total_on += round(result["rps"] * max(1, round(args.duration)))
                print(f"round {r + 1} metrics {name:3}: {result['rps']:8.0f} req/s  "
                      f"{result['cpu_us']:6.0f} us CPU/request  p99 {result['p99_ms']:.2f} ms  "
                      f"non-2xx {result['non_2xx']}", flush=True)
        med = {name: {k: statistics.median(x[k] for x in runs[name]) for k in ("rps", "cpu_us")} for name in runs}
        print(f"median req/s: on {med['on']['rps']:.0f}, off {med['off']['rps']:.0f}, "
              f"on/off {med['on']['rps'] / med['off']['rps']:.3f}")
        print(f"median CPU us/request: on {med['on']['cpu_us']:.0f}, off {med['off']['cpu_us']:.0f}, "
              f"on/off {med['on']['cpu_us'] / med['off']['cpu_us']:.3f}")
        text = httpx.get(apps["on"].url + "/metrics", timeout=10).text
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                      if line.startswith("catsvc_http_request_duration_seconds_count{")
                      and 'route="/predict"' in line and 'status="200"' in line)
        print(f"the metrics service counted {counted:.0f} POST /predict 200 (wrk's runs, warm-up included: "
              f"about {total_on} + the warm-up's)")
    finally:
        for server in apps.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
