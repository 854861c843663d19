"""GET /health/live and /health/ready: what orchestrators and load balancers ask."""
from __future__ import annotations

import os

from fastapi import APIRouter

from ..deps import ModelsDep, QueueDep, ServicesDep, SettingsDep
from ..errors import ApiError, Code, error_responses, no_model, storage_unavailable
from ..schemas import Live, Ready

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Live, summary="200 while the process runs")
async def live() -> Live:
    return Live()


@router.get(
    "/ready",
    response_model=Ready,
    summary="200 with the active version once a model is loaded; 503 with the reason before, "
    "from the moment the service is asked to stop, and while its data directory is read-only or full",
    responses=error_responses(503),
)
# a plain def: FastAPI runs it on its thread pool, since in cluster mode the storage probe
# (Redis PING, S3 HEAD), the first load of a version and the no-model message reach the
# servers, and an unreachable object store must not stall /health/live and every request
def ready(models: ModelsDep, queue: QueueDep, settings: SettingsDep, services: ServicesDep) -> Ready:
    if os.path.exists(settings.stopping_file):  # made by the supervisor on SIGTERM
        raise ApiError(
            503, Code.SHUTTING_DOWN,
            "the service is shutting down: requests in flight finish, new ones should go elsewhere",
            headers={"Retry-After": "5"},
        )
    problem = services.storage.problem()  # statvfs and access, at most once a second
    if problem is not None:
        raise storage_unavailable(problem)
    loaded = models.current()  # loads the active version if this worker has not yet
    if loaded is None:
        raise no_model(queue, Code.NOT_READY)
    return Ready(version=loaded.version, dataset=loaded.dataset, synthetic=loaded.synthetic)
