"""The CLI's --recipe and the layer flags: a CNN trains, evaluates and predicts like the course's net."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_core import Model, TrainConfig
from model_core.recipes import recipe
from tests.model_core.test_cli import last_json, make_data, run_main

TINY_CNN = [{"type": "input", "n_H": 64, "n_W": 64, "n_C": 3},
            {"type": "conv2d", "n_C": 2, "f": 3, "stride": 4, "pad": 1},
            {"type": "global_avg_pool"}, {"type": "dense", "n": 1, "activation": "sigmoid"}]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli_recipes")
    return {"dir": d, "train": make_data(d / "train.npz", 24, 0), "test": make_data(d / "test.npz", 10, 1)}


def test_recipe_photos_trains_a_cnn_that_evaluates_and_predicts(data: dict[str, Path]) -> None:
    out = data["dir"] / "cnn.npz"
    status, stdout, stderr = run_main(["train", "--recipe", "photos", "--epochs", "1", "--seed", "2",
                                       "--data", str(data["train"]), "--test-data", str(data["test"]),
                                       "--out", str(out), "--json"])
    assert status == 0, stderr
    r = last_json(stdout)
    assert r["recipe"] == "photos" and r["engine"] == "layers"
    assert r["config"] == recipe("photos", {"epochs": 1, "seed": 2}).to_dict()
    assert "Cost after epoch 0:" in stderr
    model = Model.load(out)
    assert model.architecture == list(recipe("photos").architecture) and model.metadata["recipe"] == "photos"
    status, stdout, _ = run_main(["evaluate", "--params", str(out), "--data", str(data["test"]), "--json"])
    assert status == 0 and last_json(stdout)["accuracy"] == r["test_accuracy"]
    img = data["dir"] / "x.png"
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (40, 50, 3), dtype=np.uint8)).save(img)
    status, stdout, _ = run_main(["predict", "--params", str(out), str(img), "--json"])
    assert status == 0 and 0.0 < json.loads(stdout)[0]["probability"] < 1.0


def test_architecture_flag_takes_json_or_a_file(data: dict[str, Path]) -> None:
    spec_file = data["dir"] / "arch.json"
    spec_file.write_text(json.dumps(TINY_CNN))
    for value in (json.dumps(TINY_CNN), f"@{spec_file}"):
        status, stdout, stderr = run_main(["train", "--architecture", value, "--optimizer", "adam", "--epochs", "2",
                                           "--shift", "2", "--weight-decay", "0.001", "--tta", "flip",
                                           "--data", str(data["train"]), "--out", str(data["dir"] / "a.npz"), "--json"])
        assert status == 0, stderr
        config = TrainConfig.from_dict(last_json(stdout)["config"])
        assert config.layer_dims == (12288, 2, 1) and (config.shift, config.weight_decay, config.tta) == (2, 0.001, "flip")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--recipe", "imagenet"], "invalid choice: 'imagenet'"),
        (["--architecture", "[{"], "expected a JSON list of layer specs"),
        (["--architecture", '[{"type": "input"}]'], "architecture"),
        (["--shift", "2"], "shift needs an architecture"),
        (["--recipe", "photos", "--layer-dims", "12288,3,1"], "layer_dims follows from it"),
    ],
)
def test_bad_recipe_flags_are_one_line(data: dict[str, Path], argv: list[str], match: str) -> None:
    status, _, stderr = run_main(["train", "--data", str(data["train"]), "--out", str(data["dir"] / "b.npz"), *argv])
    assert status == 2 and match in stderr and len(stderr.strip().splitlines()) == 1
