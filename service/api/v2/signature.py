"""The model's tensors as the protocol names them (``GET /v2/models/<name>`` lists them).

One request sends one input:

* ``pixels``: pixel values 0..255 of 64x64x3 RGB images, as the native JSON ``instances``
  (row, column, channel order): shape ``[N, 12288]`` or ``[N, 64, 64, 3]``; ``UINT8``
  (what the metadata lists), ``INT32``, ``FP32`` or ``FP64``.
* ``image``: ``BYTES`` ``[N]``, each element an encoded image file (PNG, JPEG, ...),
  decoded exactly as a ``POST /predict`` upload.

Two outputs: ``probability`` (``FP32`` ``[N, 1]``, P(cat)) and ``label`` (``BYTES`` ``[N]``,
``cat`` or ``non-cat``, as the native answer's ``label``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from model_core import N_FEATURES

PIXELS, IMAGE = "pixels", "image"
PROBABILITY, LABEL = "probability", "label"
BATCH = -1  # the protocol's variable-size dimension
IMAGE_SHAPE = (64, 64, 3)  # (n_H, n_W, n_C): N_FEATURES values in row, column, channel order

# the numeric datatypes ``pixels`` takes, as little-endian numpy dtypes (binary data's byte order)
PIXEL_DATATYPES: dict[str, np.dtype] = {
    "UINT8": np.dtype("<u1"),
    "INT32": np.dtype("<i4"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
INTEGER_DATATYPES = frozenset(("UINT8", "INT32"))
BYTES = "BYTES"

INPUTS: list[dict[str, Any]] = [
    {"name": PIXELS, "datatype": "UINT8", "shape": [BATCH, N_FEATURES]},
    {"name": IMAGE, "datatype": BYTES, "shape": [BATCH]},
]
OUTPUTS: list[dict[str, Any]] = [
    {"name": PROBABILITY, "datatype": "FP32", "shape": [BATCH, 1]},
    {"name": LABEL, "datatype": BYTES, "shape": [BATCH]},
]
OUTPUT_NAMES = tuple(o["name"] for o in OUTPUTS)
# the platform is "information only" in the protocol; "<project>_<format>": NumPy arrays in an .npz
PLATFORM = "numpy_npz"
