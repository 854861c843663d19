"""The ``layers`` engine: train a network of layer specs (a config with an architecture).

Full batch (``iterations``) or shuffled mini-batches (``epochs``, ``batch_size``), any
optimizer, the course's L2 and PyTorch-style weight decay, dropout, flips and shifts.
The data stays uint8, one example per row for cheap gathers; each batch is normalized,
viewed as images (b, n_H, n_W, n_C) and augmented on its own.
"""
from __future__ import annotations

import numpy as np

from .augment import augment
from .config import TrainConfig
from .errors import TrainingCancelled
from .hooks import ProgressFn, StopFn, after_step
from .losses import l2_penalty
from .network import backward_layers, forward_layers, layers_cost, to_images
from .normalization import normalize
from .optimizers import make_optimizer

__all__ = ["RECORD_EVERY", "train_layers"]

RECORD_EVERY = 100  # full-batch iterations between two recorded costs, as the dense engine


def train_layers(X: np.ndarray, Y: np.ndarray, config: TrainConfig, parameters: dict[str, np.ndarray],
                 on_progress: ProgressFn | None, should_stop: StopFn | None) -> list[list[float]]:
    """Update ``parameters`` in place on pixels ``X`` (n_x, m); return the recorded [step, cost]."""
    specs = config.architecture
    assert specs is not None
    dtype = parameters["W1"].dtype
    opt = make_optimizer(config.optimizer, config.learning_rate, config.beta,
                         config.beta1, config.beta2, config.epsilon)
    rows = np.ascontiguousarray(X.T)  # (m, n_x)
    m = rows.shape[0]
    rng = np.random.RandomState(config.seed + 1)  # shuffles, flips, shifts
    dropout_rng = np.random.RandomState(config.seed + 2)  # its own stream: dropout never moves the others
    flip = config.augment == "flip"
    total = config.epochs if config.epochs is not None else config.iterations  # epochs set: mini_batch
    bs = min(config.batch_size, m) if config.mini_batch else m
    costs: list[list[float]] = []
    for step in range(total):
        if should_stop is not None and should_stop():
            raise TrainingCancelled(step)
        order = rng.permutation(m) if config.mini_batch else np.arange(m)
        weighted = 0.0
        for s in range(0, m, bs):
            idx = order[s : s + bs]
            A0 = to_images(normalize(rows[idx].T, config.input_norm, dtype), specs)  # (b, n_H, n_W, n_C)
            A0 = augment(A0, rng, flip, config.shift)
            Yb = Y[:, idx].astype(dtype)  # (1, b)
            AL, caches = forward_layers(A0, parameters, specs, dropout_rng)
            weighted += layers_cost(AL, Yb, parameters) * len(idx)
            opt.step(parameters, backward_layers(AL, Yb, caches, config.l2, config.weight_decay))
        # the epoch's mean cross-entropy (each batch's before its step) + the penalties
        cost = weighted / m + l2_penalty(parameters, config.l2, bs) + l2_penalty(parameters, config.weight_decay, 1)
        if config.mini_batch or step % RECORD_EVERY == 0 or step == total - 1:
            costs.append([step, cost])
        after_step(step, total, cost, config.learning_rate, on_progress)
    return costs
