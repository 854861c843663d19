"""Augmentation of image batches (m, n_H, n_W, n_C): random flips and shifts, seeded.

Both are drawn per example and applied to the whole batch at once (no loop over
examples): a flip is a ``where`` between the batch and its mirror image, a shift a
gather of one window per example from a strided view of the zero-padded batch.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .conv import zero_pad

__all__ = [
    "TTAS",
    "augment",
    "mirror",
    "random_flip",
    "random_shift",
]

# test-time augmentations a model can ask for: none, or flip (P(cat) averaged with the
# mirror image's, prediction.py)
TTAS = ("none", "flip")


def mirror(A: np.ndarray) -> np.ndarray:
    """Every image of ``A`` (m, n_H, n_W, n_C) mirrored left-right (a view)."""
    return A[:, :, ::-1, :]


def random_flip(A: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Each image of ``A`` (m, n_H, n_W, n_C) mirrored left-right with probability 1/2."""
    flip = rng.random_sample((A.shape[0],)) < 0.5  # (m,)
    return np.where(flip[:, None, None, None], mirror(A), A)


def random_shift(A: np.ndarray, rng: np.random.RandomState, shift: int) -> np.ndarray:
    """Each image of ``A`` (m, n_H, n_W, n_C) moved by up to ``shift`` pixels down or up and
    left or right (uniform, independently), the pixels it uncovers set to 0."""
    m, n_H, n_W, n_C = A.shape
    d = 2 * shift + 1
    P = zero_pad(A, shift)  # (m, n_H + 2 shift, n_W + 2 shift, n_C)
    s_m, s_h, s_w, s_c = P.strides
    # every window of P the size of an image: (m, d, d, n_H, n_W, n_C), a view
    V = as_strided(P, (m, d, d, n_H, n_W, n_C), (s_m, s_h, s_w, s_h, s_w, s_c), writeable=False)
    dy, dx = rng.randint(0, d, m), rng.randint(0, d, m)  # (m,) offsets into the padding
    return V[np.arange(m), dy, dx]  # (m, n_H, n_W, n_C)


def augment(A: np.ndarray, rng: np.random.RandomState, flip: bool, shift: int) -> np.ndarray:
    """``A`` flipped (if ``flip``) then shifted (if ``shift`` > 0), with draws from ``rng``."""
    if flip:
        A = random_flip(A, rng)
    if shift:
        A = random_shift(A, rng, shift)
    return A
