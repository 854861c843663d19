"""A trained model: parameters plus what it takes to use them (activation, input norm)."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .architecture import layer_dims as architecture_dims
from .config import TrainConfig
from .persistence import Source, load_parameters, save_parameters
from .prediction import predict_proba_raw
from .saliency import input_gradient

__all__ = ["Model", "build_metadata"]


@dataclass(frozen=True)
class Model:
    """Parameters ``W1, b1, ...`` and their metadata; predicts from raw pixels 0..255."""

    parameters: Mapping[str, np.ndarray]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def layer_dims(self) -> list[int]:
        if self.architecture is not None:
            return architecture_dims(self.architecture)
        L = sum(1 for k in self.parameters if k.startswith("W"))
        return [self.parameters["W1"].shape[1]] + [self.parameters[f"W{l}"].shape[0] for l in range(1, L + 1)]

    @property
    def hidden_activation(self) -> str:
        return str(self.metadata.get("hidden_activation", "relu"))

    @property
    def input_norm(self) -> str:
        return str(self.metadata.get("input_norm", "scale"))

    @property
    def architecture(self) -> list[dict[str, Any]] | None:
        """The layer specs of a network of layers (architecture.py); None for the course's net."""
        return self.metadata.get("architecture")

    @property
    def tta(self) -> str:
        """Test-time augmentation: none, or flip (P(cat) averaged with the mirror image's)."""
        return str(self.metadata.get("tta", "none"))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(cat) for raw pixel columns ``X`` (n_x, m), values 0..255; returns (m,)."""
        return predict_proba_raw(X, self.parameters, input_norm=self.input_norm,
                                 hidden_activation=self.hidden_activation,
                                 architecture=self.architecture, tta=self.tta)

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """dP(cat)/dX (n_x, m) for raw pixel columns ``X`` (n_x, m): the saliency of each pixel,
        through the model's input norm and test-time flip (saliency.py)."""
        return input_gradient(X, self.parameters, input_norm=self.input_norm,
                              hidden_activation=self.hidden_activation,
                              architecture=self.architecture, tta=self.tta)

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
        # a network of layers says so; the course's net keeps the record it always had
        **({"architecture": [dict(s) for s in config.architecture]} if config.architecture else {}),
        **({"tta": config.tta} if config.tta != "none" else {}),
        **extra,
    }
