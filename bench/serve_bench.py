"""POST /predict per core: the service against the tutorial app, side by side, driven by wrk.

    python bench/serve_bench.py [--data ../shared/datasets] [--duration 5] [--rounds 3] [--no-pin]

Writes one parameter file of the course's 4-layer net (``layer_dims`` [12288, 20, 7, 5, 1],
trained for the course's 2500 iterations when ``--data`` holds the course's files, else
its random initialization: the speed does not depend on the values), then starts, each
on a free 127.0.0.1 port with that model:

* the service, one API worker (``CATSVC_WORKERS=1``), its settings otherwise default;
* the service with its default workers (one per core);
* the service, one API worker on asyncio's event loop (``CATSVC_EVENT_LOOP=asyncio``): the
  tail at concurrency 32 and the CPU per PNG against the default, uvloop's;
* the tutorial app (:mod:`bench.tutorial_app`: ``UploadFile`` + Pillow + NumPy), one
  uvicorn worker, uvicorn's defaults;

and, unless ``--no-pin``, a copy of each one-worker app (``service@1``, ``service_asyncio@1``,
``tutorial@1``) pinned to one core (the last, by ``taskset``: every process it starts
inherits the affinity), driven by a wrk pinned to the other cores, each pinned run right
after its unpinned twin: "per core" as the words
say, each server on a core of its own, neither the load generator nor the other app's
threads on it (unpinned, the tutorial app's thread pool spills onto the second core and
wrk takes turns on the worker's).

Every server's log goes to a file. Then, in rounds (the kinds and apps interleaved, so
that a busy moment of the shared machine falls on all of them), wrk at concurrency 8
with one 64x64 PNG, one 500x375 JPEG and one JSON instance (12288 ints) per request,
and the PNG at concurrency 32 for the tail, twice: on established connections (warm:
every connection open before the load starts) and cold (wrk's 32 connections opened as
it starts, which a uvloop worker accepts one per listening socket and turn of its loop,
hence the service's 32 sockets a worker: README, "The event loop"). It prints
each run with the hypervisor's steal during it, then the medians over the rounds, pinned
and unpinned: req/s for both apps and their ratio, CPU time per request, p99 at c32; the
default workers against one (both unpinned: the default's workers take both cores),
the median steal, and the compute limit per request (decode + forward in this
process, one BLAS thread: the most requests/s one core could answer if HTTP cost
nothing), beside what decoding and the forward pass took inside the service's worker
(its own histograms, ``catsvc_image_decode_seconds`` and ``catsvc_inference_seconds``,
per request). ``--extras`` adds the old table's rows (c1, a 64-image batch, PNGs while a
job trains) on the default-workers service; ``--recipes`` trains and measures those.
wrk is C, so the load generator does not eat the cores as a Python client would (it
still takes some: two threads, on the server's cores too unless it is pinned).
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
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # this checkout's service and model_core
LUA = HERE / "wrk" / "post_file.lua"
LAYER_DIMS = [12288, 20, 7, 5, 1]  # the course's 4-layer net
KINDS = ("png", "jpeg", "json")
# the pause before each connection's first request in a warm run: the server accepts the
# connections while idle, so the load starts on established ones (bench/wrk/post_file.lua)
WARM_MS = 500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_image(data_dir: Path | None) -> tuple[np.ndarray, str]:
    """A 64x64x3 picture: the course's first test image if present, else a drawing."""
    if data_dir and (data_dir / "test_catvnoncat.h5").is_file():
        import h5py

        with h5py.File(data_dir / "test_catvnoncat.h5", "r") as f:
            return f["test_set_x"][0], "the course's test image 0"
    from service.state.synthetic import make_synthetic  # type: ignore[attr-defined]

    X, _ = make_synthetic(4, seed=0)
    return X[:, 0].reshape(64, 64, 3), "a synthetic drawing"


def course_parameters(data_dir: Path | None) -> tuple[dict[str, np.ndarray], str]:
    """The course's 4-layer net: trained on the course's data if there, else initialized."""
    from model_core import TrainConfig, initialize_parameters, load_dataset, train

    config = TrainConfig(layer_dims=LAYER_DIMS)
    if data_dir and (data_dir / "train_catvnoncat.h5").is_file():
        X, Y = load_dataset(data_dir / "train_catvnoncat.h5")
        return dict(train(X, Y, config)[0]), "trained on the course's 209 images"
    return dict(initialize_parameters(LAYER_DIMS, "course", seed=1)), "randomly initialized"


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


