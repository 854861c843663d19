"""Training jobs: POST /train queues one, GET watches, DELETE cancels."""
from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from model_core import N_FEATURES, RECIPES, ConfigError, TrainConfig, recipe

from ...state.datasets import UnknownDataset
from ...state.jobs import (
    CANCELLED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    JobFinished,
    JobNotFound,
    QueueFull,
    progress_plan,
)
from ...state.logs import request_id
from ..auth import AdminAuth
from ..deps import ServicesDep
from ..errors import ApiError, Code, config_error, error_responses, unknown_dataset
from ..limits import (
    check_layer_count,
    check_memory,
    check_parameters,
    queue_full,
    read_body,
)
from ..schemas import JobList, JobOut, TrainRequest, job_out
from ..uploads import media_type, unsupported_media_type

router = APIRouter(prefix="/train", tags=["train"])

# "the job has already ...": each finished status as a past participle
_FINISHED_VERB = {SUCCEEDED: "succeeded", FAILED: "failed", CANCELLED: "been cancelled"}

JobId = Annotated[str, Path(max_length=64, description="the id POST /train returned")]

_BODY = {
    "requestBody": {
        "required": False,
        "description": (
            "The data set and model_core's hyperparameters, all optional; omitted fields take the "
            "recipe's (`recipe`; by default `photos`, the convolutional net, or `course` when the body "
            "gives `layer_dims`). As `application/json`; an empty body with no Content-Type also means "
            "the defaults. Any other media type is a 415. The new model becomes the active one unless "
            "`activate` is false."
        ),
        "content": {
            "application/json": {
                "schema": TrainRequest.model_json_schema(),
                "examples": {
                    "defaults": {"summary": "the recipe on the default data set", "value": {}},
                    "small": {
                        "summary": "a small, fast model on an uploaded data set",
                        "value": {"dataset": "train_catvnoncat", "layer_dims": [N_FEATURES, 7, 1],
                                  "iterations": 1000, "learning_rate": 0.0075},
                    },
                    "adam": {
                        "summary": "mini-batches with Adam",
                        "value": {"optimizer": "adam", "learning_rate": 0.0005, "epochs": 50, "batch_size": 64},
                    },
                },
            }
        },
    }
}


def _json_expected() -> ApiError:
    return unsupported_media_type("send the training fields as a JSON object with 'Content-Type: "
                                  "application/json', or an empty body for the defaults")


def job_not_found() -> ApiError:
    return ApiError(404, Code.JOB_NOT_FOUND, "no job with this id; GET /train lists the jobs")


def default_recipe(doc: dict[str, Any]) -> str:
    """The recipe a body without one starts from: ``photos`` (the convolutional net, what
    real photographs need), or ``course`` when it describes a fully connected net itself
    (``layer_dims``), which the photos recipe's architecture would contradict."""
    return "course" if "layer_dims" in doc else "photos"


