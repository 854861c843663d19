"""A training job watched: GET /train/{id}/events (server-sent events) and /train/{id}/cost.svg."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from model_core import cost_svg

from ...state.jobs import FINISHED, Job, JobNotFound
from ..deps import ServicesDep
from ..errors import error_responses
from ..responses import svg_response
from ..streams import job_events
from .train import JobId, job_not_found

router = APIRouter(prefix="/train", tags=["train"])

SVG = "image/svg+xml"


@router.get(
    "/{job_id}/events",
    summary="A job's progress as server-sent events, until it ends",
    description=(
        "`text/event-stream`: `progress` events (`status`, `percent`, `iteration`, `total`, `unit`, `cost`, "
        "`eta_seconds`, and `costs`: the `[step, cost]` points new since the last event), then one `end` "
        "event with the whole job as `GET /train/{id}` shows it, and the stream closes. At most "
        "CATSVC_MAX_EVENT_STREAMS open per API worker (503 TOO_MANY_EVENT_STREAMS)."
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(404, 503)},
)
async def events(job_id: JobId, services: ServicesDep) -> StreamingResponse:
    queue = services.queue

    def read(sent: int) -> Job:
        return queue.get_since(job_id, sent)

    def whole() -> Job:
        return queue.get(job_id)

    try:
        await run_in_threadpool(read, 1 << 62)  # whether it exists: no cost point read
    except JobNotFound:
        raise job_not_found() from None
    slots = services.event_streams
    slots.acquire()  # released by the stream when it ends, however it ends
    settings = services.settings
    interval = min(max(settings.progress_interval, 0.1), 1.0)
    try:
        stream = job_events(read, whole, slots, interval, str(settings.stopping_file))
        # no-store: a proxy must not cache a live stream; X-Accel-Buffering: nginx passes it through
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    except BaseException:
        slots.release()
        raise


@router.get(
    "/{job_id}/cost.svg",
    summary="A job's cost curve as an SVG image",
    response_class=Response,
    responses={200: {"content": {SVG: {}}}, **error_responses(404)},
)
def cost_curve(job_id: JobId, services: ServicesDep) -> Response:
    try:
        job = services.queue.get(job_id)
    except JobNotFound:
        raise job_not_found() from None
    ended = job.status in FINISHED  # a job that ended without a cost never will have one
    svg = cost_svg(job.costs, title=f"cost of job {job.id} ({job.status})",
                   empty="no cost recorded" if ended else "no cost recorded yet")
    # a running job's curve grows: never cached; a finished one's is final, but small
    return svg_response(svg, "no-cache")