@dataclass
class Body:
    path: Path
    ctype: str
    what: str
    raw: bytes  # the image file, or the JSON document


def bodies(img: np.ndarray, workdir: Path) -> dict[str, Body]:
    png = io.BytesIO()
    Image.fromarray(img).save(png, "PNG")
    jpg = io.BytesIO()
    # a photo-sized JPEG, as a user's camera or browser sends it
    Image.fromarray(img).resize((500, 375), Image.Resampling.BICUBIC).save(jpg, "JPEG", quality=90)
    doc = json.dumps({"instances": [img.reshape(-1).tolist()]}).encode()
    out: dict[str, Body] = {}

    def put(name: str, body: bytes, ctype: str, what: str, raw: bytes) -> None:
        path = workdir / f"{name}.body"
        path.write_bytes(body)
        out[name] = Body(path, ctype, what, raw)

    put("png", *multipart([("cat.png", png.getvalue(), "image/png")]), f"one 64x64 PNG ({len(png.getvalue())} B)",
        png.getvalue())
    put("jpeg", *multipart([("cat.jpg", jpg.getvalue(), "image/jpeg")]),
        f"one 500x375 JPEG ({len(jpg.getvalue())} B)", jpg.getvalue())
    put("json", doc, "application/json", "one JSON instance (12288 ints)", doc)
    put("batch64", *multipart([(f"{i}.png", png.getvalue(), "image/png") for i in range(64)]),
        "64 PNGs in one request", png.getvalue())
    return out


def run_wrk(url: str, body: Body | None, concurrency: int, duration: float, token: str = "",
            server: Server | None = None, warm: bool = False) -> dict:
    """One wrk run (a GET when ``body`` is None); with ``server``, also the CPU time its
    processes spent per request. ``warm``: every connection is open before the load starts
    (bench/wrk/post_file.lua): the latencies of established connections. A server pinned
    to its cores (``Server.cpus``) gets wrk on the other ones."""
    threads = max(1, min(concurrency, 2))
    cpu_before = server.cpu_seconds() if server else 0.0
    ticks_before = cpu_ticks()
    env = dict(os.environ, BENCH_BODY=str(body.path) if body else "", BENCH_CTYPE=body.ctype if body else "",
               BENCH_TOKEN=token, BENCH_WARM_MS=str(WARM_MS if warm else 0),
               BENCH_WARM_CONNS=str(concurrency // threads))
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s",
           "-s", str(LUA), url]
    others = server.wrk_cpus() if server else None
    out = subprocess.run(taskset(others) + cmd, env=env, capture_output=True, text=True, check=True).stdout
    cpu = server.cpu_seconds() - cpu_before if server else 0.0
    ticks = [b - a for a, b in zip(ticks_before, cpu_ticks())]
    result = parse_wrk(out)
    requests = result["requests"]
    return {**result, "threads": threads, "cpu_us": cpu / requests * 1e6 if server and requests else None,
            "steal_pct": 100 * ticks[STEAL] / max(sum(ticks), 1)}


def taskset(cpus: Collection[int] | None) -> list[str]:
    """The prefix that runs a command on ``cpus`` only (util-linux's taskset; [] for any)."""
    return ["taskset", "--cpu-list", ",".join(map(str, sorted(cpus)))] if cpus else []


STEAL = 7  # /proc/stat's cpu line: user nice system idle iowait irq softirq steal ...


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far by kind, in ticks (/proc/stat's first line). Its steal:
    time the hypervisor gave this virtual machine's cores to another, which no server here
    can use and every latency here waits through."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def parse_wrk(out: str) -> dict:
    """wrk's report (``--latency``): requests, req/s, p50/p99/max in ms, non-2xx, socket errors."""
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    lat = {p: _ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1)) for p in ("50", "99")}
    return {"requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": lat["50"], "p99_ms": lat["99"],
            "max_ms": _ms(re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M).group(1)),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


# -- the servers


