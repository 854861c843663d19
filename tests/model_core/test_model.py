"""Model and build_metadata: what a trained model carries, and that it survives a save."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from model_core import initialize_parameters, input_gradient, predict_proba
from model_core.architecture import check_architecture, parameter_shapes
from model_core.config import TrainConfig
from model_core.initializers import initialize_layers
from model_core.model import Model, build_metadata


def test_the_record_keeps_the_history_of_the_run() -> None:
    config = TrainConfig(layer_dims=(12, 3, 1), hidden_activation="tanh", input_norm="per_image")
    history = {"costs": [(0, np.float64(0.69)), (100, 0.25)], "engine": "gram", "seconds": 1.5}
    record = build_metadata(config, history, data_sha256="ab" * 32, metrics={"train_accuracy": 0.9}, dataset="x")
    assert record["costs"] == [[0, 0.69], [100, 0.25]]
    assert all(type(i) is int and type(c) is float for i, c in record["costs"])  # JSON, not numpy
    assert (record["engine"], record["train_seconds"]) == ("gram", 1.5)
    assert record["layer_dims"] == [12, 3, 1] and record["config"] == config.to_dict()
    assert (record["hidden_activation"], record["input_norm"]) == ("tanh", "per_image")
    assert record["metrics"] == {"train_accuracy": 0.9} and record["data_sha256"] == "ab" * 32
    assert record["dataset"] == "x"


def test_a_history_without_costs_records_none() -> None:
    record = build_metadata(TrainConfig(layer_dims=(12, 1)), {})
    assert record["costs"] == [] and record["engine"] is None and record["metrics"] == {}


def test_a_model_predicts_with_its_own_activation_norm_and_dtype() -> None:
    parameters = {k: v.astype(np.float32) for k, v in initialize_parameters([12, 4, 1], "xavier", seed=3).items()}
    model = Model(parameters, {"hidden_activation": "tanh", "input_norm": "per_image"})
    X = np.random.RandomState(1).randint(0, 256, (12, 6))
    P = model.predict_proba(X)
    assert P.dtype == np.float32 and P.shape == (6,)
    np.testing.assert_array_equal(P, predict_proba(X, parameters, "tanh", "per_image")[0])
    plain = Model(parameters)  # no metadata: the course's relu and X / 255
    np.testing.assert_array_equal(plain.predict_proba(X), predict_proba(X, parameters, "relu", "scale")[0])


def test_a_saved_model_loads_back_the_same(tmp_path: Path) -> None:
    parameters = initialize_parameters([12, 3, 1], "he", seed=2)
    record = build_metadata(TrainConfig(layer_dims=(12, 3, 1), hidden_activation="tanh"), {"costs": [(0, 0.7)]})
    Model(parameters, record).save(str(tmp_path / "m.npz"))
    loaded = Model.load(tmp_path / "m.npz")
    assert loaded.layer_dims == [12, 3, 1] and loaded.hidden_activation == "tanh"
    for key, value in parameters.items():
        np.testing.assert_array_equal(loaded.parameters[key], value)
    X = np.random.RandomState(0).randint(0, 256, (12, 5))
    np.testing.assert_array_equal(loaded.predict_proba(X), Model(parameters, record).predict_proba(X))


def test_a_layer_networks_input_gradient_goes_through_its_architecture() -> None:
    """Model.input_gradient passes the metadata's architecture on, as predict_proba does."""
    specs = check_architecture([
        {"type": "input", "n_H": 4, "n_W": 4, "n_C": 3},
        {"type": "conv2d", "n_C": 2, "f": 3, "pad": 1, "activation": "relu"},
        {"type": "global_avg_pool"},
        {"type": "dense", "n": 1, "activation": "sigmoid"},
    ])
    parameters = initialize_layers(parameter_shapes(specs), "he", seed=2)
    model = Model(parameters, {"input_norm": "scale", "architecture": specs})
    X = np.random.RandomState(3).uniform(0, 255, size=(48, 2))  # (n_H n_W n_C, m)
    G = model.input_gradient(X)
    assert G.shape == (48, 2) and np.abs(G).max() > 0
    np.testing.assert_array_equal(G, input_gradient(X, parameters, input_norm="scale", architecture=specs))
