"""Every limit the service enforces, in one place; each error names the limit and its setting.

The values come from :class:`service.settings.Settings`; a client that hits one learns
the number and the environment variable that raises it.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sized

from starlette.requests import Request

from model_core import TrainConfig, config_parameter_count, training_memory_bytes

from ..settings import env_name
from .errors import ApiError, Code


def body_too_large(limit: int, setting: str) -> ApiError:
    return ApiError(
        413,
        Code.BODY_TOO_LARGE,
        f"the request body is larger than the limit of {limit} bytes ({env_name(setting)}); send less data",
        # the rest of the body will not be read: keeping the connection would mean
        # receiving and dropping it, up to the declared (any) length
        limit=limit, headers={"Connection": "close"},
    )


def check_declared_length(request: Request, limit: int, setting: str) -> None:
    """Refuse at once a body whose Content-Length is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise body_too_large(limit, setting)


async def limited_stream(request: Request, limit: int, setting: str) -> AsyncIterator[bytes]:
    """The body's chunks, stopping with a 413 as soon as more than ``limit`` bytes came;
    415 for a compressed body (read as it is, a gzip would be taken for the data itself)."""
    codings = {c.strip().lower() for v in request.headers.getlist("content-encoding") for c in v.split(",")}
    if codings - {"identity", ""}:
        raise ApiError(415, Code.UNSUPPORTED_MEDIA_TYPE, "send the body uncompressed: this server takes no "
                       "Content-Encoding")
    check_declared_length(request, limit, setting)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit, setting)
        if chunk:
            yield chunk


async def read_body(request: Request, limit: int, setting: str) -> bytes:
    """The whole body, read under ``limit`` bytes (never buffered past it)."""
    chunks = [chunk async for chunk in limited_stream(request, limit, setting)]
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_batch(count: int, limit: int, what: str, setting: str = "max_batch") -> None:
    if count > limit:
        raise ApiError(
            413,
            Code.BATCH_TOO_LARGE,
            f"{count} {what} in one request; the limit is {limit} ({env_name(setting)}): split the batch",
            limit=limit,
        )


def image_too_large(index: int, limit: int, noun: str = "file") -> ApiError:
    return ApiError(
        413,
        Code.IMAGE_TOO_LARGE,
        f"{noun} #{index} has more pixels than the limit of {limit} pixels "
        f"({env_name('max_image_pixels')}); send a smaller image",
        limit=limit,
        index=index,
    )


def request_pixels_too_large(total: int, limit: int) -> ApiError:
    """The images of one request hold more pixels than the limit (counted from their headers)."""
    return ApiError(
        413,
        Code.REQUEST_PIXELS_TOO_LARGE,
        f"the images of this request hold {total} pixels, more than the limit of {limit} pixels per "
        f"request ({env_name('max_request_pixels')}); send fewer or smaller images per request",
        limit=limit,
        pixels=total,
    )


def predict_queue_full(threads: int, queue: int) -> ApiError:
    """Every prediction thread of this worker is busy and ``queue`` requests already wait."""
    return ApiError(
        503,
        Code.PREDICT_QUEUE_FULL,
        f"this worker is busy: {threads} predictions are running and {queue} are waiting, the limit "
        f"({env_name('predict_threads')}, {env_name('predict_queue')}); retry in a second",
        limit=queue,
        headers={"Retry-After": "1"},
    )


def image_too_small(index: int, limit: int, noun: str = "file") -> ApiError:
    return ApiError(
        422,
        Code.IMAGE_TOO_SMALL,
        f"{noun} #{index} is smaller than {limit} pixels on a side "
        f"({env_name('min_image_side')}); send a real picture",
        limit=limit,
        index=index,
    )


def queue_full(limit: int) -> ApiError:
    return ApiError(
        429,
        Code.QUEUE_FULL,
        f"{limit} training jobs are already queued, the limit ({env_name('max_queued_jobs')}); "
        "retry when one has started, or cancel one with DELETE /train/{job_id}",
        limit=limit,
        headers={"Retry-After": "30"},
    )


# -- parameter files: model_core's load_parameters bounds them from their headers, unread
# (max_bytes: CATSVC_MAX_PARAMS_BYTES, a 413; max_arrays: this, a 422 like any bad file)
MAX_PARAM_ARRAYS = 201  # W1..W100, b1..b100 and the metadata: far more than any model here


def params_too_large(limit: int) -> ApiError:
    return ApiError(
        413, Code.PARAMS_TOO_LARGE,
        f"the parameter file's arrays hold more than the limit of {limit} bytes uncompressed "
        f"({env_name('max_params_bytes')}); send a smaller model",
        limit=limit,
    )


# The bounds of a training job, checked by POST /train before anything is queued.
#
# Three numbers bound a job: its layers (``CATSVC_MAX_LAYERS``), its parameters
# (``CATSVC_MAX_PARAMETERS``) and its memory, which model_core.budget estimates from the
# config and the data set's size, against what the trainer gives one job
# (``CATSVC_TRAINER_MEMORY``; the job's process is capped there too, see
# service/trainer/job_process.py). Each refusal is a 422 naming the limit and its setting.

MiB = 1 << 20


def check_layer_count(layer_dims: Sized, limit: int) -> None:
    """At most ``limit`` layers with weights (len(layer_dims) - 1); checked on the raw list,
    before a config is built from it (4 million entries must cost nothing)."""
    layers = len(layer_dims) - 1
    if layers > limit:
        raise ApiError(
            422, Code.TOO_MANY_LAYERS,
            f"layer_dims: {layers} layers; the limit is {limit} ({env_name('max_layers')}): use fewer layers",
            limit=limit, field="layer_dims",
        )


def check_parameters(config: TrainConfig, limit: int) -> None:
    """At most ``limit`` weights and biases in all."""
    count = config_parameter_count(config)
    if count > limit:
        raise ApiError(
            422, Code.TOO_MANY_PARAMETERS,
            f"layer_dims: {count} parameters; the limit is {limit} ({env_name('max_parameters')}): "
            f"use fewer units (the first layer alone has n_1 x {config.layer_dims[0] + 1})",
            limit=limit, field="layer_dims", parameters=count,
        )


def check_memory(config: TrainConfig, m: int, m_dev: int, budget: int) -> None:
    """The job's estimated peak memory on m examples (and m_dev to evaluate) within ``budget`` bytes."""
    estimate = training_memory_bytes(config, m, m_dev)
    if estimate > budget:
        raise ApiError(
            422, Code.JOB_TOO_LARGE,
            f"the job would need about {_mib(estimate)} of memory on this data set's {m} examples; "
            f"a job may use {_mib(budget)} ({env_name('trainer_memory')}, {budget} bytes): use fewer "
            "units, mini-batches (epochs, batch_size), dtype float32, a smaller data set, or raise the limit",
            limit=budget, estimate=estimate,
        )


def _mib(n: int) -> str:
    return f"{n / MiB:,.0f} MiB"
