"""float32 training is float32 arithmetic on every path of the dense engine (issue 15's
mutation run): one step equals the step written out in float32, exactly.

One example (m = 1) makes every path's sums the same sums: a mini-batch is the whole
batch in the only order there is, and an image that is its own mirror image is the same
whether the seeded coin flips it or not.
"""
from __future__ import annotations

import numpy as np
import pytest

from model_core import TrainConfig, train
from model_core.backward import backward
from model_core.forward import forward
from model_core.initializers import initialize_parameters
from model_core.losses import compute_cost, l2_penalty
from model_core.normalization import normalize
from model_core.training import PINNED

N = 12288


def _mirror_image(seed: int) -> np.ndarray:
    """One 64x64x3 image, its own left-right mirror image, as a pixel column (12288, 1)."""
    img = np.random.RandomState(seed).randint(0, 256, size=(64, 64, 3)).astype(np.uint8)
    img[:, 32:, :] = img[:, :32, :][:, ::-1, :]
    return img.reshape(N, 1)


def _step_written_out(X: np.ndarray, Y: np.ndarray, config: TrainConfig,
                      xdtype: type) -> tuple[dict[str, np.ndarray], float]:
    """One gradient descent step from the config's start, X and Y in ``xdtype``: the
    parameters after it, and the cross-entropy of the output before it."""
    start = initialize_parameters(config.layer_dims, config.init, config.seed, np.float32)
    AL, caches = forward(normalize(X, config.input_norm, xdtype), start, config.hidden_activation)
    grads = backward(AL, Y.astype(xdtype), caches, config.l2)
    after = {k: (P - np.float32(config.learning_rate) * grads["d" + k]).astype(np.float32) for k, P in start.items()}
    return after, compute_cost(AL, Y.astype(xdtype))


@pytest.mark.parametrize("path", [
    dict(epochs=1, batch_size=8),  # mini-batches
    dict(epochs=1, batch_size=8, augment="flip"),  # mini-batches, flipped
    dict(iterations=1, augment="flip"),  # full batch, flipped
])
@pytest.mark.parametrize("input_norm", ["scale", "per_image"])
def test_one_float32_step_on_each_dense_path_is_float32_arithmetic(path: dict, input_norm: str) -> None:
    X, Y = _mirror_image(4), np.ones((1, 1), np.int64)
    config = TrainConfig(layer_dims=(N, 3, 1), dtype="float32", init="he", learning_rate=0.05, l2=0.3,
                         input_norm=input_norm, **path)
    trained, history = train(X, Y, config, engine="dense")
    expected, cross_entropy = _step_written_out(X, Y, config, np.float32)
    for key, P in expected.items():
        assert trained[key].dtype == np.float32
        np.testing.assert_array_equal(trained[key], P, err_msg=key)
    if config.mini_batch:  # an epoch's cost: its batches' cross-entropy (here one), then L2 at its end
        assert history["costs"] == [[0, cross_entropy * 1 / 1 + l2_penalty(trained, config.l2, 1)]]
    # the same step with the batch in float64 ends elsewhere: the test can tell them apart
    wide, wide_cross_entropy = _step_written_out(X, Y, config, np.float64)
    assert any(not np.array_equal(wide[k], P) for k, P in expected.items())
    assert wide_cross_entropy != cross_entropy


@pytest.mark.parametrize(("engine", "optimizer"), [("gram", "gd"), ("gram", "momentum"), ("dense", "gd")])
def test_a_float32_full_batch_run_computes_its_costs_in_float32(engine: str, optimizer: str) -> None:
    """The output layer and the labels stay float32 (the Gram engine's buffers, the dense
    engine's labels): every recorded cost is a float32 number (one computed in float64
    almost never is)."""
    rng = np.random.RandomState(2)
    X, Y = rng.randint(0, 256, size=(300, 40)).astype(np.uint8), (np.arange(40) % 2).reshape(1, 40)
    runs = {}
    for dtype in ("float32", "float64"):
        config = TrainConfig(layer_dims=(300, 5, 3, 1), dtype=dtype, init="he", optimizer=optimizer,
                             learning_rate=0.01, iterations=101)
        _, history = train(X, Y, config, engine=engine)
        runs[dtype] = [c for _, c in history["costs"]]
    assert len(runs["float32"]) == 2  # iterations 0 and 100
    assert all(float(np.float32(c)) == c for c in runs["float32"])
    assert not all(float(np.float32(c)) == c for c in runs["float64"])  # the test can tell


def test_a_float32_mini_batch_run_computes_its_costs_in_float32() -> None:
    """The batch's labels stay float32 too: with one batch an epoch (batch_size >= m) and no
    L2, an epoch's cost is its batch's cross-entropy times m over m, exact, so a float32
    number (one whose labels were cast to float64 almost never is)."""
    rng = np.random.RandomState(3)
    X, Y = rng.randint(0, 256, size=(300, 40)).astype(np.uint8), (np.arange(40) % 2).reshape(1, 40)
    runs = {}
    for dtype in ("float32", "float64"):
        config = TrainConfig(layer_dims=(300, 5, 1), dtype=dtype, init="he", optimizer="adam",
                             learning_rate=0.01, epochs=3, batch_size=64)
        _, history = train(X, Y, config, engine="dense")
        runs[dtype] = [c for _, c in history["costs"]]
    assert len(runs["float32"]) == 3
    assert all(float(np.float32(c)) == c for c in runs["float32"])
    assert not all(float(np.float32(c)) == c for c in runs["float64"])  # the test can tell


