"""POST /train refuses a job that cannot fit before anything is queued: too many layers,
too many parameters, or a memory estimate over the trainer's budget, each a 422 naming
its setting and the limit."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model_core import TrainConfig
from model_core.budget import training_memory_bytes
from service.api.app import create_app
from service.api.errors import Code
from service.settings import Settings

from .conftest import SMALL

MiB = 1 << 20


def refused(c: TestClient, fields: dict[str, Any], code: str, setting: str, limit: int) -> dict[str, Any]:
    """POST /train is a 422 with ``code`` naming ``setting`` and ``limit``, and queues nothing."""
    r = c.post("/train", json=fields)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == code and body["limit"] == limit
    assert setting in body["error"]
    assert c.get("/train").json()["jobs"] == []
    return body


def test_the_issues_four_million_layers_are_refused_before_anything_walks_them(client: TestClient) -> None:
    body = refused(client, {"layer_dims": [12288] + [1] * 4_000_000}, Code.TOO_MANY_LAYERS,
                   "CATSVC_MAX_LAYERS", 64)
    assert body["field"] == "layer_dims" and "4000000 layers" in body["error"]


def test_the_layer_limit_is_a_setting(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(max_layers=3))) as c:
        refused(c, {"layer_dims": [12288, 4, 4, 4, 1]}, Code.TOO_MANY_LAYERS, "CATSVC_MAX_LAYERS", 3)
        assert c.post("/train", json={"layer_dims": [12288, 4, 4, 1]}).status_code == 202


@pytest.mark.parametrize("dims", [[12288, 10_000, 1], [12288, 1_000_000, 1]], ids=["10k-units", "1M-units"])
def test_the_issues_wide_layers_are_refused_by_their_parameter_count(client: TestClient, dims: list[int]) -> None:
    body = refused(client, {"layer_dims": dims}, Code.TOO_MANY_PARAMETERS, "CATSVC_MAX_PARAMETERS", 16_000_000)
    assert body["parameters"] == dims[1] * (dims[0] + 1) + dims[1] + 1


def test_a_parameter_count_past_64_bits_is_refused_with_its_exact_count(client: TestClient) -> None:
    # each width within 64 bits, their 1.2e22 parameters past them: more than orjson writes,
    # once a 500 in place of the 422
    dims = [12288, 10**18, 1]
    body = refused(client, {"layer_dims": dims}, Code.TOO_MANY_PARAMETERS, "CATSVC_MAX_PARAMETERS", 16_000_000)
    assert body["parameters"] == dims[1] * (dims[0] + 1) + dims[1] + 1 > 2**64


def test_the_largest_model_within_the_parameter_limit_is_queued(client: TestClient) -> None:
    # 1300 units: 15,976,101 parameters, under 16 million
    assert client.post("/train", json={"layer_dims": [12288, 1300, 1]}).status_code == 202


def test_a_job_over_the_memory_budget_is_refused_with_its_estimate(make_settings: Callable[..., Settings],
                                                                   dataset_id: str) -> None:
    fields = {"dataset": dataset_id, "layer_dims": [12288, 1000, 1], "optimizer": "adam", "iterations": 5}
    estimate = training_memory_bytes(TrainConfig.from_dict({k: v for k, v in fields.items() if k != "dataset"}), 24)
    with TestClient(create_app(make_settings(trainer_memory=512 * MiB))) as c:
        body = refused(c, fields, Code.JOB_TOO_LARGE, "CATSVC_TRAINER_MEMORY", 512 * MiB)
        assert body["estimate"] == estimate > 512 * MiB
        # the same model on mini-batches of float32 fits
        assert c.post("/train", json={**fields, "dtype": "float32", "epochs": 1}).status_code == 202


def test_the_estimate_uses_the_data_sets_size(make_settings: Callable[..., Settings], dataset_id: str) -> None:
    # per-image standardization holds X as floats three times over: 24 examples fit in
    # 64 MiB, the 300 (and 200 to evaluate) of the synthetic set do not
    fields = {**SMALL, "input_norm": "per_image"}
    with TestClient(create_app(make_settings(trainer_memory=64 * MiB))) as c:
        assert c.post("/train", json={"dataset": dataset_id, **fields}).status_code == 202
        r = c.post("/train", json={"dataset": "synthetic", **fields})
        assert r.status_code == 422 and r.json()["code"] == Code.JOB_TOO_LARGE


def test_an_unknown_data_set_is_still_422(client: TestClient) -> None:
    r = client.post("/train", json={"dataset": "0123456789abcdef"})
    assert r.status_code == 422 and r.json()["code"] == Code.UNKNOWN_DATASET
