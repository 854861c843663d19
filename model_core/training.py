"""train(): gradient descent and its successors over the course's network.

A config with an ``architecture`` (a network of layers, architecture.py) is trained by
the ``layers`` engine (training_layers.py). For the course's fully connected net, two
engines compute the same thing:

* ``dense``: forward/backward on X itself; any optimizer, full batch or mini-batches.
* ``gram``: for full-batch gd and momentum while m < n_x. Those updates only ever add
  ``C @ X.T`` (C is n_1 x m) to W1, so W1 = a * W1(0) + C @ X.T, and the first layer's
  pre-activation is a * (W1(0) @ X) + C @ (X.T @ X) + b1. The m x m Gram matrix X.T @ X
  replaces the 12288-wide X in every iteration: 59x fewer FLOPs on the course's data,
  equal to the dense engine up to rounding. W1 is formed once, at the end.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .activations import BACKWARD, FORWARD, sigmoid
from .architecture import parameter_shapes
from .backward import backward
from .config import TrainConfig
from .errors import ConfigError, DataError, TrainingCancelled, TrainingDivergedError
from .forward import forward
from .hooks import ProgressFn, StopFn, after_step
from .initializers import initialize_layers, initialize_parameters
from .losses import compute_cost, cost_from_logits, l2_penalty
from .metrics import accuracy
from .normalization import normalize
from .optimizers import make_optimizer
from .prediction import predict_proba_raw
from .training_layers import train_layers

__all__ = [
    "Costs",
    "ENGINES",
    "LEARNED_MARGIN",
    "PINNED",
    "PREDICT_CHUNK",
    "Params",
    "RECORD_EVERY",
    "STALL_POINTS",
    "STALL_SPREAD",
    "THREADS",
    "check_data",
    "choose_engine",
    "predict_labels",
    "predict_proba_chunked",
    "train",
]

RECORD_EVERY = 100  # full-batch iterations between two recorded costs (as the course prints)
ENGINES = ("auto", "dense", "gram", "layers")
PREDICT_CHUNK = 2048  # examples per forward pass of predict_labels: bounds its memory
# BLAS threads of train() unless told otherwise: one. The job's matrices are small, and on a
# shared machine OpenBLAS's own default (a thread per core) made the course's job 20x
# slower (README, "BLAS threads"); the results are the same either way, bit for bit.
THREADS = 1
# a run "did not learn" when its cost ends no lower than (1 - LEARNED_MARGIN) times the
# cost of always answering the majority class, and its last recorded costs spread over
# less than STALL_SPREAD of that cost; PINNED: an output this close to 0 or 1 is saturated
LEARNED_MARGIN = 0.01
STALL_SPREAD = 0.01
# fewer recorded costs (a run of < 102 iterations or < 3 epochs) say nothing about a trend,
# nor whether units died in training or were dead from the start: only pinned outputs count
STALL_POINTS = 3
PINNED = 1e-6


def check_data(X: np.ndarray, Y: np.ndarray, n_x: int, name: str = "X") -> tuple[np.ndarray, np.ndarray]:
    """Validate X (n_x, m) of pixel values and Y of m labels in {0, 1}; Y comes back (1, m)."""
    X = np.asarray(X)
    Y = np.asarray(Y)
    if X.ndim != 2 or X.shape[0] != n_x:
        raise DataError(f"{name} must have shape (n_x, m) = ({n_x}, m); got {X.shape}")
    m = X.shape[1]
    if m == 0:
        raise DataError(f"{name} has no examples")
    if X.dtype.kind not in "uif":
        raise DataError(f"{name} must hold numbers; got dtype {X.dtype}")
    if Y.size != m:
        raise DataError(f"Y must hold one label per column of {name} ({m}); got {Y.size}")
    Y = Y.reshape(1, m)
    if not np.isin(Y, (0, 1)).all():
        raise DataError("labels must be 0 (non-cat) or 1 (cat)")
    return X, Y


def choose_engine(config: TrainConfig, m: int) -> str:
    """layers for an architecture; else gram when it is exact and cheaper (full batch,
    gd/momentum, no augmentation, m < n_x); else dense."""
    if config.layers:
        return "layers"
    if (
        not config.mini_batch
        and config.optimizer in ("gd", "momentum")
        and config.augment == "none"
        and m < config.layer_dims[0]
        and len(config.layer_dims) >= 2
    ):
        return "gram"
    return "dense"


def train(
    X: np.ndarray,
    Y: np.ndarray,
    config: TrainConfig,
    *,
    X_dev: np.ndarray | None = None,
    Y_dev: np.ndarray | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    engine: str = "auto",
    threads: int | None = THREADS,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train a network on pixel data ``X`` (n_x, m), values 0..255, and labels ``Y`` (1, m).

    ``config.input_norm`` is applied here and must be applied again at prediction time
    (save_parameters stores it). ``on_progress(done, total, cost)`` is called after every
    iteration (epoch, with mini-batches); ``should_stop()`` is asked before each one and
    a True answer raises TrainingCancelled. Returns the parameters and a history dict:
    ``costs`` ([step, cost] every 100th iteration, or every epoch, and the last), ``engine``,
    ``seconds``, ``train_accuracy`` and, given dev data, ``dev_accuracy``.

    ``threads``: BLAS threads while it runs (None: leave the process's setting alone).
    A run whose weights or cost overflow, or that ends saturated (its cost stuck no lower
    than always answering the majority class, or every output pinned at 0 or at 1),
    raises TrainingDivergedError.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError("threads must be a positive integer or None", field="threads", got=threads)
    if threads is None:
        return _train(X, Y, config, X_dev, Y_dev, on_progress, should_stop, engine)
    with threadpool_limits(limits=threads, user_api="blas"):
        return _train(X, Y, config, X_dev, Y_dev, on_progress, should_stop, engine)


def _train(
    X: np.ndarray, Y: np.ndarray, config: TrainConfig, X_dev: np.ndarray | None, Y_dev: np.ndarray | None,
    on_progress: ProgressFn | None, should_stop: StopFn | None, engine: str,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    X, Y = check_data(X, Y, config.layer_dims[0])
    if (X_dev is None) != (Y_dev is None):
        raise ConfigError("give both X_dev and Y_dev, or neither")
    if X_dev is not None and Y_dev is not None:
        X_dev, Y_dev = check_data(X_dev, Y_dev, config.layer_dims[0], name="X_dev")
    m = X.shape[1]
    if engine == "auto":
        engine = choose_engine(config, m)
    elif engine == "gram" and choose_engine(config, m) != "gram":
        raise ConfigError("engine 'gram' needs full-batch gd or momentum, no augmentation and m < n_x")
    elif (engine == "layers") != config.layers:
        raise ConfigError("engine 'layers' trains a config with an architecture, and only it trains one")

    t0 = time.perf_counter()
    dtype = np.dtype(config.dtype)
    if config.architecture is not None:  # config.layers
        parameters = initialize_layers(parameter_shapes(config.architecture), config.init, config.seed, dtype)
    else:
        parameters = initialize_parameters(config.layer_dims, config.init, config.seed, dtype)
    run = {"gram": _train_gram, "dense": _train_dense, "layers": train_layers}[engine]
    # overflow is reported as TrainingDivergedError with a hint, not as numpy warnings
    with np.errstate(over="ignore", invalid="ignore"):
        costs = run(X, Y, config, parameters, on_progress, should_stop)
    _check_finite(parameters, config)
    seconds = time.perf_counter() - t0
    AL = predict_proba_chunked(X, parameters, config)  # (1, m)
    _check_learned(costs, AL, Y, config)

    history: dict[str, Any] = {
        "costs": costs,
        "engine": engine,
        "seconds": seconds,
        "train_accuracy": accuracy(Y, (AL > 0.5).astype(np.int64)),
    }
    if X_dev is not None and Y_dev is not None:
        history["dev_accuracy"] = accuracy(Y_dev, predict_labels(X_dev, parameters, config))
    return parameters, history


def predict_labels(
    X: np.ndarray, parameters: dict[str, np.ndarray], config: TrainConfig, chunk: int = PREDICT_CHUNK
) -> np.ndarray:
    """0/1 predictions (1, m) for raw pixels X, normalized as the config says, in chunks."""
    return (predict_proba_chunked(X, parameters, config, chunk) > 0.5).astype(np.int64)


def predict_proba_chunked(
    X: np.ndarray, parameters: dict[str, np.ndarray], config: TrainConfig, chunk: int = PREDICT_CHUNK
) -> np.ndarray:
    """P(cat) (1, m) for raw pixels X, normalized as the config says, ``chunk`` columns at a time."""
    out = np.empty((1, X.shape[1]), dtype=parameters["W1"].dtype)
    for s in range(0, X.shape[1], chunk):
        P = predict_proba_raw(X[:, s : s + chunk], parameters, input_norm=config.input_norm,
                              hidden_activation=config.hidden_activation,
                              architecture=config.architecture, tta=config.tta)
        out[0, s : s + chunk] = P
    return out


def _check_learned(costs: list[list[float]], AL: np.ndarray, Y: np.ndarray, config: TrainConfig) -> None:
    """Raise TrainingDivergedError if the run saturated instead of learning.

    Too large a step pins every output at 0 or 1, or kills every ReLU (the output is then
    one number for every example, at best the class prior): finite, so _check_finite
    passes, and it would read as a success. So does a cost that stopped, after moving, no
    lower than that of always answering the majority class. A run whose cost has barely
    moved from its start, outputs still depending on the input, has not saturated but
    hardly started (too small a step, too few steps): it passes.
    """
    prior = float(Y.mean())
    if prior in (0.0, 1.0):  # one class only: nothing to beat, and pinned outputs are right
        return
    hint = _saturation_hint(config)
    if AL.max() < PINNED or AL.min() > 1 - PINNED:
        side, label = ("0", "non-cat") if AL.max() < PINNED else ("1", "cat")
        raise TrainingDivergedError(
            f"training diverged: every output is pinned at {side} (it answers {label} for every "
            f"example, with certainty); {hint}"
        )
    if len(costs) < STALL_POINTS:  # too short a run to tell dead units from a slow start
        return
    majority = -(prior * np.log(prior) + (1 - prior) * np.log1p(-prior))  # binary entropy of the prior
    if len(config.layer_dims) > 2 and float(AL.max() - AL.min()) < PINNED:
        raise TrainingDivergedError(
            "training diverged: the output is the same for every example (every hidden unit "
            f"saturated), so it can do no better than {majority:.6f}, the cost of always answering "
            f"the majority class; {hint}"
        )
    # the final weights' cross-entropy, without L2: a regularized model that learned may
    # still carry a total cost above the baseline
    ce = compute_cost(AL, Y)
    last = [c for _, c in costs[-max(2, len(costs) // 3):]]
    stalled = ce >= (1 - LEARNED_MARGIN) * majority and max(last) - min(last) < STALL_SPREAD * majority
    moved = abs(costs[-1][1] - costs[0][1]) >= STALL_SPREAD * majority
    if stalled and moved:
        raise TrainingDivergedError(
            f"training diverged: the cost stopped at {ce:.6f}, no better than {majority:.6f}, "
            f"the cost of always answering the majority class; {hint}"
        )


def _saturation_hint(config: TrainConfig) -> str:
    """What to change after a saturated run: the step, or an init that cannot train a deep network."""
    if len(config.layer_dims) > 2 and config.init == "zeros":
        return "init 'zeros' gives every hidden unit the same weights and no gradient: use another init"
    hint = f"try a smaller learning_rate (got {config.learning_rate})"
    if len(config.layer_dims) > 3 and config.init == "scaled":
        hint += ", or init 'course' or 'he' (randn * 0.01 fades the signal layer by layer)"
    return hint


def _check_finite(parameters: dict[str, np.ndarray], config: TrainConfig) -> None:
    for key, P in parameters.items():
        if not np.isfinite(P).all():
            raise TrainingDivergedError(
                f"training diverged: {key} has non-finite values; "
                f"try a smaller learning_rate (got {config.learning_rate})"
            )


def _step_hooks(i: int, total: int, cost: float, config: TrainConfig,
                on_progress: ProgressFn | None, should_stop: StopFn | None) -> None:
    after_step(i, total, cost, config.learning_rate, on_progress)


Costs = list[list[float]]
Params = dict[str, np.ndarray]


def _train_dense(X: np.ndarray, Y: np.ndarray, config: TrainConfig, parameters: Params,
                 on_progress: ProgressFn | None, should_stop: StopFn | None) -> Costs:
    """Forward and backward on X itself: any optimizer, full batch or mini-batches."""
    dtype = parameters["W1"].dtype
    opt = make_optimizer(config.optimizer, config.learning_rate, config.beta,
                         config.beta1, config.beta2, config.epsilon)
    act = config.hidden_activation
    costs: list[list[float]] = []
    if config.epochs is None:  # not config.mini_batch
        # one batch: normalize once (it is reused by every iteration)
        Xn = normalize(X, config.input_norm, dtype) if config.augment == "none" else None
        Yd = Y.astype(dtype)
        rng = np.random.RandomState(config.seed + 1)
        total = config.iterations
        for i in range(total):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(i)
            Xb = Xn if Xn is not None else normalize(_flip(X, rng), config.input_norm, dtype)
            AL, caches = forward(Xb, parameters, act)
            cost = compute_cost(AL, Yd, parameters, config.l2)
            opt.step(parameters, backward(AL, Yd, caches, config.l2))
            if i % RECORD_EVERY == 0 or i == total - 1:
                costs.append([i, cost])
            _step_hooks(i, total, cost, config, on_progress, should_stop)
        return costs

    # mini-batches: the data stays uint8, one example per row for cheap gathers;
    # each batch is normalized (and flipped) on its own, so memory is m * n_x bytes
    rows = np.ascontiguousarray(X.T)  # (m, n_x)
    m = rows.shape[0]
    rng = np.random.RandomState(config.seed + 1)
    total = config.epochs
    bs = min(config.batch_size, m)
    for epoch in range(total):
        if should_stop is not None and should_stop():
            raise TrainingCancelled(epoch)
        order = rng.permutation(m)
        weighted = 0.0
        for s in range(0, m, bs):
            idx = order[s : s + bs]
            xb = rows[idx]  # (b, n_x)
            if config.augment == "flip":
                xb = _flip(xb.T, rng).T
            Xb = normalize(xb.T, config.input_norm, dtype)  # (n_x, b)
            Yb = Y[:, idx].astype(dtype)
            AL, caches = forward(Xb, parameters, act)
            weighted += compute_cost(AL, Yb) * len(idx)
            opt.step(parameters, backward(AL, Yb, caches, config.l2))
        cost = weighted / m + l2_penalty(parameters, config.l2, m)
        costs.append([epoch, cost])
        _step_hooks(epoch, total, cost, config, on_progress, should_stop)
    return costs


def _flip(X: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Mirror each 64x64x3 image (a column of X, (12288, m)) left-right with probability 1/2."""
    m = X.shape[1]
    imgs = X.T.reshape(m, 64, 64, 3)
    flip = rng.random_sample((m,)) < 0.5  # (m,)
    out = np.where(flip[:, None, None, None], imgs[:, :, ::-1, :], imgs)
    return out.reshape(m, -1).T


