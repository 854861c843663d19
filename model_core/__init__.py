"""model_core: the course's deep network in NumPy ("Neural Networks and Deep Learning").

Convention, as in the course: one example per column. ``X`` has shape ``(n_x, m)``,
``Y`` shape ``(1, m)``; layer l has ``W{l}`` of shape ``(n_l, n_{l-1})`` and ``b{l}`` of
shape ``(n_l, 1)``; gradients use the same keys with a ``d`` (``dW1``, ``db1``).
Images are 64x64x3 RGB, unrolled in C order (row, column, channel) to 12288-vectors.
A network of layers (``TrainConfig(architecture=...)``, the course's convolutional
chapter) views those columns as images ``(m, n_H, n_W, n_C)``; see architecture.py.
"""
from __future__ import annotations

from .architecture import parameter_shapes
from .backward import backward
from .budget import config_parameter_count, training_memory_bytes
from .config import TrainConfig
from .data import dataset_sha256, load_dataset
from .errors import (
    ConfigError,
    DataError,
    ModelCoreError,
    NotAnImageError,
    ParameterFileError,
    TrainingCancelled,
    TrainingDivergedError,
)
from .forward import forward, predict, predict_proba
from .gradcheck import gradient_check, numerical_gradients
from .images import (
    DEFAULT_MAX_PIXELS,
    N_FEATURES,
    ImageTooLargeError,
    ImageTooSmallError,
    image_size,
    image_to_vector,
    images_to_matrix,
)
from .initializers import initialize_parameters
from .losses import compute_cost
from .metadata import MAX_METADATA_BYTES, check_metadata
from .model import Model, build_metadata
from .persistence import load_parameters, metadata_json, metadata_record, save_parameters, serialize
from .metrics import classification_report
from .plot import cost_svg
from .recipes import RECIPES, recipe
from .saliency import input_gradient, saliency_map
from .training import RECORD_EVERY, train

__version__ = "0.1.0"

# The package's public API: what the service (and any other caller) imports. Submodules
# declare their own __all__ too, for the course's functions and the tests.
__all__ = [
    # errors; one raised for a limit carries .limit, .value, .actual (see ModelCoreError)
    "ConfigError",
    "DataError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "ModelCoreError",
    "NotAnImageError",
    "ParameterFileError",
    "TrainingCancelled",
    "TrainingDivergedError",
    # images and data sets: X (12288, m) uint8, Y (1, m) int64
    "DEFAULT_MAX_PIXELS",
    "N_FEATURES",
    "dataset_sha256",
    "image_size",
    "image_to_vector",
    "images_to_matrix",
    "load_dataset",
    # the network: the course's functions, training and its budget
    "RECIPES",
    "RECORD_EVERY",
    "TrainConfig",
    "backward",
    "classification_report",
    "compute_cost",
    "cost_svg",
    "config_parameter_count",
    "forward",
    "gradient_check",
    "initialize_parameters",
    "input_gradient",
    "numerical_gradients",
    "parameter_shapes",
    "predict",
    "predict_proba",
    "recipe",
    "saliency_map",
    "train",
    "training_memory_bytes",
    # models and their files
    "MAX_METADATA_BYTES",
    "Model",
    "build_metadata",
    "check_metadata",
    "load_parameters",
    "metadata_json",
    "metadata_record",
    "save_parameters",
    "serialize",
]
