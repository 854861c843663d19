"""schemathesis against the app's own OpenAPI document, in-process (ASGI): for every
operation, generated requests (valid and invalid) never get a 5xx, and every response
matches the documented schema, status codes, content types and headers. Tokens are
configured, so schemathesis also checks that a request without one is refused.

Bounded: at most 25 examples per operation (the operations run one after another).
Excluded: no operation. One check, on six operations only: "positive data acceptance"
(a schema-valid request must not get a 4xx) on the uploads, POST /train and the two V2
infer endpoints. Their schema says "a binary file" or "a list of integers", and what
makes the content valid cannot be said in a schema (the bytes must decode as an image, a
data set or an npz; layer_dims must start at 12288 and end at 1; the data set must
exist; a V2 tensor's data must fill its shape), so the check would flag every correct
400/413/415/422 they give. Every other check runs on them, and
the hostile-file tests check those answers one by one.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from service.api.app import create_app
from service.settings import Settings

from .realserver import backend_settings, seed_models

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ADMIN, PREDICT = "admin-token-0123456789abcdef", "predict-token-0123456789abcdef"
METRICS = "metrics-token-0123456789abcdef"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    data: Path = tmp_path_factory.mktemp("schemathesis") / "data"
    seed_models(data, count=2)
    app = create_app(Settings(**backend_settings(data), data_dir=data, workers=1, admin_token=ADMIN, predict_token=PREDICT,
                              metrics_token=METRICS, max_queued_jobs=4, access_log=False, allowed_hosts=("testserver",)))
    with TestClient(app):  # runs the app's start-up
        yield app


@pytest.fixture(scope="module")
def api_schema(app: object) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# Each operation is its own hypothesis run over valid and invalid requests. (Not
# schemathesis' pytest plugin: its lazy fixture loader does not work with pytest 9.)
MAX_EXAMPLES = 25
# ... and evaluate, whose valid-looking data set names are mostly unknown ones (422 UNKNOWN_DATASET)
CONTENT_CHECKED = {"POST /predict", "POST /datasets", "PUT /params", "POST /train", "POST /models/{version}/evaluate",
                   "POST /v2/models/{model_name}/infer", "POST /v2/models/{model_name}/versions/{model_version}/infer"}


def check_operation(strategy: st.SearchStrategy, token: str, excluded: list) -> Callable[[], None]:
    """One hypothesis run over ``strategy``'s requests, each sent and validated."""

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded)

    return check


def test_the_api_keeps_its_openapi_promises(api_schema: schemathesis.BaseSchema) -> None:
    failures, tested = [], []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))
        token = PREDICT if operation.path == "/predict" or operation.path.endswith("/infer") else ADMIN
        token = METRICS if operation.path == "/metrics" else token
        excluded = [positive_data_acceptance] if operation.label in CONTENT_CHECKED else []
        try:
            check_operation(strategy, token, excluded)()
        except Exception as e:  # noqa: BLE001  # schemathesis' failure groups: all reported together
            failures.append(f"{operation.label}: {e}")
        tested.append(operation.label)
    assert len(tested) >= 15, tested
    assert not failures, "\n\n".join(failures)