LR_HINT = "try a smaller learning_rate (got 0.5)"
SCALED_HINT = ", or init 'course' or 'he' (randn * 0.01 fades the signal layer by layer)"
ZEROS_HINT = "init 'zeros' gives every hidden unit the same weights and no gradient: use another init"


@pytest.mark.parametrize(("layer_dims", "init", "hint"), [
    ((5, 1), "zeros", LR_HINT),  # no hidden layer: zeros train a logistic regression fine
    ((5, 3, 1), "zeros", ZEROS_HINT),
    ((5, 3, 1), "scaled", LR_HINT),  # one hidden layer: randn * 0.01 fades nothing yet
    ((5, 3, 2, 1), "scaled", LR_HINT + SCALED_HINT),
    ((5, 3, 2, 2, 1), "scaled", LR_HINT + SCALED_HINT),
    ((5, 3, 2, 1), "he", LR_HINT),
])
def test_a_saturated_run_is_told_what_to_change(layer_dims: tuple[int, ...], init: str, hint: str) -> None:
    from model_core.training import _saturation_hint

    assert _saturation_hint(TrainConfig(layer_dims=layer_dims, init=init, learning_rate=0.5)) == hint


def _check(AL: np.ndarray, Y: np.ndarray) -> None:
    from model_core.training import _check_learned

    _check_learned([[0, 0.7]], AL, Y, TrainConfig(layer_dims=(5, 3, 1), learning_rate=0.5))


@pytest.mark.parametrize(("p", "side", "label"), [(PINNED / 2, "0", "non-cat"), (1 - PINNED / 2, "1", "cat")])
def test_outputs_pinned_past_the_margin_are_a_divergence_naming_their_side(p: float, side: str, label: str) -> None:
    from model_core.errors import TrainingDivergedError

    Y = (np.arange(6) % 2).reshape(1, 6)
    with pytest.raises(TrainingDivergedError) as caught:
        _check(np.full((1, 6), p), Y)
    assert str(caught.value) == (f"training diverged: every output is pinned at {side} (it answers {label} for "
                                 f"every example, with certainty); {LR_HINT}")


def test_outputs_at_the_margin_itself_are_not_pinned() -> None:
    Y = (np.arange(6) % 2).reshape(1, 6)
    for p in (PINNED, 1 - PINNED):  # the bound is strict on both sides
        _check(np.full((1, 6), p), Y)


def test_one_class_only_is_never_a_divergence() -> None:
    for y, p in ((0, 1e-9), (1, 1 - 1e-9), (0, 1 - 1e-9), (1, 1e-9)):
        _check(np.full((1, 6), p), np.full((1, 6), y))


def _learned(costs: list[list[float]], AL: np.ndarray, layer_dims: tuple[int, ...]) -> None:
    from model_core.training import _check_learned

    Y = (np.arange(AL.shape[1]) % 2).reshape(1, -1)
    _check_learned(costs, AL, Y, TrainConfig(layer_dims=layer_dims, learning_rate=0.5))


FLAT = [[0, 0.7], [100, 0.7], [200, 0.7]]  # three recorded costs that never moved


def test_one_output_for_every_example_is_a_divergence_only_with_hidden_layers() -> None:
    from model_core.errors import TrainingDivergedError

    same = np.full((1, 6), 0.5)
    _learned(FLAT, same, (5, 1))  # logistic regression: no hidden unit to saturate
    with pytest.raises(TrainingDivergedError) as caught:
        _learned(FLAT, same, (5, 3, 1))
    assert str(caught.value) == (
        "training diverged: the output is the same for every example (every hidden unit saturated), so it can "
        f"do no better than {np.log(2):.6f}, the cost of always answering the majority class; {LR_HINT}")
    spread = np.array([[PINNED, 2 * PINNED] * 3])  # max - min is PINNED exactly: not "the same"
    assert float(spread.max() - spread.min()) == PINNED
    _learned(FLAT, spread, (5, 3, 1))


def test_a_stall_is_read_from_the_last_third_of_the_costs_or_the_last_two() -> None:
    """Four costs: the last two are flat at the majority cost after a fall, so the run
    stalled there (the third from last, still falling, is not part of the stall)."""
    from model_core.errors import TrainingDivergedError

    costs = [[0, 0.9], [100, 0.8], [200, float(np.log(2))], [300, float(np.log(2))]]
    with pytest.raises(TrainingDivergedError, match="the cost stopped at 0.693147"):
        _learned(costs, np.full((1, 6), 0.5), (5, 1))