@dataclass
class Server:
    """A server process in its own session, on a free port; its output in ``log``."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    paths: dict[str, str]  # request kind -> path
    log: Path
    ready_path: str = "/health/ready"
    cwd: Path = ROOT  # the checkout whose code it runs
    cpus: frozenset[int] | None = None  # the cores its processes may run on (None: any)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {k: v for k, v in self.env.items()}
        cmd = [c.replace("{port}", str(self.port)) for c in self.cmd]
        env["CATSVC_PORT"] = str(self.port)
        with open(self.log, "ab") as out:  # taskset execs the command: the same process
            self.proc = subprocess.Popen(taskset(self.cpus) + cmd, cwd=self.cwd, env=env, stdout=out, stderr=out,
                                         start_new_session=True)
        return self

    def wrk_cpus(self) -> set[int] | None:
        """The cores left to the load generator when this server is pinned."""
        return set(os.sched_getaffinity(0)) - self.cpus if self.cpus else None

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited; its log:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"{self.name} was not ready after {timeout} s")

    def compute_seconds(self) -> tuple[float, float]:
        """Seconds the service's workers spent decoding images and in forward passes so far
        (the sums of its histograms on /metrics)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text

        def total(name: str) -> float:
            return sum(float(v) for v in re.findall(rf"^{name}_sum(?:{{[^}}]*}})? (\S+)$", text, re.M))

        return total("catsvc_image_decode_seconds"), total("catsvc_inference_seconds")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server's processes so far (the live ones: a worker
        that died takes its share along)."""
        from service.state.procs import descendants

        assert self.proc is not None
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / tick

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)


def seed_service(data_dir: Path, npz: Path) -> None:
    """The parameter file as the service's one active version (it starts ready, trains nothing)."""
    import datetime as dt

    from model_core import load_parameters
    from service.state.store import ModelStore

    parameters, metadata = load_parameters(npz.read_bytes())
    metadata["created_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    metadata["source"] = {"kind": "upload", "uploaded_at": metadata["created_at"]}
    store = ModelStore(data_dir)
    store.activate(store.add(parameters, metadata))


ONE_WORKER = ("service", "service_asyncio", "tutorial")
PINNED = "@1"  # the name's suffix of a one-worker app's copy pinned to one core


def one_core() -> frozenset[int] | None:
    """The core a pinned server gets (the last this process may use; wrk gets the others),
    or None when there is only one."""
    cpus = sorted(os.sched_getaffinity(0))
    return frozenset(cpus[-1:]) if len(cpus) > 1 else None


def servers(work: Path, npz: Path, data: Path | None, workers: int | None, pin: bool) -> dict[str, Server]:
    """The apps by name; with ``pin``, a copy of each one-worker app on one core of its own
    (name + PINNED)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CATSVC_")}
    out = {}
    core = one_core() if pin else None
    # the third: one worker on asyncio's event loop in place of uvloop's, for the tail's row
    services = [("service", 1, {}), ("service_default", workers, {}),
                ("service_asyncio", 1, {"CATSVC_EVENT_LOOP": "asyncio"})]
    for name, n, extra in services + [(name + PINNED, n, extra) for name, n, extra in services
                                      if core and name in ONE_WORKER]:
        data_dir = work / name / "var"
        seed_service(data_dir, npz)
        env = dict(base, CATSVC_DATA_DIR=str(data_dir), CATSVC_DATASETS_DIR=str(data or work / "no-datasets"),
                   **extra)
        if n is not None:
            env["CATSVC_WORKERS"] = str(n)
        out[name] = Server(name, [sys.executable, "-m", "service"], env,
                           {k: "/predict" for k in KINDS}, work / f"{name}.log",
                           cpus=core if name.endswith(PINNED) else None)
    for name in ["tutorial"] + (["tutorial" + PINNED] if core else []):
        out[name] = Server(
            name, [sys.executable, "-m", "uvicorn", "bench.tutorial_app:app", "--port", "{port}", "--workers", "1"],
            dict(base, BENCH_PARAMS=str(npz)), {"png": "/predict", "jpeg": "/predict", "json": "/predict/json"},
            work / f"{name}.log", ready_path="/docs", cpus=core if name.endswith(PINNED) else None)
    return out


# -- the compute limit


def compute_limit(cases: dict[str, Body], npz: Path, repeat: int = 400) -> dict[str, float]:
    """Seconds of decode + forward per request of each kind, in this process, one BLAS thread
    (best of 5 runs of ``repeat``): what a core spends when HTTP costs nothing."""
    from threadpoolctl import threadpool_limits

    from model_core.data import image_to_vector
    from model_core.model import Model
    from service.api.inference import instances_to_columns

    model = Model.load(npz.read_bytes())
    steps = {
        "png": lambda: model.predict_proba(image_to_vector(cases["png"].raw)[:, None]),
        "jpeg": lambda: model.predict_proba(image_to_vector(cases["jpeg"].raw)[:, None]),
        "json": lambda: model.predict_proba(instances_to_columns(cases["json"].raw, 256)),
    }
    out = {}
    with threadpool_limits(1):
        for kind, step in steps.items():
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(repeat):
                    step()
                best = min(best, (time.perf_counter() - start) / repeat)
            out[kind] = best
    return out


# -- the runs


def _row(app: str, desc: str, c: int, r: dict, per_request: int = 1) -> None:
    bad = f"  non-2xx {r['non_2xx']}" if r["non_2xx"] else ""
    bad += f"  socket errors {r['socket_errors']}" if r["socket_errors"] else ""
    items = f" {r['rps'] * per_request:>7.0f} images/s" if per_request > 1 else ""
    cpu = f"  cpu {r['cpu_us']:>5.0f} us/req" if r.get("cpu_us") else ""
    cpu += f"  steal {r['steal_pct']:>4.1f}%" if "steal_pct" in r else ""
    print(f"  {app:<18} {desc:<36} c={c:<3} {r['rps']:>7.0f} req/s{items}  p50 {r['p50_ms']:>6.2f} ms  "
          f"p99 {r['p99_ms']:>6.2f} ms{cpu}{bad}", flush=True)


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def per_core_plan(suffix: str) -> list[tuple[str, str, int, bool]]:
    """The one-worker runs, of the apps named with ``suffix`` ("" or PINNED)."""
    service, asyncio_, tutorial = (name + suffix for name in ONE_WORKER)
    plan = [(app, kind, 8, False) for kind in KINDS for app in (service, tutorial)]
    # the tail on established connections (warm), and with the connections' opening in it (cold)
    plan += [(app, "png", 32, True) for app in (service, asyncio_, tutorial)]
    plan += [(app, "png", 32, False) for app in (service, asyncio_, tutorial)]
    return plan + [(asyncio_, "png", 8, False)]


def compare(apps: dict[str, Server], cases: dict[str, Body], args: argparse.Namespace) -> dict:
    """The rounds; {(app, kind, concurrency, warm): [results]}."""
    runs: dict[tuple[str, str, int, bool], list[dict]] = {}
    plan = per_core_plan("")
    if "service" + PINNED in apps:  # each pinned run right after its unpinned twin: the same moment
        plan = [run for pair in zip(plan, per_core_plan(PINNED)) for run in pair]
    plan += [(app, kind, 8, False) for kind in ("png", "json") for app in ("service_default",)]
    for n in range(args.rounds):
        print(f"round {n + 1} of {args.rounds} (load average {load_average()})", flush=True)
        for app, kind, c, warm in plan:
            server = apps[app]
            inside = app in ("service", "service" + PINNED) and c == 8
            before = server.compute_seconds() if inside else (0.0, 0.0)
            r = run_wrk(server.url + server.paths[kind], cases[kind], c, args.duration, server=server, warm=warm)
            if inside:  # decode and forward per request, inside the worker
                r["decode_us"], r["forward_us"] = ((b - a) / r["requests"] * 1e6
                                                   for a, b in zip(before, server.compute_seconds()))
            runs.setdefault((app, kind, c, warm), []).append(r)
            _row(app, cases[kind].what + (", warm" if warm else ""), c, r)
    return runs


def per_core_table(runs: dict, cases: dict[str, Body], limit: dict[str, float], suffix: str) -> dict:
    """Print the one-worker apps' table (those named with ``suffix``); its figures."""
    med = {key: statistics.median(r["rps"] for r in rs) for key, rs in runs.items()}
    p99 = {key: statistics.median(r["p99_ms"] for r in rs) for key, rs in runs.items()}
    cpu = {key: statistics.median(r["cpu_us"] for r in rs) for key, rs in runs.items()}
    service, asyncio_, tutorial = (name + suffix for name in ONE_WORKER)
    out: dict = {"rows": []}
    print("| request | service req/s | tutorial app req/s | service / tutorial | CPU per request: service, "
          "tutorial (ratio) | compute limit, req/s per core | in the service's worker: decode + forward |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in KINDS:
        s, t = med[(service, kind, 8, False)], med[(tutorial, kind, 8, False)]
        cs, ct = cpu[(service, kind, 8, False)], cpu[(tutorial, kind, 8, False)]
        dec, fwd = (statistics.median(r[f] for r in runs[(service, kind, 8, False)]) for f in ("decode_us", "forward_us"))
        print(f"| {cases[kind].what} | {s:.0f} | {t:.0f} | {s / t:.2f}x | {cs:.0f} us, {ct:.0f} us ({ct / cs:.2f}x) "
              f"| {1 / limit[kind]:.0f} ({limit[kind] * 1e6:.0f} us) | {dec:.0f} + {fwd:.0f} us |")
        out["rows"].append({"kind": kind, "service": s, "tutorial": t, "ratio": s / t, "cpu_us": [cs, ct],
                            "limit": 1 / limit[kind], "in_worker_us": [dec, fwd]})
    out["p99_c32"] = {}
    for warm, how in ((True, "established connections (warm)"), (False, "the connections' opening in it (cold)")):
        s32, t32 = p99[(service, "png", 32, warm)], p99[(tutorial, "png", 32, warm)]
        a32 = p99[(asyncio_, "png", 32, warm)]
        p50 = statistics.median(r["p50_ms"] for r in runs[(service, "png", 32, warm)])
        rounds = sorted(r["p99_ms"] for r in runs[(service, "png", 32, warm)])
        print(f"| p99 at concurrency 32, PNG, {how} | {s32:.1f} ms (p50 {p50:.1f}; rounds {rounds[0]:.1f} to "
              f"{rounds[-1]:.1f}) | {t32:.1f} ms | CATSVC_EVENT_LOOP=asyncio: {a32:.1f} ms | |")
        out["p99_c32"]["warm" if warm else "cold"] = {"service": s32, "tutorial": t32, "service_asyncio": a32,
                                                      "service_p50": p50, "service_rounds": rounds}
    out["asyncio_cpu_us_png"] = a8 = cpu[(asyncio_, "png", 8, False)]
    print(f"| CPU per PNG at c=8, CATSVC_EVENT_LOOP=asyncio | {a8:.0f} us | | | |")
    return out


def summary(runs: dict, cases: dict[str, Body], limit: dict[str, float], workers: int) -> dict:
    med = {key: statistics.median(r["rps"] for r in rs) for key, rs in runs.items()}
    out: dict = {"steal_pct": statistics.median(r["steal_pct"] for rs in runs.values() for r in rs)}
    print(f"\nmedians over the rounds (load average now {load_average()}; the hypervisor's steal over the runs, "
          f"median: {out['steal_pct']:.1f}% of CPU time, this VM's cores given to others)")
    if any(app.endswith(PINNED) for app, *_ in runs):
        print("\none API worker each on one core of its own, wrk on the other cores (per core), concurrency 8:")
        out["pinned"] = per_core_table(runs, cases, limit, PINNED)
    print("\none API worker each, every process on any core (wrk too), concurrency 8:")
    out["unpinned"] = per_core_table(runs, cases, limit, "")
    for kind in ("png", "json"):
        d, one = med[("service_default", kind, 8, False)], med[("service", kind, 8, False)]
        print(f"| {cases[kind].what}, default workers ({workers}) against one, both on any core | {d:.0f} | | "
              f"{d / one:.2f}x one worker | |")
        out[f"workers_{kind}"] = {"default": d, "one": one, "ratio": d / one}
    return out


def extras(server: Server, cases: dict[str, Body], args: argparse.Namespace) -> None:
    """The old table's rows, on the default-workers service."""
    print(f"\nthe default-workers service (load average {load_average()}):")
    for kind in KINDS:
        for c in (1, 8, 32):
            _row("service_default", cases[kind].what, c, run_wrk(server.url + "/predict", cases[kind], c, args.duration))
    _row("service_default", cases["batch64"].what, 8,
         run_wrk(server.url + "/predict", cases["batch64"], 8, args.duration), per_request=64)
    job = httpx.post(f"{server.url}/train", json={"optimizer": "adam", "learning_rate": 0.001, "epochs": 100000,
                                                   "batch_size": 64, "activate": False}, timeout=30)
    if job.status_code != 202:
        print(f"  (no training row: POST /train answered {job.status_code}; give --data)")
        return
    job_url = server.url + job.headers["location"]
    for _ in range(200):
        if httpx.get(job_url, timeout=5).json()["status"] == "running":
            break
        time.sleep(0.1)
    r = run_wrk(server.url + "/predict", cases["png"], 8, args.duration)
    state = httpx.get(job_url, timeout=5).json()["status"]
    httpx.delete(job_url, timeout=10)
    _row("service_default", cases["png"].what + f" while a job trains ({state})", 8, r)


def recipes(server: Server, cases: dict[str, Body], names: list[str], args: argparse.Namespace) -> None:
    """Train each recipe on the default data set, activate it, measure the three kinds at c8."""
    for name in names:
        job = httpx.post(f"{server.url}/train", json={"recipe": name}, timeout=30)
        job.raise_for_status()
        job_url = server.url + job.headers["location"]
        for _ in range(3000):
            state = httpx.get(job_url, timeout=5).json()
            if state["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.2)
        if state["status"] != "succeeded":
            raise SystemExit(f"the {name} job ended {state['status']}: {state.get('message')}")
        time.sleep(1.5)  # every worker sees the new pointer at its next request
        for kind in KINDS:
            r = run_wrk(server.url + "/predict", cases[kind], 8, args.duration)
            _row("service_default", f"{cases[kind].what}, {name} (v{state['model_version']})", 8, r)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=os.environ.get("CATVNONCAT_DATA"),
                    help="the course's data directory (default: $CATVNONCAT_DATA): the model trains on it")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the comparison (default 3); medians reported")
    ap.add_argument("--workers", type=int, default=None, help="the default-workers service's count "
                                                               "(default: the service's own, one per core)")
    ap.add_argument("--extras", action="store_true", help="also the old table's rows (c1/8/32, batch, training)")
    ap.add_argument("--recipes", default="", help="comma-separated recipes (photos,course) to train and measure")
    ap.add_argument("--checkout", type=Path, default=ROOT,
                    help="serve the service of another checkout (e.g. main's, for a before/after); default: this one")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (logs) and print it")
    ap.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="leave out the runs with each one-worker app pinned to one core (wrk on the others)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    data = Path(args.data) if args.data else None
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    img, what = sample_image(data)
    cases = bodies(img, work)
    parameters, how = course_parameters(data)
    npz = work / "params.npz"
    np.savez(npz, **parameters)
    apps = servers(work, npz, data, args.workers, args.pin)
    for server in apps.values():
        if server.name.startswith("service"):
            server.cwd = args.checkout.resolve()
    try:
        for server in apps.values():
            server.start()
        for server in apps.values():
            server.wait_ready()
        workers = args.workers or os.cpu_count() or 1  # the service's default: one per core
        limit = compute_limit(cases, npz)
        print(f"the service of {args.checkout.resolve()}; "
              f"the course's 4-layer net {LAYER_DIMS}, {how}; picture: {what}; {os.cpu_count()} cores; "
              f"wrk {args.duration:g} s per run, {args.rounds} rounds; default workers: {workers}", flush=True)
        for server in apps.values():  # warm up: first requests load the model, fill caches
            for kind in KINDS:
                run_wrk(server.url + server.paths[kind], cases[kind], 8, 1)
        result = summary(compare(apps, cases, args), cases, limit, workers)
        if args.extras:
            extras(apps["service_default"], cases, args)
        if args.recipes:
            recipes(apps["service_default"], cases, [r for r in args.recipes.split(",") if r], args)
        if args.json:
            print(json.dumps(result))
    finally:
        for server in apps.values():
            server.stop()
        if args.keep:
            print(f"logs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
