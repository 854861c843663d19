"""What a training run will ask of the machine, known before it runs: parameters and memory.

A caller that trains on someone else's behalf (the service) must refuse a run that
cannot fit before it starts: ``[12288, 10000, 1]`` is 123M parameters, a 938 MB model
and about 3 GB while it trains. These functions read only the config and the number of
examples; nothing is allocated.

:func:`training_memory_bytes` follows what :func:`model_core.train` holds at its
busiest moment, engine by engine (see training.py): the data, the normalized X, the
parameters, their gradients and the optimizer's moments, each layer's Z and A (twice
over: the previous iteration's caches live until the next forward pass returns), the
m x m Gram matrix where that engine runs, and the temporaries of the largest layer.
It is an estimate, checked against measured peaks in tests/model_core/test_budget.py.

A network of layers (a config with an architecture, training_layers.py) holds the data as
uint8 rows, the parameters, their gradients and the optimizer's moments, and per batch
each layer's cache (a conv2d keeps its im2col matrix and Z, which its ReLU overwrites
with A; a max pool its output and the uint8 offsets of the maxima). While a forward pass
runs, the previous step's caches are still alive; while a backward pass runs, the
largest layer's dZ, its padded dA_prev and one kernel offset's share of it. The accuracy
passes go through the network in chunks of ``prediction.CHUNK`` images.
"""
from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np

from .architecture import Spec, parameter_shapes, shapes
from .config import TrainConfig
from .prediction import CHUNK as LAYERS_CHUNK
from .training import PREDICT_CHUNK, choose_engine

__all__ = [
    "NORMALIZE_COPIES",
    "OPTIMIZER_MOMENTS",
    "STEP_TEMPORARIES",
    "config_parameter_count",
    "layers_memory_bytes",
    "layers_parameter_count",
    "parameter_count",
    "training_memory_bytes",
]

# moments an optimizer keeps per parameter (momentum's v, Adam's v and s)
OPTIMIZER_MOMENTS = {"gd": 0, "momentum": 1, "rmsprop": 1, "adam": 2}
# arrays the size of one layer's W that one optimizer step holds at once (lr * dW, dW^2, ...)
STEP_TEMPORARIES = {"gd": 1, "momentum": 1, "rmsprop": 3, "adam": 3}
# X-sized float arrays normalize() holds at its peak (the result and its temporaries)
NORMALIZE_COPIES = {"scale": 2, "per_image": 3}


def parameter_count(layer_dims: Sequence[int]) -> int:
    """The entries of every ``W{l}`` (n_l, n_{l-1}) and ``b{l}`` (n_l, 1): sum n_l (n_{l-1} + 1)."""
    return sum(int(n) * (int(n_prev) + 1) for n_prev, n in zip(layer_dims, layer_dims[1:]))


def config_parameter_count(config: TrainConfig) -> int:
    """The parameters ``config`` trains: its architecture's, or its fully connected net's.

    (A network of layers' ``layer_dims`` counts filters, not weights: parameter_count of
    them is not its size.)
    """
    if config.layers:
        return layers_parameter_count(list(config.architecture or ()))
    return parameter_count(config.layer_dims)


def training_memory_bytes(config: TrainConfig, m: int, m_dev: int = 0, x_itemsize: int = 1) -> int:
    """Bytes ``train(X, Y, config, X_dev=...)`` holds at its peak, data included.

    ``X`` is (n_x, m) and ``X_dev`` (n_x, m_dev), ``x_itemsize`` bytes a value (1: uint8
    pixels, as every data set loader of model_core returns them).
    """
    dims = config.layer_dims
    n_x = dims[0]
    b = np.dtype(config.dtype).itemsize
    data = n_x * (m + m_dev) * x_itemsize
    if config.layers:  # a network of layers: the layers engine, below
        return data + layers_memory_bytes(config, m, m_dev)
    params = parameter_count(dims) * b
    largest = _largest_layer(dims) * b
    # drawn in float64, then cast: the largest W twice over while it is made
    start = params + largest * 2
    finish = params + _predict_bytes(config, m, m_dev) + largest
    engine = choose_engine(config, m)
    run = _gram_bytes(config, m) if engine == "gram" else _dense_bytes(config, m)
    return data + max(start, run, finish)


