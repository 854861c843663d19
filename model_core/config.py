"""The training configuration: one frozen dataclass, saved inside every model file."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from .activations import check_activation
from .architecture import check_architecture
from .architecture import layer_dims as architecture_dims
from .augment import TTAS
from .errors import ConfigError
from .initializers import INIT_METHODS, check_layer_dims
from .normalization import check_input_norm
from .optimizers import OPTIMIZERS

__all__ = [
    "AUGMENTS",
    "DEFAULT_LAYER_DIMS",
    "DTYPES",
    "MAX_SHIFT",
    "TrainConfig",
]

DTYPES = ("float32", "float64")
DEFAULT_LAYER_DIMS = (12288, 20, 7, 5, 1)
AUGMENTS = ("none", "flip")
MAX_SHIFT = 16


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a training run. The defaults are the project's recipe.

    The recipe is the course's 4-layer model (README, "Results"): it reproduces the
    course's costs exactly and trains in well under a second.
    """

    # [n_x, n_1, ..., n_L]; n_x = 64 * 64 * 3 for the course's images, n_L = 1.
    layer_dims: tuple[int, ...] = DEFAULT_LAYER_DIMS
    # activation of the hidden layers; the output is always a sigmoid
    hidden_activation: str = "relu"
    # zeros | scaled (randn*0.01) | course (randn/sqrt(n_prev)) | he | xavier
    init: str = "course"
    # seeds the initialization (as np.random.seed did in the course), shuffling and flips
    seed: int = 1
    # gd | momentum | rmsprop | adam
    optimizer: str = "gd"
    learning_rate: float = 0.0075
    beta: float = 0.9  # momentum's decay
    beta1: float = 0.9  # Adam's first-moment decay
    beta2: float = 0.999  # Adam's and RMSprop's second-moment decay
    epsilon: float = 1e-8  # Adam's and RMSprop's guard against division by 0
    # full-batch gradient steps; used when epochs is None
    iterations: int = 2500
    # passes over shuffled mini-batches of batch_size; when set, iterations is ignored
    epochs: int | None = None
    batch_size: int = 64
    # L2 strength lambda: cost += lambda / (2m) * sum ||W||^2
    l2: float = 0.0
    dtype: str = "float64"
    # scale: pixels / 255 as in the course; per_image: standardize each image
    input_norm: str = "scale"
    # none | flip (random horizontal flips, seeded)
    augment: str = "none"
    # The fields below belong to networks given as a list of layer specs (architecture.py);
    # their defaults leave the course's fully connected net of layer_dims as it is.
    # None: the fully connected net of layer_dims; else a list of layer specs (conv2d,
    # pooling, dropout, dense, ...), and layer_dims is derived from it
    architecture: tuple[dict[str, Any], ...] | None = None
    # with an architecture: random shifts of up to this many pixels (zeros fill in), seeded
    shift: int = 0
    # with an architecture: dW += weight_decay * W at every step (PyTorch's Adam
    # weight_decay on the weights; the course's l2 at batch size B is weight_decay = l2 / B)
    weight_decay: float = 0.0
    # test-time augmentation, saved with the model: none, or flip (P(cat) averaged over the
    # image and its mirror image)
    tta: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_dims", check_layer_dims(self.layer_dims))
        check_activation(self.hidden_activation)
        check_input_norm(self.input_norm)
        _one_of("init", self.init, INIT_METHODS)
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("dtype", self.dtype, DTYPES)
        _one_of("augment", self.augment, AUGMENTS)
        _int_in("seed", self.seed, 0, 2**32 - 1)
        _int_in("iterations", self.iterations, 1, 10_000_000)
        if self.epochs is not None:
            _int_in("epochs", self.epochs, 1, 1_000_000)
        _int_in("batch_size", self.batch_size, 1, 1_000_000)
        _float_in("learning_rate", self.learning_rate, 0.0, 100.0, open_low=True)
        _float_in("l2", self.l2, 0.0, 1e6)
        for name in ("beta", "beta1", "beta2"):
            _float_in(name, getattr(self, name), 0.0, 1.0, open_high=True)
        _float_in("epsilon", self.epsilon, 0.0, 1.0, open_low=True)
        _one_of("tta", self.tta, TTAS)
        _int_in("shift", self.shift, 0, MAX_SHIFT)
        _float_in("weight_decay", self.weight_decay, 0.0, 1.0)
        if self.architecture is not None:
            self._derive_layer_dims()
            return
        for name, off in (("shift", 0), ("weight_decay", 0.0)):
            if getattr(self, name) != off:
                raise ConfigError(f"{name} needs an architecture (the course's fully connected path "
                                  "keeps its own options)", field=name, got=getattr(self, name))
        for name, value in (("augment", self.augment), ("tta", self.tta)):
            if value == "flip" and self.layer_dims[0] != 64 * 64 * 3:
                raise ConfigError(
                    f"{name}='flip' needs 64x64x3 images (layer_dims[0] = 12288)",
                    field=name, got=self.layer_dims[0],
                )

    def _derive_layer_dims(self) -> None:
        """The architecture, checked and completed; layer_dims follows from it (architecture.py)."""
        specs = tuple(check_architecture(self.architecture))
        derived = tuple(architecture_dims(specs))
        if self.layer_dims not in (derived, DEFAULT_LAYER_DIMS):
            raise ConfigError(f"with an architecture, layer_dims follows from it ({list(derived)}): leave it out",
                              field="layer_dims", got=list(self.layer_dims))
        object.__setattr__(self, "architecture", specs)
        object.__setattr__(self, "layer_dims", derived)

    def __hash__(self) -> int:
        # the architecture's specs are dicts: hash the JSON form, which equal configs share
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    @property
    def layers(self) -> bool:
        """True for a network given as an architecture (the layers engine trains it)."""
        return self.architecture is not None

    @property
    def mini_batch(self) -> bool:
        return self.epochs is not None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layer_dims"] = list(self.layer_dims)
        if self.architecture is not None:
            d["architecture"] = [dict(spec) for spec in self.architecture]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict; unknown keys raise a ConfigError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}", field=unknown[0])
        d = dict(d)
        for key in ("layer_dims", "architecture"):
            if isinstance(d.get(key), list):
                d[key] = tuple(d[key])
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}", field=name, got=value)


def _int_in(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}", field=name, got=value)


def _float_in(
    name: str, value: object, low: float, high: float, open_low: bool = False, open_high: bool = False
) -> None:
    ok = False
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        ok = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        lo, hi = ("(" if open_low else "["), (")" if open_high else "]")
        raise ConfigError(f"{name} must be a number in {lo}{low}, {high}{hi}", field=name, got=value)
