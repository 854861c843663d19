"""Model versions: GET /models lists them, POST /models/{version}/activate switches (rollback),
DELETE /models/{version} removes one."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from starlette.concurrency import run_in_threadpool

from ...state.protocols import ModelStoreProtocol
from ...state.store import VersionActive, VersionNotFound, VersionUnreadable
from ..auth import AdminAuth
from ..deps import StoreDep
from ..errors import ApiError, Code, error_responses
from ..schemas import Activated, ModelList, ModelOut

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
