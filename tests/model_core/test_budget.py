"""model_core.budget: parameter counts by hand, and memory estimates against the measured
peak of real training runs, each in a fresh child process (so one run's peak is its own).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model_core import TrainConfig, initialize_parameters, recipe
from model_core.budget import config_parameter_count, parameter_count, training_memory_bytes

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def test_parameter_count_is_every_weight_and_bias() -> None:
    # the course's 4-layer model: W1 20x12288, W2 7x20, W3 5x7, W4 1x5 and their biases
    assert parameter_count((12288, 20, 7, 5, 1)) == 245_973
    for dims in [(12288, 1), (300, 6, 4, 3, 1), (5, 1, 1, 1)]:
        parameters = initialize_parameters(dims, "zeros")
        assert parameter_count(dims) == sum(p.size for p in parameters.values())


def test_a_network_of_layers_counts_its_own_weights() -> None:
    photos = recipe("photos")
    # 3x3 convs 3-16-32-64-64 with biases, then 64 -> 1
    expected = sum(9 * a * c + c for a, c in ((3, 16), (16, 32), (32, 64), (64, 64))) + 65
    assert config_parameter_count(photos) == expected
    assert config_parameter_count(TrainConfig()) == parameter_count(TrainConfig().layer_dims)


def test_the_issues_models_are_counted_without_allocating() -> None:
    assert parameter_count((12288, 10_000, 1)) == 122_900_001
    assert parameter_count((12288, 1_000_000, 1)) == 12_290_000_001


# Runs one config on m random pixels in this child and prints what it measured: the growth
# of resident memory (VmHWM, reset by clear_refs) and of address space (VmPeak, what RLIMIT_AS
# counts) over the moment before train(), after a warm-up that loads BLAS.
CHILD = """
import json, sys
import numpy as np
from model_core import TrainConfig, train

def status(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)) * 1024

config = TrainConfig.from_dict(json.loads(sys.argv[1]))
m, m_dev = int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
n_x = config.layer_dims[0]
X = rng.integers(0, 256, size=(n_x, m), dtype=np.uint8)
Y = rng.integers(0, 2, size=(1, m))
dev = {}
if m_dev:
    dev = {"X_dev": rng.integers(0, 256, size=(n_x, m_dev), dtype=np.uint8), "Y_dev": rng.integers(0, 2, size=(1, m_dev))}
train(X[:, :4], Y[:, :4], TrainConfig(layer_dims=(n_x, 2, 1), iterations=1))
open("/proc/self/clear_refs", "w").write("5")
rss, size = status("VmRSS"), status("VmSize")
train(X, Y, config, **dev)
print(json.dumps({"resident": status("VmHWM") - rss, "address_space": status("VmPeak") - size}))
"""

# every engine and the branches of the estimate: (config fields, m, m_dev)
RUNS = [
    ({"iterations": 2}, 600, 0),  # the course's recipe: gram engine
    ({"layer_dims": [12288, 1000, 1], "iterations": 1}, 400, 0),  # gram, W1 formed at the end
    # dense, full batch; Adam at the README's 3e-4: two steps of 0.0075 pin every output at 0
    ({"layer_dims": [12288, 500, 1], "optimizer": "adam", "learning_rate": 3e-4, "iterations": 2}, 400, 0),
    ({"layer_dims": [12288, 300, 10, 1], "optimizer": "adam", "epochs": 1, "batch_size": 128,
      "input_norm": "per_image"}, 400, 0),  # mini-batches
    ({"layer_dims": [12288, 100, 50, 1], "optimizer": "momentum", "iterations": 2, "augment": "flip",
      "dtype": "float32"}, 600, 0),  # flips: X normalized anew every iteration
    ({"layer_dims": [12288, 20, 7, 5, 1], "optimizer": "rmsprop", "iterations": 2}, 1000, 200),
    # the accuracy pass over more than one chunk of 2048 examples
    ({"layer_dims": [12288, 20, 7, 5, 1], "optimizer": "adam", "epochs": 1, "batch_size": 256}, 2200, 50),
    # a network of layers: the photos recipe (its caches dominate), and with a larger batch
    ({**recipe("photos").to_dict(), "epochs": 1}, 200, 50),
    ({**recipe("photos").to_dict(), "epochs": 1, "batch_size": 128, "dtype": "float64", "tta": "none"}, 256, 0),
]


@pytest.mark.parametrize(("fields", "m", "m_dev"), RUNS, ids=lambda v: v if isinstance(v, int) else None)
def test_the_estimate_is_within_a_factor_of_the_measured_peak(fields: dict, m: int, m_dev: int) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(fields), str(m), str(m_dev)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout)
    config = TrainConfig.from_dict(fields)
    data = config.layer_dims[0] * (m + m_dev)  # X and X_dev, uint8: there before train() starts
    estimate = training_memory_bytes(config, m, m_dev) - data
    assert measured["resident"] > 50 * MiB, measured  # large enough that the interpreter's noise is small
    # an estimate well under the truth would let a job through to the trainer's cap;
    # one far over it would refuse jobs that fit
    for what, peak in measured.items():
        assert 0.75 <= estimate / peak <= 2.0, (what, estimate >> 20, peak >> 20)


def test_the_estimate_grows_with_what_the_run_holds() -> None:
    # mini-batches (the dense engine for every optimizer), where the parameters dominate
    wide = TrainConfig(layer_dims=(12288, 1000, 1), optimizer="gd", epochs=1, batch_size=64)
    gd = training_memory_bytes(wide, 200)
    assert training_memory_bytes(wide.replace(optimizer="momentum"), 200) > gd + 98e6  # v: 12.3M floats
    assert training_memory_bytes(wide.replace(optimizer="adam"), 200) > gd + 2 * 98e6  # v and s
    narrow = TrainConfig(layer_dims=(12288, 100, 1), optimizer="adam", iterations=10)
    full = training_memory_bytes(narrow, 10_000)  # X as floats dominates
    assert training_memory_bytes(narrow.replace(dtype="float32"), 10_000) < 0.6 * full
    # no float copy of the whole X: the accuracy pass, in chunks of 2048 examples, is the peak
    assert training_memory_bytes(narrow.replace(epochs=1, batch_size=64), 10_000) < full / 2
    assert training_memory_bytes(narrow, 20_000) > 1.9 * full
    # the course's recipe on 9000 examples: the gram engine's Xn (885 MB) and G (9000^2 floats,
    # 648 MB) stay under normalize()'s peak, X / 255 beside X as floats, on top of the uint8 X
    assert training_memory_bytes(TrainConfig(), 9000) == 12288 * 9000 * (1 + 8 + 8)
