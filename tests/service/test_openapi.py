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
    from service.api.app import create_app
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
    assert set(properties) == set(defaults) | {"dataset", "activate", "recipe"}
    for name, value in defaults.items():
        assert properties[name].get("default") == value, name
    assert content["examples"]


def test_every_documented_error_is_the_real_shape_with_an_example(client) -> None:  # type: ignore[no-untyped-def]
    from service.api.errors import Code

    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(spec) and "detail" not in spec["components"]["schemas"]["ErrorBody"]["properties"]
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["error", "code"]
    codes = {v for k, v in vars(Code).items() if k.isupper()}
    seen = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                if response.get("content") == {}:  # the status alone, as the V2 health answers are
                    assert path.startswith("/v2/") and path.endswith(("/ready", "/live")), (method, path, status)
                    continue
                content = response["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
                assert content["example"]["code"] in codes and content["example"]["error"], (method, path, status)
                seen += 1
    assert seen > 40
    # and the real 422 of a route FastAPI used to document as {"detail": [...]}
    r = client.get("/train/" + "x" * 100)
    assert r.status_code == 422 and set(r.json()) >= {"error", "code"} and "detail" not in r.json()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_nothing_from_outside(client, page: str) -> None:  # type: ignore[no-untyped-def]
    """Every file a docs page loads is the service's own: it works offline."""
    import re

    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert not re.search(r"(src|href)=[\"'](https?:)?//", html), html
    assert "validator.swagger.io" not in html and "fonts.googleapis" not in html
    assets = re.findall(r"(?:src|href)=[\"'](/docs/assets/[^\"']+)", html) + re.findall(r"url: ?'(/docs/assets/[^']+)'", html)
    assert assets, html
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200 and len(got.content) > 1000, asset
    assert "/openapi.json" in html


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_no_other_site_may_frame_the_docs(client, page: str) -> None:  # type: ignore[no-untyped-def]
    """Swagger UI's "Try it out" requests are same-origin: framed, they could be clicked for
    the user (the attack probe found neither header)."""
    r = client.get(page)
    assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert r.headers["x-frame-options"] == "DENY"
