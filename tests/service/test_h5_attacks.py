"""The issue's attack on a real server: h5 files that point outside themselves, sent to
POST /datasets, dropped into CATSVC_DATASETS_DIR, and given to the CLI's --data.

A canary file's bytes, and the token the server holds in its environment (what twelve
uploads once read out of /proc/self/environ, 8 bytes at a time), must appear in no
response, no log line and no stored data set.
"""
from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import httpx
import numpy as np
import pytest

from service.api.errors import Code

from .realserver import ROOT, Server, course_npz, seed_models

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SECRET = b"CANARY-0123456789-server-secret!"  # 32 bytes: four int64 labels' worth
TOKEN = "predict-token-" + "7" * 24


def images(m: int = 4) -> np.ndarray:
    return np.random.RandomState(0).randint(0, 256, size=(m, 64, 64, 3)).astype(np.uint8)


def h5_bytes(build) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("train_set_x", data=images())
        build(f)
    return buf.getvalue()


def attacks(canary: Path, other_h5: Path) -> dict[str, bytes]:
    """Each way an h5 can make its reader open another file, aimed at the canary (or the
    server's own environment, where its tokens are)."""
    def external(path: str, offset: int = 0):  # type: ignore[no-untyped-def]
        return lambda f: f.create_dataset("train_set_y", shape=(4,), dtype="<i8", external=[(path, offset, 32)])

    def virtual(f: h5py.File) -> None:
        layout = h5py.VirtualLayout(shape=(4,), dtype="<i8")
        layout[:] = h5py.VirtualSource(str(other_h5), "y", shape=(4,))
        f.create_virtual_dataset("train_set_y", layout)

    def plugin_filter(f: h5py.File) -> None:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((4,))
        dcpl.set_filter(32123, h5py.h5z.FLAG_OPTIONAL)
        h5py.h5d.create(f.id, b"train_set_y", h5py.h5t.STD_I64LE, h5py.h5s.create_simple((4,)), dcpl=dcpl)

    files = {
        "external-storage": h5_bytes(external(str(canary))),
        "external-environ": h5_bytes(external("/proc/self/environ")),
        "external-link": h5_bytes(lambda f: f.__setitem__("train_set_y", h5py.ExternalLink(str(other_h5), "/y"))),
        "soft-link": h5_bytes(lambda f: f.__setitem__("train_set_y", h5py.SoftLink("/no/such/path"))),
        "virtual": h5_bytes(virtual),
        "plugin-filter": h5_bytes(plugin_filter),
    }
    for offset in range(8, 64, 8):  # the attack read 8 bytes per upload, walking the file
        files[f"external-environ-{offset}"] = h5_bytes(external("/proc/self/environ", offset))
    return files


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, bytes], Path]]:
    tmp = tmp_path_factory.mktemp("h5attacks")
    canary = tmp / "canary.txt"
    canary.write_bytes(SECRET)
    other = tmp / "server-side.h5"
    with h5py.File(other, "w") as f:
        f["y"] = np.frombuffer(SECRET, dtype="<i8")
    files = attacks(canary, other)
    datasets_dir = tmp / "datasets"
    datasets_dir.mkdir()
    (datasets_dir / "evil.h5").write_bytes(files["external-storage"])
    seed_models(tmp / "data")
    with Server(tmp / "data", tmp / "server.log", datasets_dir=datasets_dir, predict_token=TOKEN) as s:
        yield s, files, canary


def leaked(text: str | bytes) -> bool:
    data = text.encode() if isinstance(text, str) else text
    return SECRET in data or TOKEN.encode() in data or any(
        str(v).encode() in data for v in np.frombuffer(SECRET, dtype="<i8").tolist())


def test_uploads_pointing_outside_are_refused_and_leak_nothing(setup: tuple[Server, dict[str, bytes], Path]) -> None:
    server, files, _ = setup
    refused = {"external-storage": "external storage", "external-environ": "external storage",
               "external-link": "external link", "soft-link": "soft link", "virtual": "virtual dataset",
               "plugin-filter": "built-in filters"}
    with server.client() as c:
        before = c.get("/datasets").json()
        for name, data in files.items():
            r = c.post("/datasets", files={"file": (f"{name}.h5", data)})
            assert r.status_code == 422, (name, r.text)
            assert r.json()["code"] == Code.INVALID_DATASET
            assert refused[name.rsplit("-", 1)[0] if name[-1].isdigit() else name] in r.json()["error"]
            assert not leaked(r.content), (name, r.text)
        assert c.get("/datasets").json() == before  # nothing stored


def test_an_operators_file_pointing_outside_is_left_out_and_fails_its_job(
    setup: tuple[Server, dict[str, bytes], Path],
) -> None:
    server, _, _ = setup
    with server.client() as c:
        listing = c.get("/datasets")
        assert "evil" not in [d["id"] for d in listing.json()["datasets"]]
        r = c.post("/train", json={"dataset": "evil", "layer_dims": [12288, 2, 1], "iterations": 2,
                                   "activate": False})
        if r.status_code == 202:  # listed by name, refused when read: the job fails saying why
            job = c.get(r.headers["location"]).json()
            for _ in range(200):
                if job["status"] in ("failed", "succeeded", "cancelled"):
                    break
                job = c.get(r.headers["location"]).json()
            assert job["status"] == "failed" and job["reason"] == "invalid_data", job
            assert "external storage" in job["message"], job
            assert not leaked(str(job))
        else:
            assert r.status_code == 422 and not leaked(r.content)


def test_zz_nothing_leaked_to_the_log_or_the_stored_data(setup: tuple[Server, dict[str, bytes], Path]) -> None:
    server, _, _ = setup
    assert not leaked(server.log.read_bytes())
    for stored in (server.data_dir / "datasets").rglob("*"):
        if stored.is_file():
            assert not leaked(stored.read_bytes()), stored
            if stored.suffix == ".npz":
                with np.load(stored) as npz:
                    assert not any(leaked(npz[k].tobytes()) for k in npz.files)


def test_the_cli_refuses_them_too(setup: tuple[Server, dict[str, bytes], Path], tmp_path: Path) -> None:
    _, files, _ = setup
    (tmp_path / "model.npz").write_bytes(course_npz())
    for name in ("external-storage", "external-link", "virtual"):
        (tmp_path / f"{name}.h5").write_bytes(files[name])
        done = subprocess.run(
            [sys.executable, "-m", "model_core", "evaluate", "--params", str(tmp_path / "model.npz"),
             "--data", str(tmp_path / f"{name}.h5")],
            cwd=ROOT, capture_output=True, timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert b"only data stored in the file itself is read" in done.stderr
        assert not leaked(done.stdout + done.stderr)


def test_honest_h5_upload_still_works(setup: tuple[Server, dict[str, bytes], Path]) -> None:
    server, _, _ = setup
    data = h5_bytes(lambda f: f.create_dataset("train_set_y", data=np.array([1, 0, 1, 0]), compression="gzip"))
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/datasets", files={"file": ("ok.h5", data)})
    assert r.status_code == 201, r.text
    assert r.json()["m"] == 4 and r.json()["cats"] == 2
