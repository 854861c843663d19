"""Model versions: GET /models lists them, POST /models/{version}/activate switches (rollback),
DELETE /models/{version} removes one, POST /models/{version}/evaluate measures one on a data set,
GET /models/{version}/cost.svg draws its training cost."""
from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from model_core import cost_svg

from ...state.protocols import ModelStoreProtocol
from ...state.store import VersionActive, VersionNotFound, VersionUnreadable
from ..auth import PREDICT_SECURITY, AdminAuth, check_predict
from ..deps import ServicesDep, StoreDep
from ..errors import ApiError, Code, error_responses
from ..evaluation import evaluate as evaluate_on
from ..limits import read_body
from ..responses import svg_response
from ..schemas import Activated, Evaluation, ModelList, ModelOut
from ..uploads import media_type, unsupported_media_type

router = APIRouter(prefix="/models", tags=["models"])

VersionPath = Annotated[int, Path(ge=1, description="a version from GET /models")]


def model_not_found() -> ApiError:
    return ApiError(404, Code.MODEL_NOT_FOUND, "no model version with this number; GET /models lists them")


def model_unreadable(e: VersionUnreadable) -> ApiError:
    return ApiError(
        409, Code.MODEL_UNREADABLE,
        f"model version {e.version} is stored but unreadable ({e.reason}); remove it with "
        f"DELETE /models/{e.version}", version=e.version,
    )


def model_out(store: ModelStoreProtocol, version: int, active: int | None) -> ModelOut:
    meta: dict[str, Any] = store.metadata(version)
    return ModelOut(
        version=version,
        active=version == active,
        created_at=meta.get("created_at"),
        layer_dims=meta["layer_dims"],
        source=meta.get("source"),
        dataset=meta.get("dataset"),
        metrics=meta.get("metrics"),
        recipe=meta.get("recipe") if isinstance(meta.get("recipe"), str) else None,
    )


def listed(store: ModelStoreProtocol, version: int, active: int | None) -> ModelOut | None:
    """A version's entry in the listing; an unreadable one says so instead of failing it."""
    try:
        return model_out(store, version, active)
    except VersionNotFound:  # deleted while the listing was made
        return None
    except VersionUnreadable as e:
        return ModelOut(version=version, active=version == active, created_at=None, layer_dims=None,
                        source=None, dataset=None, metrics=None, unreadable=True, reason=e.reason)


@router.get("", response_model=ModelList, summary="All model versions, newest first")
def list_models(store: StoreDep) -> ModelList:
    active = store.active_version()
    entries = [listed(store, v, active) for v in reversed(store.versions())]
    return ModelList(active=active, models=[e for e in entries if e is not None])


@router.get("/{version}", response_model=ModelOut, summary="One model version", responses=error_responses(404, 409, 422))
def get_model(version: VersionPath, store: StoreDep) -> ModelOut:
    try:
        return model_out(store, version, store.active_version())
    except VersionNotFound:
        raise model_not_found() from None
    except VersionUnreadable as e:
        raise model_unreadable(e) from None


@router.delete(
    "/{version}",
    status_code=204,
    summary="Delete a model version (never the active one)",
    description="Its number is never given to another version. Readable or not, any stored version "
    "but the active one can be deleted.",
    responses=error_responses(401, 403, 404, 409, 422, 503),
    dependencies=[AdminAuth],
)
async def delete_model(version: VersionPath, store: StoreDep) -> Response:
    try:
        await run_in_threadpool(store.delete, version)
    except VersionNotFound:
        raise model_not_found() from None
    except VersionActive:
        raise ApiError(409, Code.MODEL_ACTIVE, f"version {version} is the active one; activate another "
                       "version first (POST /models/{version}/activate)") from None
    return Response(status_code=204)


@router.post(
    "/{version}/activate",
    response_model=Activated,
    summary="Make a version the active one (rollback)",
    description="Atomic: requests in flight finish on the model they started with; new ones use this one.",
    responses=error_responses(401, 403, 404, 409, 422, 503),
    dependencies=[AdminAuth],
)
async def activate(version: VersionPath, store: StoreDep) -> Activated:
    previous = store.active_version()
    try:
        await run_in_threadpool(store.activate, version)
    except VersionNotFound:
        raise model_not_found() from None
    except VersionUnreadable as e:
        raise model_unreadable(e) from None
    return Activated(active=version, previous=previous)


def _evaluate_dataset(body: bytes) -> str:
    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(422, Code.INVALID_JSON, 'the body is not valid JSON; send {"dataset": "<id>"}') from None
    if isinstance(doc, dict) and set(doc) - {"dataset"}:  # counted, not named: the keys are the client's
        raise ApiError(422, Code.VALIDATION_ERROR, f"{len(set(doc) - {'dataset'})} unknown field(s); the body "
                       'is {"dataset": "<id>"} alone')
    if not isinstance(doc, dict) or "dataset" not in doc or not isinstance(doc["dataset"], str) or not doc["dataset"]:
        raise ApiError(422, Code.VALIDATION_ERROR, "dataset: send {\"dataset\": \"<id>\"}, a name or id from "
                       "GET /datasets", field="dataset")
    return doc["dataset"]


@router.post(
    "/{version}/evaluate",
    response_model=Evaluation,
    summary="Accuracy, precision, recall, F1 and confusion matrix of a version on a data set",
    description='Body: `{"dataset": "<a name or id from GET /datasets>"}` as application/json. Every example of '
    "that set is predicted on the worker's prediction threads, as /predict, 256 at a time (a /predict meanwhile "
    "waits for 256 examples, not for the set; the largest data sets allowed take seconds). Takes the predict "
    "token, as /predict does.",
    responses=error_responses(401, 403, 404, 409, 413, 415, 422, 503),
    openapi_extra={"security": PREDICT_SECURITY, "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "required": ["dataset"], "additionalProperties": False,
                   "properties": {"dataset": {"type": "string", "minLength": 1,
                                              "description": "a name or id from GET /datasets"}}},
        "examples": {"synthetic": {"summary": "the synthetic drawings", "value": {"dataset": "synthetic"}}}}}}},
)
async def evaluate(version: VersionPath, request: Request, services: ServicesDep) -> Evaluation:
    check_predict(request)
    if media_type(request.headers.get("content-type", "")) != "application/json":
        raise unsupported_media_type('send {"dataset": "<id>"} as application/json')
    key = _evaluate_dataset(await read_body(request, services.settings.max_upload_bytes, "max_upload_bytes"))
    try:
        loaded = await request.app.state.model_versions.get(version)
    except VersionNotFound:
        raise model_not_found() from None
    except VersionUnreadable as e:
        raise model_unreadable(e) from None
    m, report = await evaluate_on(services.pool, loaded.model, services.catalog, key)
    return Evaluation(version=version, dataset=key, m=m, accuracy=report["accuracy"], precision=report["precision"],
                      recall=report["recall"], f1=report["f1"], confusion=report["confusion"])


@router.get(
    "/{version}/cost.svg",
    summary="A version's training cost curve as an SVG image",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **error_responses(404, 409, 422)},
)
def cost_curve(version: VersionPath, store: StoreDep) -> Response:
    try:
        meta = store.metadata(version)
    except VersionNotFound:
        raise model_not_found() from None
    except VersionUnreadable as e:
        raise model_unreadable(e) from None
    # a version never changes: no costs now means none ever (an upload without a history), and
    # its curve may be cached (a deleted version's number is never reused)
    svg = cost_svg(meta.get("costs") or [], title=f"cost of version {version}", empty="no cost history in this version")
    return svg_response(svg, "public, max-age=86400")
