"""Turning a /predict body into pixel columns X (12288, m), and probabilities into answers.

The checks are vectorized (numpy over the whole batch); a slow per-value scan runs only
to name the first bad value of a body already known to be bad. Every function here is
CPU work that runs on a pool thread, or inline when bounded tiny (service.api.compute).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from model_core import (
    N_FEATURES,
    DataError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    image_size,
    image_to_vector,
)

from ..settings import Settings
from ..state import metrics
from .errors import ApiError, Code
from .limits import check_batch, image_too_large, image_too_small, request_pixels_too_large
from .multipart import Part
from .uploads import FILE_FIELD, empty_file, missing_file

THRESHOLD = 0.5  # P(cat) above this is a cat, as model_core.predict decides
INSTANCES_HELP = (
    f'send {{"instances": [[{N_FEATURES} numbers], ...]}}: pixel values 0..255 of 64x64x3 RGB images, '
    "unrolled in row, column, channel order"
)


# -- images
@dataclass(frozen=True)
class ImageLimits:
    """What one /predict may send: pixels of one image and of all, fewest on a side; and
    what its errors call image #j (``noun`` #j: "file" of a multipart body, V2's tensor
    element)."""

    max_pixels: int  # CATSVC_MAX_IMAGE_PIXELS
    max_request_pixels: int  # CATSVC_MAX_REQUEST_PIXELS
    min_side: int  # CATSVC_MIN_IMAGE_SIDE
    noun: str = "file"

    @classmethod
    def of(cls, settings: Settings, noun: str = "file") -> ImageLimits:
        return cls(settings.max_image_pixels, settings.max_request_pixels, settings.min_image_side, noun)


def file_parts(parts: list[Part], max_batch: int) -> list[Part]:
    """The ``file`` parts, at least one and at most ``max_batch``, none of them empty."""
    files = [p for p in parts if p.name == FILE_FIELD]
    if not files:
        raise missing_file()
    check_batch(len(files), max_batch, "files")
    for j, part in enumerate(files):
        if not part.data:
            raise empty_file(j)
    return files


def small_image_column(data: bytes, limits: ImageLimits, at_most: int) -> np.ndarray | None:
    """X (12288, 1) of one image whose decoding produces at most ``at_most`` pixels (a JPEG's
    after its DCT scaling); None, with only its header read, if more, or if it is above a
    limit (the caller then decodes it, or names the limit, under the request's rules)."""
    start = time.perf_counter()
    try:
        vector = image_to_vector(data, max_pixels=min(limits.max_pixels, limits.max_request_pixels),
                                 min_side=limits.min_side, max_decoded_pixels=at_most)
    except ImageTooLargeError:
        return None
    except DataError as e:
        raise _image_error(0, e, limits) from None
    metrics.decoded(time.perf_counter() - start)
    return vector[:, np.newaxis]  # (12288, 1)


def images_to_columns(files: list[Part], limits: ImageLimits) -> np.ndarray:
    """The images decoded: X (12288, m) uint8, image j in column j.

    When the per-image limit alone cannot keep the request within its pixel budget, every
    image's header is read first and the request refused (413) before anything is decoded.
    """
    m = len(files)
    if m * limits.max_pixels > limits.max_request_pixels:
        total = sum(_declared_pixels(j, part.data, limits) for j, part in enumerate(files))
        if total > limits.max_request_pixels:
            raise request_pixels_too_large(total, limits.max_request_pixels)
    rows = np.empty((m, N_FEATURES), dtype=np.uint8)  # one image per row: contiguous writes
    for j, part in enumerate(files):
        start = time.perf_counter()
        try:
            rows[j] = image_to_vector(part.data, max_pixels=limits.max_pixels, min_side=limits.min_side)  # (12288,)
        except DataError as e:
            raise _image_error(j, e, limits) from None
        metrics.decoded(time.perf_counter() - start)
    return rows.T  # X (12288, m)


def _declared_pixels(index: int, data: bytes, limits: ImageLimits) -> int:
    """Width x height of image #index from its header, checked against the per-image limits."""
    size = image_size(data)
    if size is None:
        # model_core says what is wrong; a one-pixel limit stops it before any decoding
        try:
            image_to_vector(data, max_pixels=1, min_side=limits.min_side)
        except ImageTooLargeError:  # it opened there: a bomb, refused by Pillow's own guard
            raise image_too_large(index, limits.max_pixels, limits.noun) from None
        except DataError as e:
            raise _image_error(index, e, limits) from None
        return 1
    width, height = size
    if min(width, height) < limits.min_side:
        raise image_too_small(index, limits.min_side, limits.noun)
    if width * height > limits.max_pixels:
        raise image_too_large(index, limits.max_pixels, limits.noun)
    return width * height


def _image_error(index: int, e: DataError, limits: ImageLimits) -> ApiError:
    if isinstance(e, ImageTooLargeError) and e.limit == "MAX_PYTHON_DECODED_PIXELS":  # model_core's own bound
        message = str(e).removeprefix("image bytes: ")
        return ApiError(413, Code.IMAGE_TOO_LARGE, f"{limits.noun} #{index}: {message}", limit=e.value, index=index)
    if isinstance(e, ImageTooLargeError):
        # the setting, also when Pillow's own guard fired: that fires at open, before our check,
        # for any picture far past the setting (30000x30000), so the setting is what to fix
        return image_too_large(index, limits.max_pixels, limits.noun)
    if isinstance(e, ImageTooSmallError):
        return image_too_small(index, limits.min_side, limits.noun)
    if isinstance(e, NotAnImageError):  # no image at all: 415; a broken one: 422
        return ApiError(
            415, Code.NOT_AN_IMAGE,
            f"{limits.noun} #{index} is not an image Pillow can read; send PNG, JPEG, GIF, WebP, BMP, TIFF, ...",
            index=index,
        )
    message = str(e).removeprefix("image bytes: ")
    return ApiError(422, Code.INVALID_IMAGE, f"{limits.noun} #{index}: {message}", index=index)


# -- JSON instances
def _bad(message: str, **extra: Any) -> ApiError:
    return ApiError(422, Code.INVALID_INSTANCES, message, **extra)


def instances_to_columns(body: bytes, max_batch: int) -> np.ndarray:
    """``{"instances": [[12288 numbers], ...]}`` -> X (12288, m) float64, values checked 0..255."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses numbers past float64 (1e400) as it does broken syntax
        raise ApiError(422, Code.INVALID_JSON, f"the body is not valid JSON (or holds a number past float64's "
                                               f"range); {INSTANCES_HELP}") from None
    if not isinstance(doc, dict) or set(doc) != {"instances"}:
        raise _bad(f"the body must be an object with the one field 'instances'; {INSTANCES_HELP}")
    instances = doc["instances"]
    if not isinstance(instances, list) or not instances:
        raise _bad(f"instances must be a non-empty list; {INSTANCES_HELP}")
    if not isinstance(instances[0], list) and len(instances) == N_FEATURES:  # before the batch's count
        raise _bad(f"instances must be a list of instances, each a list of {N_FEATURES} numbers; this is one "
                   f"instance's {N_FEATURES} numbers: wrap it in brackets, {{\"instances\": [[...]]}}")
    check_batch(len(instances), max_batch, "instances")
    for i, instance in enumerate(instances):  # a loop over instances, not over pixels
        if not isinstance(instance, list):
            raise _bad(f"instance {i}: must be a list of {N_FEATURES} numbers", index=i)
        if len(instance) != N_FEATURES:
            raise _bad(f"instance {i}: has {len(instance)} values; expected {N_FEATURES} (64x64x3)", index=i)
    # numpy would quietly turn "12" into 12.0, true into 1.0 and null into nan: a body with
    # a string (more quotes than the key's two), a boolean or a null gets the exact scan
    if body.count(b'"') > 2 or b"true" in body or b"false" in body or b"null" in body:
        _raise_first_non_number(instances)
    try:
        # the common body, integer pixels: bytes() converts and range-checks a list of ints
        # in C, 5x faster than np.array; a float or a value outside 0..255 raises, and the
        # body takes the general path below
        rows = b"".join([bytes(instance) for instance in instances])
        return np.frombuffer(rows, dtype=np.uint8).reshape(len(instances), N_FEATURES).T  # (12288, m)
    except (TypeError, ValueError):
        pass
    X = np.empty((len(instances), N_FEATURES))  # (m, 12288) float64
    try:
        # row by row, not np.array(instances): one call would hold the GIL, and so the
        # worker's event loop, for the whole batch (0.2 s for 256 instances here)
        for i, instance in enumerate(instances):
            X[i] = instance
    except (ValueError, TypeError):
        _raise_first_non_number(instances)
        raise _bad(f"instances must hold numbers only; {INSTANCES_HELP}") from None
    bad = (X < 0) | (X > 255)  # (m, 12288)
    if bad.any():
        row, col = (int(k) for k in np.unravel_index(int(np.argmax(bad)), bad.shape))
        raise _bad(f"instance {row}: element {col} is out of range; pixel values must be 0..255", index=row)
    return X.T  # (12288, m)


def _raise_first_non_number(instances: list[Any]) -> None:
    for i, instance in enumerate(instances):
        for j, v in enumerate(instance):
            if type(v) not in (int, float):  # bool is not a number here
                raise _bad(f"instance {i}: element {j} is not a number; pixel values must be numbers 0..255", index=i)


# -- answers
def predictions(proba: np.ndarray, filenames: list[str | None] | None = None) -> list[dict[str, Any]]:
    names = filenames or [None] * len(proba)
    return [
        {"index": j, "filename": names[j], "label": "cat" if p > THRESHOLD else "non-cat", "probability": float(p)}
        for j, p in enumerate(proba.tolist())
    ]
