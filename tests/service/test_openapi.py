"""The OpenAPI document behind /docs: request examples and every endpoint's error responses."""
from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

ERRORS = {
    ("post", "/predict"): {"401", "403", "408", "413", "415", "422", "503"},
    ("post", "/train"): {"401", "403", "408", "413", "415", "422", "429"},
    ("get", "/train/{job_id}"): {"404"},
    ("delete", "/train/{job_id}"): {"401", "403", "404", "409"},
    ("post", "/datasets"): {"401", "403", "408", "413", "415", "422"},
    ("get", "/params"): {"404", "422", "503"},
    ("get", "/params/download"): {"404", "422", "503"},
    ("put", "/params"): {"401", "403", "408", "413", "415", "422"},
    ("post", "/models/{version}/activate"): {"401", "403", "404", "422"},
    ("get", "/health/ready"): {"503"},
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from service.app import create_app
    from service.settings import Settings

    with TestClient(create_app(Settings(data_dir=tmp_path_factory.mktemp("d"), allowed_hosts=("testserver",)))) as c:
        assert c.get("/docs").status_code == 200
        return c.get("/openapi.json").json()


@pytest.mark.parametrize(("method", "path"), list(ERRORS), ids=lambda v: str(v))
def test_error_responses_are_documented_with_the_error_shape(spec: dict, method: str, path: str) -> None:
    responses = spec["paths"][path][method]["responses"]
    assert ERRORS[(method, path)] <= set(responses)
    for status in ERRORS[(method, path)]:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(spec["components"]["schemas"]["ErrorBody"]["required"]) == {"error", "code"}


def test_predict_documents_a_multipart_upload_and_a_json_example(spec: dict) -> None:
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    file_schema = body["multipart/form-data"]["schema"]["properties"]["file"]
    assert file_schema["items"]["format"] == "binary"
    example = body["application/json"]["examples"]["grey"]["value"]
    assert len(example["instances"][0]) == 12288
    assert "curl -F file=@cat.jpg" in spec["paths"]["/predict"]["post"]["requestBody"]["description"]


def test_train_documents_every_hyperparameter_with_model_core_s_defaults(spec: dict) -> None:
    from model_core import TrainConfig

    content = spec["paths"]["/train"]["post"]["requestBody"]["content"]["application/json"]
    properties = content["schema"]["properties"]
    defaults = TrainConfig().to_dict()
    assert set(properties) == set(defaults) | {"dataset", "activate"}
    for name, value in defaults.items():
        assert properties[name].get("default") == value, name
    assert content["examples"]
