"""P(cat) from raw pixels for either kind of model: the course's fully connected net of
``layer_dims`` or a network of layer specs; with the model's input norm and, optionally,
test-time flip averaging.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .architecture import Spec
from .augment import mirror
from .forward import forward
from .network import forward_layers, to_images
from .normalization import normalize

__all__ = ["CHUNK", "IMAGE", "predict_proba_raw"]

CHUNK = 64  # images a layer network takes at a time: its im2col matrix stays ~15 MB (float32)
IMAGE = (64, 64, 3)  # the course's images, the only ones a fully connected model can mirror


def predict_proba_raw(
    X: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    *,
    input_norm: str,
    hidden_activation: str = "relu",
    architecture: Sequence[Spec] | None = None,
    tta: str = "none",
) -> np.ndarray:
    """P(cat), shape (m,), for raw pixel columns ``X`` (n_x, m), values 0..255.

    ``tta="flip"`` averages P(cat) of each image and of its mirror image.
    """
    dtype = parameters["W1"].dtype
    if architecture is None:
        Xn = normalize(X, input_norm, dtype)  # (n_x, m)
        P = forward(Xn, parameters, hidden_activation)[0][0]
        if tta == "flip":
            m = Xn.shape[1]
            mirrored = mirror(Xn.T.reshape(m, *IMAGE)).reshape(m, -1).T  # (n_x, m)
            P = (P + forward(mirrored, parameters, hidden_activation)[0][0]) / 2
        return P
    out = np.empty(X.shape[1], dtype=dtype)
    for s in range(0, X.shape[1], CHUNK):
        A0 = to_images(normalize(X[:, s : s + CHUNK], input_norm, dtype), architecture)  # (b, n_H, n_W, n_C)
        P = forward_layers(A0, parameters, architecture)[0][0]
        if tta == "flip":
            P = (P + forward_layers(mirror(A0), parameters, architecture)[0][0]) / 2
        out[s : s + CHUNK] = P
    return out
