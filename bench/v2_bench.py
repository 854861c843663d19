"""Open Inference Protocol (V2) requests per second: the service against KServe's own V2
server on the same model, side by side in one run, driven by wrk (Debian's `wrk`).

    python bench/v2_bench.py [--duration 10] [--concurrency 8] [--workers 1] [--rounds 1] [--no-kserve]

Run from the repository root. Both servers serve the course's 4-layer net
(TrainConfig().layer_dims, He-initialized from a fixed seed: what it computes does not
change the cost of serving it) from one .npz: the service through PUT /params, KServe
through bench/kserve_model.py, a small ``kserve.Model`` whose forward pass is NumPy on
the same arrays. KServe runs in its own venv (--kserve-venv, made with `pip install
kserve` when missing), one worker; the service with --workers API workers (1: the same
core count, the issue's "per core"). Neither writes a log line per request.

Rows, one instance (one 64x64x3 image) per request: the native JSON `POST /predict`,
V2 JSON (UINT8 pixels as a flat list of 12288 integers), V2 binary (the same pixels as
12288 bytes after the JSON object, no Content-Type, outputs asked back as binary: what
tritonclient sends by default), each for the service and for KServe. Every server's
answer is first checked against model_core's own forward pass on the same pixels.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import serve_bench  # noqa: E402  (its wrk runner, server and helpers)

import model_core as mc  # noqa: E402

serve_bench.LUA = HERE / "wrk" / "post_v2.lua"  # a Content-Type only when given, and the binary header
MODEL = "catvnoncat"
N_X = 12288


def make_model(path: Path) -> mc.Model:
    """The course's net, He-initialized from seed 1, as the course's own np.savez file."""
    parameters = mc.initialize_parameters(mc.TrainConfig().layer_dims, "he", seed=1)
    np.savez(path, **parameters)  # type: ignore[arg-type]  # numpy's stub reads **kwds as allow_pickle
    return mc.Model.load(path)


def bodies(pixels: np.ndarray, workdir: Path) -> dict[str, tuple[serve_bench.Body, str]]:
    """case -> (its body, with its Content-Type or "", and Inference-Header-Content-Length or "")."""
    data = pixels.tolist()
    header = orjson.dumps({"inputs": [{"name": "pixels", "shape": [1, N_X], "datatype": "UINT8",
                                       "parameters": {"binary_data_size": N_X}}],
                           "parameters": {"binary_data_output": True}})
    cases = {
        "native JSON": (orjson.dumps({"instances": [data]}), "application/json", ""),
        "V2 JSON": (orjson.dumps({"inputs": [{"name": "pixels", "shape": [1, N_X], "datatype": "UINT8",
                                              "data": data}]}), "application/json", ""),
        "V2 binary": (header + pixels.astype(np.uint8).tobytes(), "", str(len(header))),
    }
    out = {}
    for i, (name, (body, ctype, header_length)) in enumerate(cases.items()):
        path = workdir / f"{i}.body"
        path.write_bytes(body)
        out[name] = (serve_bench.Body(path, ctype, name, body), header_length)
    return out


def probability(response: httpx.Response) -> float:
    """P(cat) of a V2 response, JSON or binary, or of a native one."""
    length = response.headers.get("inference-header-content-length")
    doc = orjson.loads(response.content[:int(length)] if length else response.content)
    if "predictions" in doc:
        return doc["predictions"][0]["probability"]
    out = next(o for o in doc["outputs"] if o["name"] == "probability")
    if "data" in out:
        return float(out["data"][0])
    offset = int(length)  # the outputs' binary data follow in order; probability's first here
    for o in doc["outputs"][:doc["outputs"].index(out)]:
        offset += o["parameters"]["binary_data_size"]
    return float(np.frombuffer(response.content[offset:offset + 4], dtype="<f4")[0])


def check(url: str, case: tuple[serve_bench.Body, str], expected: float) -> None:
    body, header_length = case
    headers = {k: v for k, v in (("content-type", body.ctype), ("inference-header-content-length", header_length))
               if v}
    r = httpx.post(url, content=body.raw, headers=headers, timeout=30)
    if r.status_code != 200:
        raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")
    got = probability(r)
    if not np.isclose(got, expected, rtol=1e-6):
        raise SystemExit(f"{url} answered P(cat) {got}, model_core {expected}")


def cpu_seconds(session: int) -> float:
    """CPU time (user + system) used so far by every process of a session (a server and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == session:  # field 6 of stat(5), counted after the command's ")"
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


# -- KServe, in a venv of its own
def kserve_python(venv: Path) -> Path | None:
    """The venv's python with kserve installed (installed now if missing); None, saying why, if it cannot be."""
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import kserve"], capture_output=True).returncode == 0:
        return python
    print(f"installing KServe into {venv} (pip install kserve==0.21.0, the version the README measured) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "kserve==0.21.0"], check=True)
    except subprocess.CalledProcessError as e:
        print(f"KServe could not be installed ({e}); measuring the service alone", flush=True)
        return None
    return python


class KServe:
    """bench/kserve_model.py on a free port, one worker."""

    def __init__(self, python: Path, params: Path) -> None:
        self.port = serve_bench.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [python, HERE / "kserve_model.py", "--params", params, "--http_port", str(self.port), "--workers", "1",
             "--model_name", MODEL], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/v2/models/{MODEL}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit("KServe's server did not become ready in 120 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="the service's API workers (default 1, as KServe's)")
    ap.add_argument("--rounds", type=int, default=1, help="run every row this many times, alternately")
    ap.add_argument("--kserve-venv", type=Path, default=ROOT / ".venv-kserve")
    ap.add_argument("--no-kserve", action="store_true", help="measure the service alone")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="v2-bench-"))
    model = make_model(work / "model.npz")
    pixels = np.random.RandomState(0).randint(0, 256, size=N_X).astype(np.uint8)  # one 64x64x3 image
    expected = float(model.predict_proba(pixels[:, None])[0])
    cases = bodies(pixels, work)
    python = None if args.no_kserve else kserve_python(args.kserve_venv)
    data_dir = work / "var"
    serve_bench.seed_service(data_dir, work / "model.npz")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATSVC_")}
    env.update(CATSVC_DATA_DIR=str(data_dir), CATSVC_DATASETS_DIR=str(work / "no-datasets"),
               CATSVC_WORKERS=str(args.workers))
    ours = serve_bench.Server("service", [sys.executable, "-m", "service"], env, {}, work / "service.log")
    kserve = None
    try:
        ours.start().wait_ready()
        assert ours.proc is not None
        targets = {"service": {"native JSON": f"{ours.url}/predict", "V2 JSON": f"{ours.url}/v2/models/{MODEL}/infer",
                               "V2 binary": f"{ours.url}/v2/models/{MODEL}/infer"}}
        sessions = {"service": ours.proc.pid}  # both start their servers in sessions of their own
        if python is not None:
            kserve = KServe(python, work / "model.npz")
            targets["KServe"] = {name: f"{kserve.url}/v2/models/{MODEL}/infer" for name in ("V2 JSON", "V2 binary")}
            sessions["KServe"] = kserve.proc.pid
        for server, urls in targets.items():
            for name, url in urls.items():
                check(url, cases[name], expected)
        print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; the service: {args.workers} API worker(s); "
              f"KServe: {'1 worker' if kserve else 'not run'}; concurrency {args.concurrency}, wrk {args.duration:g} s "
              "per row; one instance per request", flush=True)
        results: dict[tuple[str, str], list[dict]] = {}
        for _ in range(args.rounds):
            for server, urls in targets.items():
                for name, url in urls.items():
                    body, header_length = cases[name]
                    os.environ["BENCH_HEADER_LENGTH"] = header_length
                    session = sessions[server]
                    cpu = cpu_seconds(session)
                    row = serve_bench.run_wrk(url, body, args.concurrency, args.duration)
                    # requests per CPU-second of the server's processes: its rate per core, whatever
                    # else the machine runs meanwhile (wall-clock rates move with the load)
                    row["per_cpu_s"] = row["rps"] * round(args.duration) / max(cpu_seconds(session) - cpu, 1e-9)
                    results.setdefault((server, name), []).append(row)
                    bad = f"  non-2xx {row['non_2xx']}" if row["non_2xx"] else ""
                    print(f"{server:<8} {name:<12} {row['rps']:>8.0f} req/s {row['per_cpu_s']:>8.0f} per CPU-s  "
                          f"p50 {row['p50_ms']:>6.2f} ms  p99 {row['p99_ms']:>6.2f} ms{bad}", flush=True)
        _summary(results, args.rounds)
    finally:
        ours.stop()
        if kserve:
            kserve.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _summary(results: dict[tuple[str, str], list[dict]], rounds: int) -> None:
    rps = {key: statistics.median(r["rps"] for r in rows) for key, rows in results.items()}
    per_cpu = {key: statistics.median(r["per_cpu_s"] for r in rows) for key, rows in results.items()}
    print(f"\nmedian of {rounds} round(s): requests/s, and requests per CPU-second of the server's processes")
    for key in rps:
        print(f"  {key[0]:<8} {key[1]:<12} {rps[key]:>8.0f} req/s {per_cpu[key]:>8.0f} per CPU-s")

    def ratio(a: tuple[str, str], b: tuple[str, str]) -> str:
        return f"{rps[a] / rps[b]:.2f}x by requests/s, {per_cpu[a] / per_cpu[b]:.2f}x per CPU-second"

    if ("KServe", "V2 JSON") in rps:
        print(f"  V2 JSON, the service / KServe: {ratio(('service', 'V2 JSON'), ('KServe', 'V2 JSON'))} "
              "(target: at least 3x per core)")
    print(f"  V2 binary / native JSON, the service: {ratio(('service', 'V2 binary'), ('service', 'native JSON'))} "
          "(target: at least 1x)")


if __name__ == "__main__":
    raise SystemExit(main())
