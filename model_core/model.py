"""A trained model: parameters plus what it takes to use them (activation, input norm)."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import TrainConfig
from .forward import forward
from .normalization import normalize
from .persistence import Source, load_parameters, save_parameters


@dataclass(frozen=True)
class Model:
    """Parameters ``W1, b1, ...`` and their metadata; predicts from raw pixels 0..255."""

    parameters: Mapping[str, np.ndarray]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def layer_dims(self) -> list[int]:
        L = sum(1 for k in self.parameters if k.startswith("W"))
        return [self.parameters["W1"].shape[1]] + [self.parameters[f"W{l}"].shape[0] for l in range(1, L + 1)]

    @property
    def hidden_activation(self) -> str:
        return str(self.metadata.get("hidden_activation", "relu"))

    @property
    def input_norm(self) -> str:
        return str(self.metadata.get("input_norm", "scale"))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(cat) for raw pixel columns ``X`` (n_x, m), values 0..255; returns (m,)."""
        Xn = normalize(X, self.input_norm, self.parameters["W1"].dtype)
        AL, _ = forward(Xn, self.parameters, self.hidden_activation)
        return AL[0]

    @classmethod
    def load(cls, source: Source) -> Model:
        parameters, metadata = load_parameters(source)
        return cls(parameters, metadata)

    def save(self, path: str) -> None:
        save_parameters(path, self.parameters, self.metadata)


def build_metadata(
    config: TrainConfig,
    history: Mapping[str, Any],
    data_sha256: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata record stored with a trained model (JSON-serializable)."""
    from . import __version__

    return {
        "layer_dims": list(config.layer_dims),
        "hidden_activation": config.hidden_activation,
        "output_activation": "sigmoid",
        "input_norm": config.input_norm,
        "config": config.to_dict(),
        "metrics": dict(metrics or {}),
        "costs": [[int(i), float(c)] for i, c in history.get("costs", [])],
        "engine": history.get("engine"),
        "train_seconds": history.get("seconds"),
        "data_sha256": data_sha256,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model_core_version": __version__,
        **extra,
    }
