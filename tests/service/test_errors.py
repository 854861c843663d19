"""One error shape for every 4xx and 5xx, made in service/api/errors.py."""
from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from model_core import ConfigError, DataError, ParameterFileError
from service.api.app import create_app
from service.api.errors import Code, from_model_core
from service.settings import Settings


def test_unknown_path_is_404_in_the_error_shape(client: TestClient) -> None:
    r = client.get("/no/such/thing?secret=SECRET")
    assert r.status_code == 404
    assert r.json() == {"error": "no such endpoint; see /docs for the list", "code": Code.NOT_FOUND}


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    r = client.delete("/predict")
    assert r.status_code == 405
    assert r.json()["code"] == Code.METHOD_NOT_ALLOWED
    assert "DELETE" in r.json()["error"]
    assert r.headers["allow"] == "POST"


def test_request_validation_names_the_parameter_without_its_value(client: TestClient) -> None:
    r = client.get("/train", params={"limit": "SECRET"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == Code.VALIDATION_ERROR
    assert body["error"].startswith("limit: ")
    assert "SECRET" not in r.text


def test_an_unexpected_error_is_500_with_an_id_only(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internal detail SECRET")

    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR, "service.errors"):
        r = c.get("/boom")
    assert r.status_code == 500 and r.headers["connection"] == "close"
    body = r.json()
    assert body["code"] == Code.INTERNAL
    assert body["id"] in body["error"]
    assert "SECRET" not in r.text
    assert any(body["id"] in rec.getMessage() and rec.exc_info for rec in caplog.records)  # traceback logged


def test_model_core_errors_map_to_422() -> None:
    err = from_model_core(ConfigError("seed must be an integer from 0 to 9", field="seed", got="SECRET"))
    assert (err.status, err.message, err.extra) == (422, "seed must be an integer from 0 to 9", {"field": "seed"})
    # a reason that does not start with its field gets the field in front
    assert from_model_core(ConfigError("needs 64x64x3 images", field="augment", got=3)).message == (
        "augment: needs 64x64x3 images"
    )
    assert from_model_core(ConfigError("x")).status == 422
    assert from_model_core(ParameterFileError("W1 bad")).code == Code.INVALID_PARAMS
    assert from_model_core(DataError("no Y")).code == Code.INVALID_DATASET

