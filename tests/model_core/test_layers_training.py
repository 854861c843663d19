"""The layers engine, its config fields, augmentation, recipes, and CNN models on disk."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from model_core import (
    Model,
    ParameterFileError,
    TrainConfig,
    build_metadata,
    load_parameters,
    predict,
    predict_proba,
    save_parameters,
    train,
)
from model_core.augment import mirror, random_flip, random_shift
from model_core.errors import ConfigError, TrainingCancelled
from model_core.recipes import PHOTOS_ARCHITECTURE, RECIPES, recipe

# a small CNN on 8x8x3 images: fast enough to train in a test
SMALL = (
    {"type": "input", "n_H": 8, "n_W": 8, "n_C": 3},
    {"type": "conv2d", "n_C": 4, "f": 3, "pad": 1},
    {"type": "max_pool"},
    {"type": "conv2d", "n_C": 6, "f": 3, "stride": 2, "pad": 1},
    {"type": "global_avg_pool"},
    {"type": "dropout", "keep_prob": 0.8},
    {"type": "dense", "n": 1, "activation": "sigmoid"},
)


def blobs(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cats have a bright 3x3 square somewhere in the red channel; others do not. (192, m) uint8."""
    rng = np.random.RandomState(seed)
    Y = (rng.rand(1, m) < 0.5).astype(np.int64)
    imgs = rng.randint(0, 120, (m, 8, 8, 3))
    r, c = rng.randint(0, 6, m), rng.randint(0, 6, m)
    for dy in range(3):
        for dx in range(3):
            imgs[np.arange(m), r + dy, c + dx, 0] += 135 * Y[0]
    return imgs.reshape(m, -1).T.astype(np.uint8), Y


def small_config(**changes) -> TrainConfig:
    base = dict(architecture=SMALL, init="he", optimizer="adam", learning_rate=0.01, epochs=25, batch_size=16,
                input_norm="per_image", augment="flip", shift=1, weight_decay=1e-4, dtype="float32")
    return TrainConfig(**{**base, **changes})


def test_a_small_cnn_learns_and_generalizes() -> None:
    X, Y = blobs(240, 1)
    X_dev, Y_dev = blobs(120, 2)
    params, history = train(X, Y, small_config(), X_dev=X_dev, Y_dev=Y_dev)
    assert history["engine"] == "layers"
    costs = [c for _, c in history["costs"]]
    assert len(costs) == 25 and costs[-1] < 0.6 * costs[0]
    assert history["dev_accuracy"] > 0.85
    assert params["W1"].shape == (3, 3, 3, 4) and params["b1"].shape == (1, 1, 1, 4)
    assert params["W3"].shape == (1, 6) and {p.dtype for p in params.values()} == {np.dtype(np.float32)}


def test_seeded_runs_repeat_exactly_and_seeds_differ() -> None:
    X, Y = blobs(40, 3)
    config = small_config(epochs=2)
    a, _ = train(X, Y, config)
    b, _ = train(X, Y, config)
    c, _ = train(X, Y, config.replace(seed=2))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W1"], c["W1"])


def test_full_batch_and_cancellation() -> None:
    X, Y = blobs(30, 4)
    _, history = train(X, Y, small_config(epochs=None, iterations=120, optimizer="gd", learning_rate=0.1))
    assert [i for i, _ in history["costs"]] == [0, 100, 119]
    seen: list[int] = []
    with pytest.raises(TrainingCancelled):
        train(X, Y, small_config(), on_progress=lambda i, n, c: seen.append(i), should_stop=lambda: len(seen) >= 3)
    assert seen == [1, 2, 3]


def test_flip_and_shift_move_pixels_as_they_say() -> None:
    A = np.arange(2 * 5 * 6 * 3, dtype=np.float64).reshape(2, 5, 6, 3)
    assert np.array_equal(mirror(A)[:, :, 0], A[:, :, -1])
    flipped = random_flip(np.repeat(A[:1], 400, axis=0), np.random.RandomState(0))
    n = sum(np.array_equal(f, mirror(A[:1])[0]) for f in flipped)
    assert all(np.array_equal(f, A[0]) or np.array_equal(f, mirror(A[:1])[0]) for f in flipped)
    assert 150 < n < 250
    shifted = random_shift(np.repeat(A[:1], 300, axis=0), np.random.RandomState(1), 2)
    moves = set()
    for out in shifted:  # each is A moved by (dy, dx) in [-2, 2]^2 with zeros where it uncovers
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(out, _moved(A[0], dy, dx))]
        assert len(found) == 1
        moves.add(found[0])
    assert len(moves) == 25  # every shift occurs


