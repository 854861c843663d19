"""Data sets: GET /datasets lists them, POST /datasets uploads one."""
from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from model_core import DataError, ImageTooLargeError

from ...state.datasets import DatasetInfo
from ...state.storage import writing
from ..auth import AdminAuth
from ..deps import ServicesDep
from ..errors import ApiError, Code, error_responses
from ..limits import env_name
from ..schemas import DatasetList, DatasetOut
from ..uploads import receive_file

router = APIRouter(prefix="/datasets", tags=["datasets"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "The data set as a multipart/form-data part named `file` (`curl -F file=@train_catvnoncat.h5 "
            "http://127.0.0.1:8000/datasets`); any other body type is a 415. Accepted: the course's .h5 "
            "(a `*_x`/`*_y` pair), an .npz with arrays `X` ((12288, m) or (m, 64, 64, 3), values 0..255) "
            "and `Y` (m labels, 1 = cat), or a .zip of `cat/` and `non-cat/` folders of images. The "
            "format is detected from the content."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


# load_dataset's limit arguments (a DataError's .limit) -> the settings that raise them
_LIMIT_SETTINGS = {"max_bytes": "max_dataset_bytes", "max_members": "max_dataset_members",
                   "max_pixels": "max_image_pixels"}


def dataset_error(e: DataError, upload_path: str) -> ApiError:
    """422 with model_core's message, or 413 naming the setting when a limit was hit."""
    # model_core names the file it read: our temporary path, which means nothing to the client
    # a member of it is named "path:Y" ("the uploaded file: Y: ..."), the file itself "path: ..."
    message = re.sub(re.escape(upload_path) + r":(?! )", "the uploaded file: ", str(e))
    message = message.replace(upload_path, "the uploaded file")
    arg = e.limit or ""
    if arg not in _LIMIT_SETTINGS:
        if isinstance(e, ImageTooLargeError):  # a bound of model_core's or Pillow's own: no setting raises it
            if e.value is None:
                return ApiError(413, Code.DATASET_TOO_LARGE, message)
            return ApiError(413, Code.DATASET_TOO_LARGE, message, limit=e.value)
        return ApiError(422, Code.INVALID_DATASET, message)
    # the message names the argument ("max_bytes=1000", "(max_pixels)"); the client needs the setting
    env = env_name(_LIMIT_SETTINGS[arg])
    named = message.replace(f"{arg}={e.value}", f"{e.value} ({env})", 1)
    if named == message:
        named = message.replace(arg, env, 1)
    return ApiError(413, Code.DATASET_TOO_LARGE, named, limit=e.value)


def _out(info: DatasetInfo) -> DatasetOut:
    return DatasetOut(**info.to_dict())


@router.get("", response_model=DatasetList, summary="List the data sets a job can train on")
def list_datasets(services: ServicesDep) -> DatasetList:
    catalog = services.catalog
    infos = catalog.list()
    return DatasetList(default=catalog.default(services.settings.default_dataset), datasets=[_out(i) for i in infos])


@router.get("/{dataset_id}", response_model=DatasetOut, summary="One data set", responses=error_responses(404))
def get_dataset(dataset_id: Annotated[str, Path(max_length=200)], services: ServicesDep) -> DatasetOut:
    for info in services.catalog.list():
        if info.id == dataset_id:
            return _out(info)
    raise ApiError(404, Code.DATASET_NOT_FOUND, "no data set with this name or id; GET /datasets lists them")


@router.post(
    "",
    status_code=201,
    response_model=DatasetOut,
    summary="Upload a data set (course .h5, .npz or .zip of cat/ and non-cat/ folders)",
    responses={200: {"model": DatasetOut, "description": "the same data was already uploaded"},
               **error_responses(401, 403, 408, 413, 415, 422, 503)},
    openapi_extra=_UPLOAD_BODY,
    dependencies=[AdminAuth],
)
async def upload_dataset(request: Request, response: Response, services: ServicesDep) -> DatasetOut:
    settings = services.settings
    with writing(settings.tmp_dir):  # its temporary file: read-only or full is StorageUnavailable
        received = await receive_file(
            request, settings.tmp_dir, limit=settings.max_dataset_bytes, setting="max_dataset_bytes"
        )
    try:
        info, created = await run_in_threadpool(services.catalog.add_upload, received.path, received.filename)
    except DataError as e:
        raise dataset_error(e, str(received.path)) from None
    finally:
        received.path.unlink(missing_ok=True)
    response.headers["Location"] = f"/datasets/{info.id}"
    if not created:
        response.status_code = 200
    return _out(info)
