"""GET /health/live and /health/ready: what orchestrators and load balancers ask."""
from __future__ import annotations

from fastapi import APIRouter

from ..availability import no_model
from ..deps import ModelsDep, QueueDep
from ..errors import Code, error_responses
from ..schemas import Live, Ready

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Live, summary="200 while the process runs")
async def live() -> Live:
    return Live()


@router.get(
    "/ready",
    response_model=Ready,
    summary="200 with the active version once a model is loaded; 503 with the reason before",
    responses=error_responses(503),
)
async def ready(models: ModelsDep, queue: QueueDep) -> Ready:
    loaded = models.current()  # loads the active version if this worker has not yet
    if loaded is None:
        raise no_model(queue, Code.NOT_READY)
    return Ready(version=loaded.version)
