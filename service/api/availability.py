"""Why there is no model yet, and what the client can do about it (the 503 of /predict and /health/ready)."""
from __future__ import annotations

from .errors import ApiError
from ..state.jobs import JobQueue


def no_model(queue: JobQueue, code: str) -> ApiError:
    pending = queue.pending()
    if pending:
        job = pending[0]
        percent = f", {100 * job.done // job.total}% done" if job.total and job.status == "running" else ""
        why = (
            f"no model yet: training job {job.id} is {job.status}{percent}; retry in a minute "
            f"(progress: GET /train/{job.id}) or upload parameters with PUT /params"
        )
        extra = {"job_id": job.id}
    else:
        why = (
            "no model yet and no training job is queued: "
            "start one with POST /train or upload parameters with PUT /params"
        )
        extra = {}
    return ApiError(503, code, why, headers={"Retry-After": "30"}, **extra)