def _train_gram(X: np.ndarray, Y: np.ndarray, config: TrainConfig, parameters: Params,
                on_progress: ProgressFn | None, should_stop: StopFn | None) -> Costs:
    """Full-batch gd or momentum with the first layer through the Gram matrix (module doc)."""
    # The loop is written out with preallocated buffers and in-place operations: at
    # these sizes (n_l x m = 20 x 209 at most) numpy's per-call overhead, not arithmetic,
    # is the cost, so every call saved counts.
    dtype = parameters["W1"].dtype
    lr, l2 = config.learning_rate, config.l2
    g, g_backward = FORWARD[config.hidden_activation], BACKWARD[config.hidden_activation]
    L = len(config.layer_dims) - 1
    Xn = normalize(X, config.input_norm, dtype)  # (n_x, m)
    m = Xn.shape[1]
    Yd = Y.astype(dtype)  # (1, m)
    W1_0 = parameters.pop("W1")  # (n_1, n_x); W1 = a * W1_0 + C @ Xn.T from here on
    P0 = W1_0 @ Xn  # (n_1, m)
    G = Xn.T @ Xn  # (m, m)
    sq_W1_0 = float(np.vdot(W1_0, W1_0))
    a = 1.0
    C = np.zeros_like(P0)  # (n_1, m)
    CG = np.empty_like(P0)  # C @ G
    momentum = config.optimizer == "momentum"
    beta = config.beta
    a_v, D = 0.0, np.zeros_like(P0)  # momentum's velocity of W1 = a_v * W1_0 + D @ Xn.T
    # every parameter but W1 goes through the ordinary optimizer (in place)
    rest = parameters  # b1, W2, b2, ... (W1 popped above)
    opt = make_optimizer(config.optimizer, lr, beta)
    # lists indexed by the course's l = 1..L; the None at 0 (and at W's and dW's 1, W1 being
    # kept as W1_0 and C) is never read, so the lists hold arrays as far as any reader knows
    W: list[Any] = [None] + [None] + [rest[f"W{l}"] for l in range(2, L + 1)]
    b: list[Any] = [None] + [rest[f"b{l}"] for l in range(1, L + 1)]
    Z: list[Any] = [None] + [np.empty((n, m), dtype) for n in config.layer_dims[1:]]
    grads = {"d" + k: np.empty_like(v) for k, v in rest.items()}
    dW: list[Any] = [None, None] + [grads[f"dW{l}"] for l in range(2, L + 1)]
    db: list[Any] = [None] + [grads[f"db{l}"] for l in range(1, L + 1)]
    ZL = Z[L]
    decay = 1.0 - lr * l2 / m
    costs: list[list[float]] = []
    total = config.iterations
    for i in range(total):
        if should_stop is not None and should_stop():
            raise TrainingCancelled(i)
        # forward: Z1 = a * W1_0 @ Xn + C @ Xn.T @ Xn + b1
        np.matmul(C, G, out=CG)
        np.multiply(P0, a, out=Z[1])
        Z[1] += CG
        Z[1] += b[1]
        A: list[Any] = [None, g(Z[1]) if L > 1 else None]  # A[L] is None too: AL is computed from ZL
        for l in range(2, L + 1):
            np.matmul(W[l], A[l - 1], out=Z[l])
            Z[l] += b[l]
            A.append(g(Z[l]) if l < L else None)
        AL = sigmoid(ZL)  # (1, m)
        cost = cost_from_logits(ZL, Yd)  # exact even where AL rounds to 0 or 1
        if l2:
            # ||W1||^2 = a^2 ||W1_0||^2 + 2a <C, W1_0 Xn> + <C, C G>
            sq = a * a * sq_W1_0 + 2 * a * float(np.vdot(C, P0)) + float(np.vdot(C, CG))
            sq += sum(float(np.vdot(W[l], W[l])) for l in range(2, L + 1))
            cost += l2 / (2 * m) * sq
        # backward, with dZ already divided by m so that dW = dZ @ A_prev.T
        dZ = (AL - Yd) / m  # (1, m)
        for l in range(L, 1, -1):
            np.matmul(dZ, A[l - 1].T, out=dW[l])
            if l2:
                dW[l] += (l2 / m) * W[l]
            dZ.sum(axis=1, keepdims=True, out=db[l])
            dZ = g_backward(W[l].T @ dZ, Z[l - 1])  # (n_{l-1}, m)
        dZ.sum(axis=1, keepdims=True, out=db[1])
        opt.step(rest, grads)
        if momentum:
            # v := beta v + (1 - beta) (dZ1 Xn.T / m + l2/m W1);  W1 := W1 - lr v
            a_v = beta * a_v + (1 - beta) * (l2 / m) * a
            D *= beta
            D += (1 - beta) * (dZ + (l2 / m) * C if l2 else dZ)
            a -= lr * a_v
            C -= lr * D
        else:
            # W1 := (1 - lr l2/m) W1 - lr dZ1 Xn.T / m
            if l2:
                a *= decay
                C *= decay
            C -= lr * dZ
        if i % RECORD_EVERY == 0 or i == total - 1:
            costs.append([i, cost])
        _step_hooks(i, total, cost, config, on_progress, should_stop)
    W1 = a * W1_0 + C @ Xn.T  # (n_1, n_x)
    # restore the course's key order: W1, b1, W2, ...
    tail = dict(rest)
    parameters.clear()
    parameters["W1"] = W1.astype(dtype, copy=False)
    for l in range(1, L + 1):
        if l > 1:
            parameters[f"W{l}"] = tail[f"W{l}"]
        parameters[f"b{l}"] = tail[f"b{l}"]
    return costs
