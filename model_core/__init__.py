"""model_core: the course's deep network in NumPy ("Neural Networks and Deep Learning").

Convention, as in the course: one example per column. ``X`` has shape ``(n_x, m)``,
``Y`` shape ``(1, m)``; layer l has ``W{l}`` of shape ``(n_l, n_{l-1})`` and ``b{l}`` of
shape ``(n_l, 1)``; gradients use the same keys with a ``d`` (``dW1``, ``db1``).
Images are 64x64x3 RGB, unrolled in C order (row, column, channel) to 12288-vectors.
A network of layers (``TrainConfig(architecture=...)``, the course's convolutional
chapter) views those columns as images ``(m, n_H, n_W, n_C)``; see architecture.py.
"""
from __future__ import annotations

from .backward import backward
from .config import TrainConfig
from .errors import (
    ConfigError,
    DataError,
    ModelCoreError,
    NotAnImageError,
    ParameterFileError,
    TrainingCancelled,
    TrainingDivergedError,
)
from .data import ImageTooLargeError, ImageTooSmallError, dataset_sha256, image_to_vector, images_to_matrix, load_dataset
from .forward import forward, predict, predict_proba
from .initializers import initialize_parameters
from .losses import compute_cost
from .gradcheck import gradient_check, numerical_gradients
from .model import Model, build_metadata
from .persistence import load_parameters, save_parameters
from .recipes import RECIPES, recipe
from .training import train

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "ModelCoreError",
    "NotAnImageError",
    "ParameterFileError",
    "TrainConfig",
    "TrainingCancelled",
    "TrainingDivergedError",
    "backward",
    "compute_cost",
    "dataset_sha256",
    "image_to_vector",
    "images_to_matrix",
    "load_dataset",
    "Model",
    "build_metadata",
    "forward",
    "gradient_check",
    "initialize_parameters",
    "load_parameters",
    "numerical_gradients",
    "save_parameters",
    "predict",
    "predict_proba",
    "RECIPES",
    "recipe",
    "train",
]
