"""Saliency: the gradient of P(cat) with respect to the raw input pixels, and its heat map.

The one backward pass that goes down to the input (``dA0``): training never needs it. The
gradient is that of :func:`prediction.predict_proba_raw`, the function every prediction
runs, so it goes through the model's input norm (``/255`` or per-image standardization)
and its test-time flip: ``X`` holds raw pixel values 0..255, one image per column (n_x, m).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .activations import BACKWARD
from .architecture import Spec
from .augment import TTAS, mirror
from .forward import forward
from .network import backward_to_input, forward_layers, to_images
from .normalization import normalize, normalize_backward
from .prediction import CHUNK, IMAGE

__all__ = ["input_gradient", "saliency_map"]


def input_gradient(
    X: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    *,
    input_norm: str,
    hidden_activation: str = "relu",
    architecture: Sequence[Spec] | None = None,
    tta: str = "none",
) -> np.ndarray:
    """dP(cat)_j / dX[:, j], shape (n_x, m), in the dtype of the parameters.

    Column j is the gradient of image j's P(cat) with respect to its own raw pixels
    (0..255 units: a change of one grey level moves P(cat) by about that much).
    """
    if tta not in TTAS:
        raise ValueError(f"tta must be one of {', '.join(TTAS)}, got {tta!r}")
    dtype = parameters["W1"].dtype
    out = np.empty(X.shape, dtype=dtype)
    step = X.shape[1] if architecture is None else CHUNK  # a layer network's im2col stays small
    for s in range(0, X.shape[1], step):
        Xc = X[:, s : s + step]
        Xn = normalize(Xc, input_norm, dtype)  # (n_x, b)
        if architecture is None:
            dXn = _dense_gradient(Xn, parameters, hidden_activation)
            if tta == "flip":
                b = Xn.shape[1]
                mirrored = mirror(Xn.T.reshape(b, *IMAGE)).reshape(b, -1).T  # (n_x, b)
                back = _dense_gradient(mirrored, parameters, hidden_activation)  # w.r.t. the mirror image
                # ... mirrored back: a mirror is its own inverse permutation of the pixels
                dXn = (dXn + mirror(back.T.reshape(b, *IMAGE)).reshape(b, -1).T) / 2
        else:
            A0 = to_images(Xn, architecture)  # (b, n_H, n_W, n_C)
            dA0 = _layers_gradient(A0, parameters, architecture)
            if tta == "flip":
                dA0 = (dA0 + mirror(_layers_gradient(mirror(A0), parameters, architecture))) / 2
            dXn = dA0.reshape(dA0.shape[0], -1).T  # (n_x, b), the course's column order
        out[:, s : s + step] = normalize_backward(dXn, Xc, input_norm)
    return out


def _dense_gradient(Xn: np.ndarray, parameters: Mapping[str, np.ndarray], hidden_activation: str) -> np.ndarray:
    """dAL/dA0 (n_x, m) of the course's net: forward, then dA = W.T dZ down to the input."""
    AL, caches = forward(Xn, parameters, hidden_activation)
    dZ = AL * (1 - AL)  # (1, m): sigmoid'(ZL)
    for l in range(len(caches) - 1, -1, -1):
        dA = caches[l].W.T @ dZ  # (n_{l-1}, m)
        if l == 0:
            return dA
        below = caches[l - 1]
        dZ = BACKWARD[below.activation](dA, below.Z)  # (n_{l-1}, m)
    raise ValueError("parameters hold no layer")


def _layers_gradient(A0: np.ndarray, parameters: Mapping[str, np.ndarray], specs: Sequence[Spec]) -> np.ndarray:
    AL, caches = forward_layers(A0, parameters, specs)
    return backward_to_input(AL, caches)  # (m, n_H, n_W, n_C)


def saliency_map(G: np.ndarray, shape: tuple[int, int, int] = IMAGE) -> np.ndarray:
    """Heat maps (m, n_H, n_W) uint8 of gradients ``G`` (n_x, m): max |G| over the channels,
    each image scaled so its largest value is 255 (an image with no gradient stays 0)."""
    m = G.shape[1]
    H = np.abs(G).T.reshape(m, *shape).max(axis=3)  # (m, n_H, n_W)
    top = H.max(axis=(1, 2), keepdims=True)  # (m, 1, 1)
    scaled = np.divide(H * 255, top, out=np.zeros_like(H, dtype=np.float64), where=top > 0)
    return np.rint(scaled).astype(np.uint8)
