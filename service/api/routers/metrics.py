"""GET /metrics: the whole service's Prometheus metrics (every API worker and the trainer),
in the text format; open unless CATSVC_METRICS_TOKEN is set (README, "Metrics")."""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...state import metrics
from ...state.metrics.scrape import CONTENT_TYPE, render
from ..auth import check_metrics
from ..errors import ApiError, Code, error_responses
from ..services import Services

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of every process of the service (text format 0.0.4)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
                     "description": "the metrics, one sample a line"},
               **error_responses(401, 403, 404)},
    openapi_extra={"security": [{"MetricsToken": []}, {"AdminToken": []}]},
)
async def metrics_endpoint(request: Request) -> Response:
    check_metrics(request)
    services: Services = request.app.state.services
    if not metrics.enabled:
        raise ApiError(404, Code.NOT_FOUND, "metrics are off (CATSVC_METRICS=false)")
    services.models.current()  # this worker looks at the active pointer first: the gauge is fresh
    # off the event loop: the queue's depth is a Redis read in cluster mode (retried for a
    # second while Redis is down), and the files' merge reads every process's file
    body = await run_in_threadpool(render, services.settings.metrics_directory, services.queue)
    return Response(body, media_type=CONTENT_TYPE)
