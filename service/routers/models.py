"""Model versions: GET /models lists them, POST /models/{version}/activate switches (rollback)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from ..auth import AdminAuth
from ..deps import StoreDep
from ..errors import ApiError, Code, error_responses
from ..schemas import Activated, ModelList, ModelOut
from ..store import ModelStore, VersionNotFound

router = APIRouter(prefix="/models", tags=["models"])

VersionPath = Annotated[int, Path(ge=1, description="a version from GET /models")]


def model_not_found() -> ApiError:
    return ApiError(404, Code.MODEL_NOT_FOUND, "no model version with this number; GET /models lists them")


def model_out(store: ModelStore, version: int, active: int | None) -> ModelOut:
    meta: dict[str, Any] = store.metadata(version)
    return ModelOut(
        version=version,
        active=version == active,
        created_at=meta.get("created_at"),
        layer_dims=meta["layer_dims"],
        source=meta.get("source"),
        dataset=meta.get("dataset"),
        metrics=meta.get("metrics"),
    )


@router.get("", response_model=ModelList, summary="All model versions, newest first")
def list_models(store: StoreDep) -> ModelList:
    active = store.active_version()
    return ModelList(active=active, models=[model_out(store, v, active) for v in reversed(store.versions())])


@router.get("/{version}", response_model=ModelOut, summary="One model version", responses=error_responses(404, 422))
def get_model(version: VersionPath, store: StoreDep) -> ModelOut:
    try:
        return model_out(store, version, store.active_version())
    except VersionNotFound:
        raise model_not_found() from None


@router.post(
    "/{version}/activate",
    response_model=Activated,
    summary="Make a version the active one (rollback)",
    description="Atomic: requests in flight finish on the model they started with; new ones use this one.",
    responses=error_responses(401, 403, 404, 422, 503),
    dependencies=[AdminAuth],
)
async def activate(version: VersionPath, store: StoreDep) -> Activated:
    previous = store.active_version()
    try:
        await run_in_threadpool(store.activate, version)
    except VersionNotFound:
        raise model_not_found() from None
    return Activated(active=version, previous=previous)
