"""Named recipes: whole training configurations, one call away.

* ``course``: ``TrainConfig()``, the course's 4-layer fully connected net (its table
  exactly, trained in well under a second by the gram engine).
* ``photos``: a small convolutional net for real photographs (README, "Recipes"): four
  3x3 conv layers of 16-32-64-64 filters with ReLU, 2x2 max pooling after the first three,
  global average pooling, dropout 0.3 (keep_prob 0.7), one sigmoid unit; per-image
  standardization, random flips and shifts of up to 4 pixels, Adam 1e-3 with weight decay
  1e-4, batch 32, 60 epochs, float32, and P(cat) averaged with the mirror image.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import TrainConfig
from .errors import ConfigError

__all__ = [
    "DEFAULT_RECIPE",
    "PHOTOS_ARCHITECTURE",
    "POOL",
    "RECIPES",
    "recipe",
]


def _conv(n_C: int) -> dict[str, Any]:
    return {"type": "conv2d", "n_C": n_C, "f": 3, "stride": 1, "pad": 1, "activation": "relu"}


POOL = {"type": "max_pool", "f": 2, "stride": 2}
PHOTOS_ARCHITECTURE = (
    {"type": "input", "n_H": 64, "n_W": 64, "n_C": 3},
    _conv(16), POOL,  # (m, 32, 32, 16)
    _conv(32), POOL,  # (m, 16, 16, 32)
    _conv(64), POOL,  # (m, 8, 8, 64)
    _conv(64),  # (m, 8, 8, 64)
    {"type": "global_avg_pool"},  # (64, m)
    {"type": "dropout", "keep_prob": 0.7},
    {"type": "dense", "n": 1, "activation": "sigmoid"},  # (1, m)
)

RECIPES: dict[str, TrainConfig] = {
    "course": TrainConfig(),
    "photos": TrainConfig(
        architecture=PHOTOS_ARCHITECTURE, init="he", optimizer="adam", learning_rate=0.001,
        weight_decay=1e-4, epochs=60, batch_size=32, input_norm="per_image", augment="flip", shift=4,
        tta="flip", dtype="float32",
    ),
}
DEFAULT_RECIPE = "course"  # what TrainConfig() is


def recipe(name: str, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The recipe called ``name`` with the fields of ``overrides`` changed (validated as ever).

    Raises ConfigError (field ``recipe``) listing the recipes for an unknown name.
    """
    if name not in RECIPES:
        raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}", field="recipe", got=name)
    return TrainConfig.from_dict({**RECIPES[name].to_dict(), **dict(overrides or {})})
