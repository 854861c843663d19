"""A job trains in a child process of the trainer: its result, failures and progress come
back over a pipe, a stop kills it at once, its address space is capped, and a job that
runs out of memory or is killed fails alone while the trainer goes on with the next."""
from __future__ import annotations

import mmap
import os
import pickle
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from model_core import TrainingCancelled
from service.trainer.job_process import JobDied, JobFailed, JobProcess, Send, address_space
from service.settings import Settings
from service.trainer.worker import Trainer

from .conftest import SMALL
from .test_train import wait_for

MiB = 1 << 20
LONG = {"layer_dims": [12288, 2, 1], "iterations": 10_000_000}


def classify(e: BaseException, cap: int) -> tuple[str, str]:
    return type(e).__name__, str(e)


def never() -> bool:
    return False


def job_process() -> int:
    """The one forked child of this process: the job's (forked by whichever thread ran the
    job). Programs the session started (cluster mode's redis-server) run other executables."""
    me = os.readlink("/proc/self/exe")
    children = [int(c) for task in os.listdir("/proc/self/task")
                for c in open(f"/proc/self/task/{task}/children").read().split()]
    forked = [c for c in children if _exe(c) == me]
    assert len(forked) == 1, (children, forked)
    return forked[0]


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:  # gone meanwhile
        return None


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_result_and_the_progress_come_back() -> None:
    def work(send: Send) -> Any:
        for i in range(3):
            send(i)
        return {"W1": np.arange(6.0).reshape(2, 3)}

    seen: list[int] = []
    process = JobProcess(work, classify, 64 * MiB)
    result = process.wait(lambda p: seen.append(p) or False, never)
    process.close()
    assert seen == [0, 1, 2]
    np.testing.assert_array_equal(result["W1"], np.arange(6.0).reshape(2, 3))
    assert gone(process.pid)


def test_a_failure_comes_back_named_with_its_traceback() -> None:
    def work(send: Send) -> Any:
        raise ValueError("bad value")

    process = JobProcess(work, classify, 64 * MiB)
    with pytest.raises(JobFailed) as e:
        process.wait(lambda p: False, never)
    process.close()
    assert (e.value.reason, e.value.message) == ("ValueError", "bad value")
    assert "raise ValueError" in e.value.detail


def test_the_child_is_capped_and_the_parent_is_not() -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)

    def work(send: Send) -> Any:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        room = soft - address_space()
        # anonymous maps go to the kernel (malloc might reuse free heap the process holds)
        mmap.mmap(-1, room // 2).close()
        try:
            mmap.mmap(-1, room + MiB)
        except OSError:  # ENOMEM: over RLIMIT_AS
            return room
        return None

    process = JobProcess(work, classify, 64 * MiB)
    room = process.wait(lambda p: False, never)
    process.close()
    assert room is not None and 60 * MiB < room <= 64 * MiB
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_a_stop_kills_the_child_wherever_it_is() -> None:
    def work(send: Send) -> Any:
        send("started")
        time.sleep(600)  # one long BLAS call, as far as a flag read between steps could tell

    started = threading.Event()
    process = JobProcess(work, classify, 64 * MiB)
    with pytest.raises(TrainingCancelled):
        process.wait(lambda p: started.set() or False, started.is_set)
    assert gone(process.pid)


def test_a_child_that_dies_without_a_word_is_told_apart() -> None:
    def work(send: Send) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    process = JobProcess(work, classify, 64 * MiB)
    with pytest.raises(JobDied, match="SIGKILL"):
        process.wait(lambda p: False, never)
    process.close()


def test_a_job_out_of_memory_fails_and_the_trainer_runs_the_next(
    client: TestClient, make_settings: Callable[..., Settings], dataset_id: str
) -> None:
    # the API's budget (4 GiB) lets the job through; this trainer gives a job 64 MiB, less
    # than the 98 MB of W1 alone: the job runs away all the same, in its own process
    settings = make_settings(trainer_memory=64 * MiB)
    job_id = client.post("/train", json={"dataset": dataset_id, "layer_dims": [12288, 1000, 1],
                                         "iterations": 2}).json()["id"]
    # a trainer process of its own, as the service runs it: a job forked from pytest's process
    # could take heap that process had mapped and freed (hundreds of MB after some tests),
    # past its cap, and succeed
    assert _run_once_in_a_process_of_its_own(settings) == job_id
    trainer = Trainer(settings)
    job = client.get(f"/train/{job_id}").json()
    assert (job["status"], job["reason"], job["model_version"]) == ("failed", "out_of_memory", None)
    assert "CATSVC_TRAINER_MEMORY" in job["message"]
    assert list(job["times"]) == ["queued", "running", "failed"]
    next_id = client.post("/train", json={"dataset": dataset_id, **SMALL}).json()["id"]
    assert trainer.run_once().id == next_id
    assert client.get(f"/train/{next_id}").json()["status"] == "succeeded"


def _run_once_in_a_process_of_its_own(settings: Settings) -> str:
    code = ("import pickle, sys; from service.trainer.worker import Trainer; "
            "job = Trainer(pickle.load(sys.stdin.buffer)).run_once(); print(job.id if job else '-')")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(settings), capture_output=True,
                         check=True, timeout=120).stdout
    return out.decode().strip().splitlines()[-1]


@contextmanager
def long_job(client: TestClient, trainer: Trainer, dataset_id: str) -> Iterator[tuple[str, int]]:
    """A job that would train for hours, run by ``trainer`` in a thread: (its id, its process),
    once it has made progress. The block must end it; the thread is joined after."""
    job_id = client.post("/train", json={"dataset": dataset_id, **LONG}).json()["id"]
    # a daemon: a trainer that cannot end (its record unwritable) never holds the test run open
    worker = threading.Thread(target=trainer.run_once, daemon=True)
    worker.start()
    try:
        wait_for(lambda: client.get(f"/train/{job_id}").json()["progress"]["iteration"] > 0, what="progress")
        yield job_id, job_process()
    except BaseException:
        client.delete(f"/train/{job_id}")  # the test failed: do not leave the job training
        trainer.stop()  # nor the trainer retrying its record
        raise
    finally:
        worker.join(timeout=60)
    assert not worker.is_alive()


def test_a_killed_job_process_fails_alone(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    with long_job(client, trainer, dataset_id) as (job_id, child):
        os.kill(child, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    job = client.get(f"/train/{job_id}").json()
    assert (job["status"], job["reason"]) == ("failed", "crashed")
    assert "SIGKILL" in job["message"]
    next_id = client.post("/train", json={"dataset": dataset_id, **SMALL}).json()["id"]
    assert trainer.run_once().id == next_id
    assert client.get(f"/train/{next_id}").json()["status"] == "succeeded"


def test_a_cancelled_job_leaves_no_process_behind(client: TestClient, trainer: Trainer, dataset_id: str) -> None:
    with long_job(client, trainer, dataset_id) as (job_id, child):
        assert client.delete(f"/train/{job_id}").status_code == 202
    assert client.get(f"/train/{job_id}").json()["status"] == "cancelled"
    assert gone(child)
