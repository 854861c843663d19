"""GET /metrics against the real service (``python -m service``, two API workers and the
trainer): a known sequence of requests, then one scrape read with prometheus-client's own
parser, every count checked exactly; both workers' requests in that one scrape (each
worker's file read alone adds up to it); a worker killed and replaced counts once among
the live workers and keeps its counts; the token; metrics off."""
from __future__ import annotations

import base64
import os
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from service.api.errors import Code

from .conftest import SMALL, image_bytes
from .realserver import INSTANCE_JSON, Server, connect, gone, parse, read_to_eof, seed_models, wait_until

TOKEN = "metrics-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef00"
PREDICT = "/predict"
INFER = "/v2/models/{model_name}/infer"


def scrape(c: httpx.Client, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One GET /metrics, parsed: (sample name, sorted labels) -> value."""
    r = c.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(samples: dict, route: str, method: str, status: int) -> float:
    return value(samples, "catsvc_http_request_duration_seconds_count", route=route, method=method, status=str(status))


def png(seed: int) -> bytes:
    return image_bytes("PNG", (64, 64), seed=seed)


def closing(server: Server) -> httpx.Client:
    """A client whose every request has a connection of its own: the kernel spreads new
    connections over the workers (SO_REUSEPORT), so both serve some."""
    return server.client(headers={"Connection": "close"})


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_one_scrape_counts_every_request_of_both_workers_and_the_trainer_exactly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    with Server(data, tmp_path / "server.log") as server, closing(server) as c:
        labels: Counter[tuple[str, str]] = Counter()  # (label, api) from the answers themselves
        n_png = 12
        for i in range(n_png):
            r = c.post("/predict", files={"file": (f"{i}.png", png(i))})
            assert r.status_code == 200, r.text
            labels.update((p["label"], "native") for p in r.json()["predictions"])
        for _ in range(3):
            r = c.post("/predict", content=INSTANCE_JSON, headers={"content-type": "application/json"})
            assert r.status_code == 200
            labels.update((p["label"], "native") for p in r.json()["predictions"])
        tensor = {"name": "pixels", "datatype": "UINT8", "shape": [2, 12288], "data": [9] * (2 * 12288)}
        photo = {"name": "image", "datatype": "BYTES", "shape": [1],
                 "data": [base64.b64encode(png(99)).decode()]}
        for path, body in (("/v2/models/catvnoncat/infer", {"inputs": [tensor]}),
                           ("/v2/models/catvnoncat/infer", {"inputs": [photo]}),
                           ("/v2/models/catvnoncat/versions/1/infer", {"inputs": [tensor]})):
            r = c.post(path, json=body)
            assert r.status_code == 200, r.text
            out = {o["name"]: o for o in r.json()["outputs"]}
            labels.update((label, "v2") for label in out["label"]["data"])
        # 4xx: no such job, no such path, a body type /predict does not take
        assert c.get("/train/no-such-job").json()["code"] == Code.JOB_NOT_FOUND
        assert c.get("/no/such/path").json()["code"] == Code.NOT_FOUND
        r = c.post("/predict", content=b"x", headers={"content-type": "text/plain"})
        assert (r.status_code, r.json()["code"]) == (415, Code.UNSUPPORTED_MEDIA_TYPE)
        # not HTTP: refused by the protocol before the app sees it
        with connect(server) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert parse(read_to_eof(sock))[0] == 400
        # a short training job on the synthetic set
        job = c.post("/train", json={"dataset": "synthetic", **SMALL}).json()
        wait_until(lambda: c.get(f"/train/{job['id']}").json()["status"] == "succeeded", 60, "the job")

        m = scrape(c)

    # the requests, by route template, method and status (fast paths included)
    assert requests_of(m, PREDICT, "POST", 200) == n_png + 3
    assert requests_of(m, PREDICT, "POST", 415) == 1
    assert requests_of(m, INFER, "POST", 200) == 2
    assert requests_of(m, "/v2/models/{model_name}/versions/{model_version}/infer", "POST", 200) == 1
    assert requests_of(m, "/train/{job_id}", "GET", 404) == 1
    assert requests_of(m, "unmatched", "GET", 404) == 1
    assert requests_of(m, "/train", "POST", 202) == 1
    assert requests_of(m, "refused", "", 400) == 1
    assert value(m, "catsvc_errors_total", code=Code.BAD_REQUEST) == 1
    assert requests_of(m, "/train/{job_id}", "GET", 200) >= 1  # the polls: as many as the job took
    # the buckets are cumulative, the last one is the count
    assert value(m, "catsvc_http_request_duration_seconds_bucket", route=PREDICT, method="POST", status="200",
                 le="+Inf") == n_png + 3
    # predictions by label, model version (the seeded version 1) and API
    for (label, api), n in labels.items():
        assert value(m, "catsvc_predictions_total", label=label, model_version="1", api=api) == n
    assert sum(v for (name, _), v in m.items() if name == "catsvc_predictions_total") == n_png + 3 + 5
    # decodes: the native PNGs and the V2 photo; forward passes and their sizes (two of 2)
    assert value(m, "catsvc_images_decoded_total") == n_png + 1
    assert value(m, "catsvc_image_decode_seconds_count") == n_png + 1
    assert value(m, "catsvc_inference_seconds_count") == n_png + 3 + 3
    assert value(m, "catsvc_batch_size_count") == n_png + 3 + 3
    assert value(m, "catsvc_batch_size_sum") == n_png + 3 + 5
    assert value(m, "catsvc_batch_size_bucket", le="1.0") == n_png + 3 + 1
    assert value(m, "catsvc_batch_size_bucket", le="2.0") == n_png + 3 + 3
    # errors by code
    assert value(m, "catsvc_errors_total", code=Code.JOB_NOT_FOUND) == 1
    assert value(m, "catsvc_errors_total", code=Code.NOT_FOUND) == 1
    assert value(m, "catsvc_errors_total", code=Code.UNSUPPORTED_MEDIA_TYPE) == 1
    # the trainer's: one job succeeded, timed, none running or queued now
    assert value(m, "catsvc_jobs_finished_total", status="succeeded", reason="") == 1
    assert value(m, "catsvc_training_duration_seconds_count", status="succeeded") == 1
    assert value(m, "catsvc_job_running") == 0
    assert value(m, "catsvc_jobs_queued") == 0
    # the job's model is active now: the scraping worker looked at the pointer first
    assert value(m, "catsvc_model_active_version") == 2
    assert value(m, "catsvc_api_workers") == 2

    # both workers' files hold part of the /predict count, and add up to the scrape's
    files = sorted((data / "tmp" / "metrics").glob("histogram_*.db"))
    per_file = []
    for f in files:
        for metric in MultiProcessCollector.merge([str(f)]):
            per_file += [s.value for s in metric.samples if s.name == "catsvc_http_request_duration_seconds_count"
                         and s.labels == {"route": PREDICT, "method": "POST", "status": "200"}]
    assert len([n for n in per_file if n > 0]) == 2, per_file
    assert sum(per_file) == n_png + 3


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_running_job_its_progress_and_cost_the_queue_and_cancellations(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    long_job = {"dataset": "synthetic", "layer_dims": [12288, 4, 1], "iterations": 10_000_000}
    with Server(data, tmp_path / "server.log") as server, server.client() as c:
        running = c.post("/train", json=long_job).json()["id"]
        waiting = c.post("/train", json={"dataset": "synthetic", **SMALL}).json()["id"]

        def progressing() -> dict | None:
            samples = scrape(c)
            return samples if value(samples, "catsvc_job_iterations_done") > 0 else None

        m = wait_until(progressing, 60, "the job's progress in the metrics")
        job = c.get(f"/train/{running}").json()
        assert job["status"] == "running"
        assert value(m, "catsvc_job_running") == 1 and value(m, "catsvc_jobs_queued") == 1
        assert 0 < value(m, "catsvc_job_progress_ratio") < 0.01
        assert value(m, "catsvc_job_cost") > 0
        # the queued one is cancelled by the API worker, the running one stopped by the trainer
        assert c.delete(f"/train/{waiting}").status_code == 200
        assert c.delete(f"/train/{running}").status_code == 202
        wait_until(lambda: c.get(f"/train/{running}").json()["status"] == "cancelled", 30, "the cancellation")
        m = wait_until(lambda: (s := scrape(c)) and value(s, "catsvc_job_running") == 0 and s, 10, "no job running")
    assert value(m, "catsvc_jobs_finished_total", status="cancelled", reason="cancelled") == 2
    assert value(m, "catsvc_training_duration_seconds_count", status="cancelled") == 1  # the one that ran
    assert value(m, "catsvc_jobs_queued") == 0
    assert value(m, "catsvc_job_progress_ratio") == 0 and str(value(m, "catsvc_job_cost")) == "nan"


def live_workers(metrics_dir: Path) -> list[int]:
    """The pids whose livesum gauge file says "one API worker" (the trainer's says 0)."""
    pids = []
    for f in metrics_dir.glob("gauge_livesum_*.db"):
        for metric in MultiProcessCollector.merge([str(f)]):
            if metric.name == "catsvc_api_workers" and any(s.value == 1 for s in metric.samples):
                pids.append(int(f.stem.rpartition("_")[2]))
    return sorted(pids)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_worker_that_dies_keeps_its_counts_and_leaves_the_live_gauges(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    metrics_dir = data / "tmp" / "metrics"
    with Server(data, tmp_path / "server.log") as server, closing(server) as c:
        for i in range(10):
            assert c.post("/predict", files={"file": (f"{i}.png", png(i))}).status_code == 200
        before = scrape(c)
        assert value(before, "catsvc_api_workers") == 2
        workers = live_workers(metrics_dir)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        wait_until(lambda: gone(workers[0]), 10, "the worker to die")
        # the replacement counts itself in; the scrape forgets the dead one's live gauges

        def replaced() -> dict | None:
            samples = scrape(c)
            pids = live_workers(metrics_dir)
            return samples if len(pids) == 2 and workers[0] not in pids else None

        after = wait_until(replaced, 30, "a new worker, and the dead one's gauge file gone")
        assert value(after, "catsvc_api_workers") == 2
    # the dead worker's requests stay counted (every scrape since added its own GET /metrics)
    assert requests_of(after, PREDICT, "POST", 200) == requests_of(before, PREDICT, "POST", 200) == 10


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_metrics_token_guards_metrics_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    with Server(data, tmp_path / "server.log", metrics_token=TOKEN, admin_token=ADMIN) as server, \
            server.client() as c:
        r = c.get("/metrics")
        assert (r.status_code, r.json()["code"]) == (401, Code.AUTH_REQUIRED)
        assert "CATSVC_METRICS_TOKEN" in r.json()["error"] and r.headers["www-authenticate"].startswith("Bearer")
        r = c.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"})
        assert (r.status_code, r.json()["code"]) == (403, Code.AUTH_INVALID)
        scrape(c, Authorization=f"Bearer {TOKEN}")
        m = scrape(c, Authorization=f"Bearer {ADMIN}")  # the admin token works too
        assert value(m, "catsvc_errors_total", code=Code.AUTH_REQUIRED) == 1
        assert value(m, "catsvc_errors_total", code=Code.AUTH_INVALID) == 1
        # predictions and health stay open: the token guards /metrics only
        assert c.get("/health/ready").status_code == 200
        assert c.post("/predict", files={"file": ("a.png", png(1))}).status_code == 200
        # another Host (Prometheus scrapes by the name it has, as for health): answered
        scrape(c, Authorization=f"Bearer {TOKEN}", Host="api:8000")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_metrics_off_count_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_models(data)
    with Server(data, tmp_path / "server.log", metrics="false") as server, server.client() as c:
        assert c.post("/predict", files={"file": ("a.png", png(1))}).status_code == 200
        r = c.get("/metrics")
        assert (r.status_code, r.json()["code"]) == (404, Code.NOT_FOUND)
        assert "CATSVC_METRICS" in r.json()["error"]
    assert not (data / "tmp" / "metrics").exists() or not list((data / "tmp" / "metrics").iterdir())


def test_metrics_files_of_a_previous_run_are_removed_at_start(tmp_path: Path) -> None:
    from service.settings import Settings
    from service.supervisor import prepare_data_dir

    elsewhere = tmp_path / "metrics"
    elsewhere.mkdir()
    (elsewhere / "counter_1.db").write_bytes(b"\0" * 64)
    (elsewhere / "keep.txt").write_text("not ours")
    data = tmp_path / "data"
    seed_models(data)
    (data / "tmp" / "metrics").mkdir(parents=True)
    (data / "tmp" / "metrics" / "counter_2.db").write_bytes(b"\0" * 64)
    prepare_data_dir(Settings(data_dir=data, metrics_dir=elsewhere, datasets_dir=None))
    assert [p.name for p in elsewhere.iterdir()] == ["keep.txt"]
    prepare_data_dir(Settings(data_dir=data, datasets_dir=None))
    assert not (data / "tmp" / "metrics").exists() or not list((data / "tmp" / "metrics").iterdir())


def test_the_compose_profile_scrapes_the_service_with_the_repo_prometheus_config() -> None:
    import yaml

    from .realserver import ROOT

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["metrics"]  # not started by a plain `docker compose up`
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    host, _, port = job["static_configs"][0]["targets"][0].partition(":")
    assert host in compose["services"] and "profiles" not in compose["services"][host]
    assert f"{port}:{port}" in compose["services"][host]["ports"][0]