def parse_train_request(body: bytes, max_layers: int) -> tuple[str | None, bool, str, TrainConfig]:
    """(dataset, activate, recipe, config) of a POST /train body; 422 naming the field otherwise.

    The layer count is checked first, on the raw list: a body of 4 million layers is
    refused before anything walks it. The other fields change the recipe's."""
    try:
        doc: Any = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        raise ApiError(422, Code.INVALID_JSON, "the body is not valid JSON; send a JSON object (or nothing)") from None
    if not isinstance(doc, dict):
        raise ApiError(422, Code.VALIDATION_ERROR, "the body must be a JSON object of training fields")
    dataset = doc.pop("dataset", None)
    activate = doc.pop("activate", True)
    if dataset is not None and (not isinstance(dataset, str) or not dataset):
        raise ApiError(422, Code.VALIDATION_ERROR, "dataset: must be a name or id from GET /datasets",
                       field="dataset")
    if not isinstance(activate, bool):
        raise ApiError(422, Code.VALIDATION_ERROR, "activate: must be true or false", field="activate")
    dims = doc.get("layer_dims")
    if isinstance(dims, list):
        check_layer_count(dims, max_layers)
    if isinstance(doc.get("architecture"), list):
        check_layer_count(doc["architecture"], max_layers)
    name = doc.pop("recipe", None)
    if name is None:  # absent or null: the default; false, "", 0 or {} are no recipe's name
        name = default_recipe(doc)
    if not isinstance(name, str) or not name:
        raise ApiError(422, Code.INVALID_CONFIG, f"recipe: must be one of {', '.join(RECIPES)}", field="recipe")
    if dims is not None and not (isinstance(dims, list) and all(type(n) is int for n in dims)):
        raise ApiError(422, Code.INVALID_CONFIG, "layer_dims: must be a list of integers [n_x, n_1, ..., 1]",
                       field="layer_dims")
    try:
        config = recipe(name, doc)
    except ConfigError as e:
        raise config_error(e) from None
    except TypeError:
        raise ApiError(422, Code.INVALID_CONFIG, "a training field has the wrong type; see /docs") from None
    if config.layer_dims[0] != N_FEATURES:
        raise ApiError(
            422, Code.INVALID_CONFIG,
            f"layer_dims: the first entry (n_x) must be {N_FEATURES}, the size of a 64x64x3 image",
            field="layer_dims",
        )
    return dataset, activate, name, config


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    summary="Queue a training job",
    responses={202: {"description": "queued; Location: /train/{job_id}"},
               **error_responses(401, 403, 408, 413, 415, 422, 429, 503)},
    openapi_extra=_BODY,
    dependencies=[AdminAuth],
)
async def create_job(request: Request, response: Response, services: ServicesDep) -> JobOut:
    settings = services.settings
    content_type = request.headers.get("content-type")
    if content_type is not None and media_type(content_type) != "application/json":
        raise _json_expected()
    body = await read_body(request, settings.max_upload_bytes, "max_upload_bytes")
    if content_type is None and body.strip():
        raise _json_expected()  # `curl -X POST .../train` (nothing at all) is fine: the defaults
    dataset, activate, recipe_name, config = parse_train_request(body, settings.max_layers)
    check_parameters(config, settings.max_parameters)
    # the storage probe and the queue are Redis and S3 in cluster mode: off the event loop
    problem = await run_in_threadpool(services.storage.problem)
    if problem is not None:  # its model could not be saved: say so now, not when it has trained
        raise problem
    name = dataset or services.catalog.default(settings.default_dataset)
    try:
        # a file data set is read once per process to learn its size: not on the event loop
        m, m_dev = await run_in_threadpool(services.catalog.sizes, name)
    except UnknownDataset:
        raise unknown_dataset() from None
    check_memory(config, m, m_dev, settings.trainer_memory)
    total, unit = progress_plan(config)
    try:
        job = await run_in_threadpool(
            services.queue.enqueue, name, config.to_dict(), total=total, unit=unit,
            max_queued=settings.max_queued_jobs,
            options={"activate": activate, "request_id": request_id.get(), "recipe": recipe_name},
        )
    except QueueFull as e:
        raise queue_full(e.limit) from None
    response.headers["Location"] = f"/train/{job.id}"
    return job_out(job)


@router.get("", response_model=JobList, summary="List jobs, newest first")
def list_jobs(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> JobList:
    return JobList(jobs=[job_out(j) for j in services.queue.list(limit, offset)])


@router.get("/{job_id}", response_model=JobOut, summary="A job's status, progress, costs and metrics",
            responses=error_responses(404))
def get_job(job_id: JobId, services: ServicesDep) -> JobOut:
    try:
        return job_out(services.queue.get(job_id))
    except JobNotFound:
        raise job_not_found() from None


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    summary="Cancel a job",
    description="A queued job is cancelled at once (200); a running one is stopped within a fraction of "
    "a second, wherever it is, and produces no model (202: `cancel_requested` is true until it has stopped).",
    responses={202: {"model": JobOut, "description": "running: asked to stop"},
               **error_responses(401, 403, 404, 409, 503)},
    dependencies=[AdminAuth],
)
def cancel_job(job_id: JobId, response: Response, services: ServicesDep) -> JobOut:
    try:
        job = services.queue.cancel(job_id)
    except JobNotFound:
        raise job_not_found() from None
    except JobFinished as e:
        raise ApiError(
            409, Code.JOB_FINISHED, f"the job has already {_FINISHED_VERB[e.status]}; only queued or running "
            "jobs can be cancelled",
            status=e.status,
        ) from None
    if job.status == RUNNING:
        response.status_code = 202
    return job_out(job)
