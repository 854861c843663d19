"""Pooling layers (the course's ``pool_forward`` / ``pool_backward``) and global average pooling.

Activations are ``(m, n_H, n_W, n_C)``; pooling has no parameters, only the window ``f``
and the ``stride`` (no padding, as in the course). Each function loops over the f*f
window offsets, never over examples or pixels: one offset is one strided slice of every
example and every pixel, so a 2x2 pool is 4 numpy calls. (A max over the window axes of a
reshaped or strided view took 16 ms for the photos recipe's first pool, batch 32, where
the 4 calls take under 1 ms.)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .conv import output_size

__all__ = [
    "POOL_MODES",
    "PoolCache",
    "global_avg_pool_backward",
    "global_avg_pool_forward",
    "pool_backward",
    "pool_forward",
]

POOL_MODES = ("max", "average")


class PoolCache(NamedTuple):
    prev_shape: tuple[int, int, int, int]  # (m, n_H_prev, n_W_prev, n_C)
    K: np.ndarray | None  # (m, n_H, n_W, n_C) uint8: which offset holds each window's maximum
    f: int
    stride: int
    mode: str


def _offsets(prev_shape: tuple[int, ...], f: int, stride: int) -> list[tuple[slice, slice]]:
    """The f*f (rows, columns) slices: offset (i, j) picks element (i, j) of every window."""
    n_H = output_size(prev_shape[1], f, stride, 0)
    n_W = output_size(prev_shape[2], f, stride, 0)
    return [(slice(i, i + stride * n_H, stride), slice(j, j + stride * n_W, stride))
            for i in range(f) for j in range(f)]


def pool_forward(A_prev: np.ndarray, f: int, stride: int, mode: str = "max") -> tuple[np.ndarray, PoolCache]:
    """``A`` (m, n_H, n_W, n_C): the max or the mean of each f x f window of ``A_prev``.

    Max pooling records the offset of each window's maximum (the first, where several
    tie), so that its backward needs neither A_prev nor a comparison.
    """
    if mode not in POOL_MODES:
        raise ValueError(f"mode must be one of {', '.join(POOL_MODES)}; got {mode!r}")
    (rows, cols), *rest = _offsets(A_prev.shape, f, stride)
    A = A_prev[:, rows, cols, :].copy()  # (m, n_H, n_W, n_C)
    K = np.zeros(A.shape, dtype=np.uint8) if mode == "max" else None
    for k, (rows, cols) in enumerate(rest, start=1):
        window = A_prev[:, rows, cols, :]
        if K is not None:  # max pooling
            larger = window > A  # strictly: a tie keeps the first maximum
            np.maximum(A, window, out=A)
            # K := k where larger: arithmetic, 10x faster than a masked assignment here
            K *= ~larger
            K += larger.view(np.uint8) * np.uint8(k)
        else:
            A += window
    if mode == "average":
        A /= f * f
    return A, PoolCache(A_prev.shape, K, f, stride, mode)


def pool_backward(dA: np.ndarray, cache: PoolCache) -> np.ndarray:
    """``dA_prev`` (m, n_H_prev, n_W_prev, n_C) from ``dA`` (m, n_H, n_W, n_C).

    Max: each window's gradient goes to its maximum, to the first one where several tie
    (after a ReLU whole windows are 0: giving each of them the gradient, as comparing
    with the maximum alone would, counts it f*f times). Average: spread evenly.
    """
    prev_shape, K, f, stride, mode = cache
    dA_prev = np.zeros(prev_shape, dtype=dA.dtype)
    share = dA / (f * f) if mode == "average" else None
    for k, (rows, cols) in enumerate(_offsets(prev_shape, f, stride)):
        if share is not None:
            dA_prev[:, rows, cols, :] += share
        elif f <= stride:  # windows do not overlap: each input pixel is in one at most
            np.multiply(dA, K == k, out=dA_prev[:, rows, cols, :])
        else:
            dA_prev[:, rows, cols, :] += dA * (K == k)
    return dA_prev


def global_avg_pool_forward(A_prev: np.ndarray) -> np.ndarray:
    """The mean of each channel over the image: (m, n_H, n_W, n_C) -> (n_C, m), a column per example."""
    return A_prev.mean(axis=(1, 2)).T  # (n_C, m)


def global_avg_pool_backward(dA: np.ndarray, prev_shape: tuple[int, ...]) -> np.ndarray:
    """(n_C, m) -> (m, n_H, n_W, n_C): each pixel gets 1 / (n_H n_W) of its channel's gradient."""
    m, n_H, n_W, n_C = prev_shape
    return np.broadcast_to((dA.T / (n_H * n_W))[:, None, None, :], prev_shape)
