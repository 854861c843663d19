"""``POST /predict?explain=true``: per image, the 64x64 picture the model saw and its saliency.

The saliency map is model_core's: the gradient of P(cat) with respect to the raw pixels
(0..255, through the model's input norm and test-time flip), max of |gradient| over the
three channels, each image scaled to 0..255 (``saliency_map``). Both pictures travel as
PNG in base64. CPU work: it runs on a pool thread, never inline.
"""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from model_core import Model, saliency_map

from ..settings import Settings
from .errors import ApiError, Code
from .limits import check_batch

SIDE = 64  # the course's images: 64x64x3
EXPLAIN_VALUES = {"true": True, "1": True, "false": False, "0": False}


def explain_flag(value: str | None) -> bool:
    """The ``explain`` query parameter: absent or false/0 is no, true/1 is yes; else 422."""
    if value is None:
        return False
    flag = EXPLAIN_VALUES.get(value.lower())
    if flag is None:
        raise ApiError(422, Code.VALIDATION_ERROR, "explain: must be true or false", field="explain")
    return flag


def check_explain_batch(count: int, settings: Settings) -> None:
    check_batch(count, min(settings.max_explain_batch, settings.max_batch), "images to explain",
                "max_explain_batch" if settings.max_explain_batch < settings.max_batch else "max_batch")


def png_base64(pixels: np.ndarray) -> str:
    """A (64, 64) grey or (64, 64, 3) RGB uint8 picture as a base64 PNG."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def explanations(model: Model, X: np.ndarray) -> list[dict[str, str]]:
    """For each column of X (12288, m), raw pixels: ``image_png`` (what the model saw) and
    ``saliency_png`` (its heat map), both 64x64 PNGs in base64."""
    m = X.shape[1]
    heat = saliency_map(model.input_gradient(X))  # (m, 64, 64) uint8
    pictures = np.clip(np.rint(X), 0, 255).astype(np.uint8).T.reshape(m, SIDE, SIDE, 3)  # (m, 64, 64, 3)
    return [{"image_png": png_base64(pictures[j]), "saliency_png": png_base64(heat[j])} for j in range(m)]
