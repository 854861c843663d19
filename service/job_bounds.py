"""The bounds of a training job, checked by POST /train before anything is queued.

Three numbers bound a job: its layers (``CATSVC_MAX_LAYERS``), its parameters
(``CATSVC_MAX_PARAMETERS``) and its memory, which model_core.budget estimates from the
config and the data set's size, against what the trainer gives one job
(``CATSVC_TRAINER_MEMORY``; the job's process is capped there too, see
service/job_process.py). Each refusal is a 422 naming the limit and its setting.
"""
from __future__ import annotations

from collections.abc import Sized

from model_core import TrainConfig, config_parameter_count, training_memory_bytes

from .errors import ApiError, Code
from .limits import env_name

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
