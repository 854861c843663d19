"""Response bodies (and the documented /train request body), as pydantic models for OpenAPI."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import time
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from model_core import TrainConfig

from ..state.jobs import RUNNING, SUCCEEDED, Job

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


# -- health
class Live(BaseModel):
    status: Literal["live"] = "live"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    version: int
    dataset: str | None = Field(None, description="what the active version was trained on (null: not recorded)")
    synthetic: bool = Field(False, description="true: the active model knows synthetic drawings, not cats")


# -- predictions
class Prediction(BaseModel):
    index: int = Field(description="position of the file part or instance in the request")
    filename: str | None = Field(None, description="the file part's filename (multipart only)")
    label: Literal["cat", "non-cat"]
    probability: float = Field(description="P(cat) as the model computes it; label is cat above 0.5")
    image_png: str | None = Field(None, description="explain=true only: the 64x64 picture the model saw, PNG, base64")
    saliency_png: str | None = Field(
        None, description="explain=true only: |dP(cat)/dpixel|, max over channels, 0..255, 64x64 grey PNG, base64")


class PredictResponse(BaseModel):
    version: int = Field(description="the model version that answered")
    dataset: str | None = Field(description="the data set that version was trained on (null: not recorded)")
    synthetic: bool = Field(description="true: trained on synthetic drawings, it knows drawings, not cats")
    predictions: list[Prediction]


# -- jobs
class Progress(BaseModel):
    iteration: int = Field(description="steps done (iterations, or epochs with mini-batches)")
    total: int
    unit: Literal["iteration", "epoch"]
    percent: float
    cost: float | None
    eta_seconds: float | None = Field(
        description="estimated seconds left while running: null until it can be estimated (a few steps and "
        "half a second after the first one), then from the rate of the steps so far; 0 once succeeded")


class JobOut(BaseModel):
    id: str
    status: Status
    dataset: str
    config: dict[str, Any] = Field(
        description="the TrainConfig the job uses, without the fields that do not apply to it: "
        "iterations for a mini-batch job (epochs set), epochs and batch_size for a full-batch one")
    activate: bool
    times: dict[str, str] = Field(description="ISO time at which the job entered each status it went through")
    progress: Progress
    costs: list[tuple[int, float]] = Field(description="[step, cost] pairs, as the course records them")
    metrics: dict[str, Any] | None = Field(description="train_accuracy, and dev_accuracy with dev_set if any")
    model_version: int | None
    reason: str | None = Field(
        description="why it failed or was cancelled: interrupted, diverged, invalid_data, "
        "unknown_dataset, invalid_config, out_of_memory (over CATSVC_TRAINER_MEMORY while it ran), "
        "crashed (its process was killed), error, cancelled, shutdown"
    )
    message: str | None
    cancel_requested: bool


class JobList(BaseModel):
    jobs: list[JobOut]


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="milliseconds")


# TrainConfig fields that only one kind of run reads (model_core's config.py says so)
_FULL_BATCH_ONLY = ("iterations",)
_MINI_BATCH_ONLY = ("epochs", "batch_size")


def config_view(config: dict[str, Any]) -> dict[str, Any]:
    """A job's config as shown: only the fields that apply to its kind of run.

    The job record (and the model's metadata) keep the whole TrainConfig, which rebuilds it.
    """
    drop = _FULL_BATCH_ONLY if config.get("epochs") is not None else _MINI_BATCH_ONLY
    return {k: v for k, v in config.items() if k not in drop}


def eta_seconds(job: Job, now: float) -> float | None:
    """Seconds left: the trainer's estimate at its last progress write, counted down since."""
    if job.status == SUCCEEDED:
        return 0.0
    if job.status != RUNNING or job.eta is None or job.progress_at is None:
        return None
    return round(max(0.0, job.eta - (now - job.progress_at)), 1)


def job_out(job: Job) -> JobOut:
    times = {"queued": _iso(job.queued_at)}
    if job.started_at is not None:
        times["running"] = _iso(job.started_at)
    if job.finished_at is not None:
        times[job.status] = _iso(job.finished_at)
    return JobOut(
        id=job.id,
        status=job.status,
        dataset=job.dataset,
        config=config_view(job.config),
        activate=bool(job.options.get("activate", True)),
        times={k: v for k, v in times.items() if v is not None},
        progress=Progress(
            iteration=job.done, total=job.total, unit=job.unit,
            percent=round(100.0 * job.done / job.total, 1) if job.total else 0.0,
            cost=job.cost, eta_seconds=eta_seconds(job, time.time()),
        ),
        costs=job.costs,
        metrics=job.metrics,
        model_version=job.model_version,
        reason=job.reason,
        message=job.message,
        cancel_requested=job.cancel_requested,
    )


# -- the POST /train body: TrainConfig's fields, all optional, defaults from model_core
_FIELD_HELP = {
    "layer_dims": "[n_x, n_1, ..., n_L]: n_x must be 12288 (64x64x3 images), n_L must be 1",
    "hidden_activation": "activation of the hidden layers (the output is a sigmoid)",
    "init": "weight initialization",
    "seed": "seeds the initialization, shuffling and flips",
    "optimizer": "gd, momentum, rmsprop or adam",
    "learning_rate": "step size",
    "beta": "momentum's decay",
    "beta1": "Adam's first-moment decay",
    "beta2": "Adam's and RMSprop's second-moment decay",
    "epsilon": "Adam's and RMSprop's guard against division by 0",
    "iterations": "full-batch gradient steps (used when epochs is null)",
    "epochs": "passes over shuffled mini-batches; when set, iterations is ignored",
    "batch_size": "mini-batch size (with epochs)",
    "l2": "L2 regularization strength lambda",
    "dtype": "float32 or float64",
    "input_norm": "scale (pixels / 255, as the course) or per_image (standardize each image)",
    "augment": "none or flip (random horizontal flips)",
    "architecture": "a network of layers: a list of layer specs (input, conv2d, max_pool, avg_pool, "
                    "global_avg_pool, flatten, dropout, dense); null: the fully connected net of layer_dims",
    "shift": "random shifts of up to this many pixels (networks of layers only)",
    "weight_decay": "Adam's weight decay on the weights (networks of layers only)",
    "tta": "none, or flip: P(cat) averaged over the image and its mirror image at prediction time",
}


def _json_type(hint: Any) -> Any:
    if typing.get_origin(hint) is tuple:
        return list[int]
    return hint


def _train_request_model() -> type[BaseModel]:
    defaults = TrainConfig()
    hints = typing.get_type_hints(TrainConfig)
    fields: dict[str, Any] = {
        "dataset": (str | None, Field(None, description="a data set from GET /datasets (name or id); "
                                      "default: the service's default data set")),
        "activate": (bool, Field(True, description="make the new model version active when the job succeeds")),
        "recipe": (str | None, Field(None, description="the named recipe the other fields change: photos (the "
                                     "convolutional net for real photographs) or course (the course's 4-layer "
                                     "net); default: photos, or course when the body gives layer_dims. The "
                                     "defaults shown below are the course recipe's")),
    }
    for f in dataclasses.fields(TrainConfig):
        default = getattr(defaults, f.name)
        if isinstance(default, tuple):
            default = list(default)
        fields[f.name] = (_json_type(hints[f.name]), Field(default, description=_FIELD_HELP.get(f.name)))
    return create_model("TrainRequest", __config__=ConfigDict(extra="forbid"), **fields)


TrainRequest = _train_request_model()


# -- data sets
class DatasetOut(BaseModel):
    id: str = Field(description="what POST /train's dataset takes")
    kind: Literal["synthetic", "file", "upload"]
    m: int
    cats: int
    sha256: str
    dev: str | None = None
    filename: str | None = None
    created_at: str | None = None


class DatasetList(BaseModel):
    default: str = Field(description="the data set of the first job when there is no model")
    datasets: list[DatasetOut]


# -- parameters and models
class ParamsOut(BaseModel):
    version: int
    active: bool
    layer_dims: list[int]
    hidden_activation: str
    output_activation: str
    input_norm: str
    hyperparameters: dict[str, Any] | None = Field(description="the TrainConfig (null for a course file)")
    metrics: dict[str, Any] | None
    created_at: str | None
    data_sha256: str | None
    dataset: dict[str, Any] | None
    source: dict[str, Any] | None
    recipe: str | None = Field(None, description="the named recipe it was trained from (course, photos), if any")
    architecture: list[dict[str, Any]] | None = Field(
        None, description="a network of layers' specs (conv2d, max_pool, ...); null: the fully connected net")
    tta: str | None = Field(None, description="test-time augmentation applied by every prediction (flip), if any")
    shapes: dict[str, list[int]] = Field(description="shape of every W and b")
    values: dict[str, Any] | None = Field(None, description="the arrays as nested lists, with ?include=values")


class ModelOut(BaseModel):
    version: int
    active: bool
    created_at: str | None
    layer_dims: list[int] | None
    source: dict[str, Any] | None
    dataset: dict[str, Any] | None
    metrics: dict[str, Any] | None
    recipe: str | None = Field(None, description="the recipe a job trained it with (null: uploaded, or not recorded)")
    # a stored version whose metadata fails the schema: listed, with the reason, deletable
    unreadable: bool = False
    reason: str | None = None


class ModelList(BaseModel):
    active: int | None
    models: list[ModelOut]


class Activated(BaseModel):
    active: int
    previous: int | None


class Confusion(BaseModel):
    tp: int = Field(description="cats called cats")
    fp: int = Field(description="non-cats called cats")
    fn: int = Field(description="cats called non-cats")
    tn: int = Field(description="non-cats called non-cats")


class Evaluation(BaseModel):
    version: int
    dataset: str = Field(description="the data set evaluated: exactly its examples (a train_ set's test_ twin is "
                         "a data set of its own)")
    m: int = Field(description="examples evaluated")
    accuracy: float
    precision: float = Field(description="tp / (tp + fp); 0 when nothing was called a cat")
    recall: float = Field(description="tp / (tp + fn); 0 when the set holds no cat")
    f1: float
    confusion: Confusion