def _largest_layer(dims: Sequence[int]) -> int:
    """The parameters of the largest layer (W and b): the size of one step's temporaries."""
    return max(n * (n_prev + 1) for n_prev, n in zip(dims, dims[1:]))


def _activations(dims: Sequence[int], m: int, b: int) -> int:
    """Z and A of every layer for m examples."""
    return 2 * sum(dims[1:]) * m * b


def _widest(dims: Sequence[int]) -> int:
    """The largest n_l of the hidden and output layers (their Z, A, dA, dZ are (n_l, m))."""
    return max(dims[1:])


def _optimizer_bytes(config: TrainConfig, weights: int, largest: int) -> tuple[int, int]:
    """(moments, step temporaries) for ``weights`` bytes of parameters."""
    return OPTIMIZER_MOMENTS[config.optimizer] * weights, STEP_TEMPORARIES[config.optimizer] * largest


def _iteration_bytes(config: TrainConfig, cols: int, b: int) -> int:
    """One forward + backward + step on ``cols`` examples, beyond X: the dense engine's loop."""
    dims = config.layer_dims
    params = parameter_count(dims) * b
    largest = _largest_layer(dims) * b
    moments, step = _optimizer_bytes(config, params, largest)
    act = _activations(dims, cols, b)
    wide = _widest(dims) * cols * b
    forward = 2 * act + wide  # the previous caches, the new ones and one W @ A
    backward = act + params + 2 * wide + 2 * largest  # gradients so far, dA and dZ, dW and dW / m
    update = act + params + step
    return params + moments + max(forward, backward, update)


def _dense_bytes(config: TrainConfig, m: int) -> int:
    """The dense engine, beyond the data: full batch (X normalized once, or anew with flips) or mini-batches."""
    n_x = config.layer_dims[0]
    b = np.dtype(config.dtype).itemsize
    norm = NORMALIZE_COPIES[config.input_norm]
    if config.mini_batch:
        cols = min(config.batch_size, m)
        # the examples as uint8 rows (m, n_x), the shuffled order, and per batch its
        # gathered (and flipped) pixels, its normalized X and the previous batch's X
        rows = n_x * m + m * 8
        batch = n_x * cols * (2 + (config.augment == "flip")) + n_x * cols * b * (norm + 1)
        return rows + batch + _iteration_bytes(config, cols, b)
    xn = n_x * m * b
    if config.augment == "flip":
        # every iteration flips and normalizes the whole set anew; the previous X lives
        # on in the caches until the forward pass returns
        return n_x * m * 2 + xn * (norm + 1) + _iteration_bytes(config, m, b)
    # normalized once, before the loop: its temporaries are gone by the first iteration
    return max(xn * norm, xn + _iteration_bytes(config, m, b))


def _gram_bytes(config: TrainConfig, m: int) -> int:
    """The gram engine (training.py's module doc): X, the m x m Gram matrix, W1 = a W1(0) + C X.T."""
    dims = config.layer_dims
    n_x, n_1 = dims[0], dims[1]
    b = np.dtype(config.dtype).itemsize
    xn = n_x * m * b
    gram = m * m * b
    w1 = n_1 * n_x * b
    params = parameter_count(dims) * b
    rest = params - w1  # every parameter but W1 goes through the ordinary optimizer
    rest_largest = max(_largest_layer(dims[1:]) if len(dims) > 2 else 0, n_1) * b  # b1 alone is n_1
    moments, step = _optimizer_bytes(config, rest, rest_largest)
    first = 4 * n_1 * m * b  # P0 = W1(0) Xn, C, C G and momentum's D
    z = sum(dims[1:]) * m * b
    a = 2 * sum(dims[1:-1]) * m * b  # this iteration's A and the previous one's
    wide = _widest(dims) * m * b
    loop = first + z + a + 2 * wide + rest + moments + step  # gradients of the rest, dA and dZ
    # W1 formed at the end: a * W1(0), C @ Xn.T and their sum beside W1(0)
    end = 3 * w1
    return max(xn * NORMALIZE_COPIES[config.input_norm], xn + gram + params + max(loop, end))