def _moved(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(img)
    H, W = img.shape[:2]
    out[max(dy, 0): H + min(dy, 0), max(dx, 0): W + min(dx, 0)] = img[max(-dy, 0): H - max(dy, 0),
                                                                      max(-dx, 0): W - max(dx, 0)]
    return out


@pytest.mark.parametrize(
    ("changes", "field", "match"),
    [
        ({"architecture": SMALL[1:]}, "architecture", r"architecture\[0\]: the first layer"),
        ({"architecture": SMALL[:-1]}, "architecture", "the last layer must be dense"),
        ({"architecture": (*SMALL[:2], {"type": "conv2d"}, *SMALL[2:])}, "architecture", r"\[2\]: a conv2d layer needs n_C"),
        ({"architecture": (*SMALL[:2], {"type": "max_pool", "f": 99}, *SMALL[2:])}, "architecture", "max_pool f must be"),
        ({"architecture": (*SMALL[:2], {"type": "lstm"}, *SMALL[2:])}, "architecture", "type is one of"),
        ({"architecture": (*SMALL[:2], {"type": "flatten", "x": 1}, *SMALL[2:])}, "architecture", "takes only"),
        ({"architecture": (SMALL[0], {"type": "dense", "n": 3}, SMALL[-1])}, "architecture", "needs a column"),
        ({"architecture": (SMALL[0], {"type": "avg_pool", "f": 9, "stride": 1}, *SMALL[-3:])}, "architecture", "larger"),
        ({"architecture": "conv"}, "architecture", "must be a list"),
        ({"layer_dims": (192, 5, 1)}, "layer_dims", "follows from it"),
        ({"shift": 17}, "shift", "shift must be an integer from 0 to 16"),
        ({"weight_decay": -1.0}, "weight_decay", "weight_decay must be a number"),
        ({"tta": "five_crop"}, "tta", "tta must be one of none, flip"),
    ],
)
def test_bad_layer_configs_are_named(changes, field, match) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        small_config(**changes)
    assert caught.value.field == field


def test_the_fully_connected_path_refuses_layer_only_options() -> None:
    assert TrainConfig().architecture is None and TrainConfig().layers is False
    for field, value in (("shift", 2), ("weight_decay", 0.1)):
        with pytest.raises(ConfigError, match="needs an architecture") as caught:
            TrainConfig(**{field: value})
        assert caught.value.field == field
    with pytest.raises(ConfigError, match="64x64x3"):
        TrainConfig(layer_dims=(10, 1), tta="flip")


def test_float64_training_stays_float64() -> None:
    X, Y = blobs(20, 6)
    params, _ = train(X, Y, small_config(epochs=1, dtype="float64"))
    assert {p.dtype for p in params.values()} == {np.dtype(np.float64)}


def test_layer_dims_follow_the_architecture_and_round_trip() -> None:
    config = small_config()
    assert hash(config) == hash(small_config()) and {config: 1}[small_config()] == 1
    assert config.layer_dims == (192, 4, 6, 1)
    assert config.architecture[1] == {"type": "conv2d", "n_C": 4, "f": 3, "stride": 1, "pad": 1, "activation": "relu"}
    d = json.loads(json.dumps(config.to_dict()))
    assert TrainConfig.from_dict(d) == config


def test_recipes() -> None:
    assert RECIPES["course"] == TrainConfig() == recipe("course")
    photos = recipe("photos")
    assert photos.layers and photos.layer_dims == (12288, 16, 32, 64, 64, 1)
    assert photos.architecture == tuple(TrainConfig(architecture=PHOTOS_ARCHITECTURE).architecture)
    assert (photos.optimizer, photos.learning_rate, photos.weight_decay, photos.batch_size, photos.epochs) == (
        "adam", 0.001, 1e-4, 32, 60)
    assert (photos.input_norm, photos.augment, photos.shift, photos.tta) == ("per_image", "flip", 4, "flip")
    assert recipe("photos", {"seed": 4, "epochs": 2}).replace(seed=1, epochs=60) == photos
    with pytest.raises(ConfigError, match="layer_dims follows from it"):
        recipe("photos", {"layer_dims": [12288, 7, 1]})
    with pytest.raises(ConfigError, match="recipe must be one of course, photos") as caught:
        recipe("imagenet")
    assert caught.value.field == "recipe"


def trained_small(tta: str = "flip") -> tuple[dict, dict, np.ndarray]:
    X, Y = blobs(32, 5)
    config = small_config(epochs=1, tta=tta)
    params, history = train(X, Y, config)
    return params, build_metadata(config, history, recipe="test"), X


def test_a_cnn_model_saves_loads_and_predicts_with_its_flip_average(tmp_path) -> None:
    params, meta, X = trained_small()
    save_parameters(tmp_path / "cnn.npz", params, meta)
    model = Model.load(tmp_path / "cnn.npz")
    assert model.architecture == meta["architecture"] and model.tta == "flip"
    assert model.layer_dims == [192, 4, 6, 1] and model.metadata["recipe"] == "test"
    P = model.predict_proba(X)
    assert P.shape == (32,) and ((0 < P) & (P < 1)).all()
    # an independent check of the average: the mirror image's P(cat), by a model without tta
    plain = Model(model.parameters, {**model.metadata, "tta": "none"})
    imgs = X.T.reshape(32, 8, 8, 3)
    X_mirror = imgs[:, :, ::-1, :].reshape(32, -1).T
    np.testing.assert_allclose(P, (plain.predict_proba(X) + plain.predict_proba(X_mirror)) / 2, rtol=1e-6)
    assert not np.allclose(P, plain.predict_proba(X))
    # the functional API gives what the model gives
    P_fn = predict_proba(X, model.parameters, input_norm="per_image", architecture=model.architecture)
    assert P_fn.shape == (1, 32)
    np.testing.assert_allclose(P_fn[0], plain.predict_proba(X), rtol=1e-6)
    assert (predict(X, model.parameters, input_norm="per_image", architecture=model.architecture) == (P_fn > 0.5)).all()
    # uint8 columns, as the service sends them, in chunks larger than one batch
    many = np.tile(X, (1, 5))
    np.testing.assert_allclose(model.predict_proba(many), np.tile(P, 5), rtol=1e-6)


def _npz(params: dict, meta: object) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **params, __metadata__=np.array(json.dumps(meta)))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("change", "field", "match"),
    [
        (lambda p, m: m.update(architecture=m["architecture"][1:]), "architecture", r"architecture\[0\]"),
        (lambda p, m: m["architecture"][1].update(n_C=5), None, r"W1 must have shape \(3, 3, 3, 5\)"),
        (lambda p, m: m["architecture"][1].update(activation="<b>"), "architecture", "activation must be one of"),
        (lambda p, m: m.update(layer_dims=[192, 4, 6, 2, 1]), "layer_dims", "does not match the architecture"),
        (lambda p, m: m.update(tta="all"), "tta", "field tta"),
        (lambda p, m: p.pop("b2"), None, "missing array\\(s\\) b2"),
        (lambda p, m: p.update(W9=np.zeros((1, 1))), None, "1 array\\(s\\) the architecture does not have"),
        (lambda p, m: p.update(W1=np.full((3, 3, 3, 4), np.inf)), None, "W1 holds non-finite"),
        (lambda p, m: p.update(b1=np.zeros((4, 1))), None, r"b1 must have shape \(1, 1, 1, 4\)"),
        (lambda p, m: m["config"].update(architecture=[{"type": "input"}]), "config", "field config"),
    ],
)
def test_bad_cnn_files_are_refused_by_name(change, field, match) -> None:
    params, meta, _ = trained_small()
    params, meta = dict(params), json.loads(json.dumps(meta))
    change(params, meta)
    with pytest.raises(ParameterFileError, match=match) as caught:
        load_parameters(_npz(params, meta))
    assert caught.value.field == field
    assert "<b>" not in str(caught.value)


def test_the_course_model_metadata_is_unchanged() -> None:
    meta = build_metadata(TrainConfig(), {"costs": [], "engine": "gram"})
    assert "architecture" not in meta and "tta" not in meta and meta["config"]["architecture"] is None


def test_flip_averaging_needs_images_it_can_mirror() -> None:
    rng = np.random.RandomState(0)
    dense = {"W1": rng.randn(4, 8), "b1": np.zeros((4, 1)), "W2": rng.randn(1, 4), "b2": np.zeros((1, 1))}
    with pytest.raises(ParameterFileError, match="tta flip needs an architecture or 64x64x3") as caught:
        load_parameters(_npz(dense, {"tta": "flip"}))
    assert caught.value.field == "tta"