def _predict_bytes(config: TrainConfig, m: int, m_dev: int) -> int:
    """The accuracy passes after training (X, then X_dev): forward in chunks of PREDICT_CHUNK."""
    b = np.dtype(config.dtype).itemsize
    norm = NORMALIZE_COPIES[config.input_norm]
    peaks = [0]
    n_x = config.layer_dims[0]
    for cols in (m, m_dev):
        chunk = min(PREDICT_CHUNK, cols)
        xc = n_x * chunk * b  # one chunk, normalized
        act = _activations(config.layer_dims, chunk, b)
        peaks.append(max(xc * norm, xc + act))
        if cols > PREDICT_CHUNK:
            # a chunk and its caches live on while the next one is normalized
            peaks.append(xc + act + n_x * min(chunk, cols - chunk) * b * norm)
    return max(peaks)


# ---------------------------------------------------------------- a network of layers


def layers_parameter_count(specs: list[Spec]) -> int:
    """The entries of every W{l} and b{l} of a checked architecture."""
    return sum(prod(shape) for shape in parameter_shapes(specs).values())


def _caches(specs: list[Spec], batch: int, b: int) -> tuple[int, int]:
    """(bytes of one forward pass's caches, bytes of the largest layer's backward temporaries)."""
    sizes = shapes(specs)
    caches = largest = 0
    for spec, prev, out in zip(specs[1:], sizes, sizes[1:]):
        n_prev, n_out = prod(prev) * batch * b, prod(out) * batch * b
        kind = spec["type"]
        if kind == "conv2d":
            cols = prod(out[:2]) * spec["f"] ** 2 * prev[2] * batch * b
            A = 0 if spec["activation"] == "relu" else n_out  # ReLU's A is Z itself
            caches += cols + n_out + A
            padded = (prev[0] + 2 * spec["pad"]) * (prev[1] + 2 * spec["pad"]) * prev[2] * batch * b
            # dZ, and dA_prev padded beside one kernel offset's share of it (conv.py)
            largest = max(largest, n_out + padded + prod(out[:2]) * prev[2] * batch * b)
        elif kind in ("max_pool", "avg_pool"):
            caches += n_out + (n_out // b if kind == "max_pool" else 0)
            largest = max(largest, n_prev + 2 * n_out)  # dA_prev, dA and one offset's mask or share
        elif kind in ("global_avg_pool", "flatten", "dense"):
            caches += n_out
        elif kind == "dropout":
            caches += 2 * n_out  # the mask and the masked A
    return caches, largest


def layers_memory_bytes(config: TrainConfig, m: int, m_dev: int) -> int:
    """Bytes ``train`` holds at its peak beyond the data ``X`` (and ``X_dev``) themselves."""
    specs = list(config.architecture or ())
    b = np.dtype(config.dtype).itemsize
    n_x = config.layer_dims[0]
    count = layers_parameter_count(specs) * b
    batch = min(config.batch_size, m) if config.mini_batch else m
    rows = n_x * m + 8 * m  # the uint8 rows and the shuffled order
    # params, gradients and moments; the optimizer's step temporaries are one parameter's
    state = count * (2 + OPTIMIZER_MOMENTS[config.optimizer]) + 3 * max(
        prod(s) for s in parameter_shapes(specs).values()) * b
    # the batch: gathered pixels, normalize()'s floats, flips and shifts (a padded copy)
    pad = 2 * config.shift
    side = (specs[0]["n_H"] + pad) * (specs[0]["n_W"] + pad) * specs[0]["n_C"]
    batch_in = n_x * batch + n_x * batch * b * NORMALIZE_COPIES[config.input_norm] + (side + n_x) * batch * b
    caches, temporaries = _caches(specs, batch, b)
    forward = 2 * caches + batch_in  # the previous step's caches live until this pass returns
    backward = caches + count + temporaries
    chunk_caches, _ = _caches(specs, LAYERS_CHUNK, b)
    predict = chunk_caches + n_x * LAYERS_CHUNK * b * NORMALIZE_COPIES[config.input_norm] if max(m, m_dev) else 0
    return rows + state + max(forward, backward, predict)
