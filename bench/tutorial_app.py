"""The baseline of ``bench/serve_bench.py``: the app a course graduate writes after a FastAPI tutorial.

    BENCH_PARAMS=params.npz uvicorn bench.tutorial_app:app --workers 1

``UploadFile`` and Pillow for images, a pydantic model for JSON, the course's forward
pass in NumPy over the parameters of ``np.savez(f, **parameters)`` (``W1, b1, ...``,
ReLU hidden layers, a sigmoid output, pixels / 255). Nothing in it is tuned: it is the
yardstick, not a competitor. Run by uvicorn with its defaults (httptools and uvloop
when installed, as ``pip install uvicorn[standard]`` has them).
"""
from __future__ import annotations

import io
import os

import numpy as np
from fastapi import FastAPI, UploadFile
from PIL import Image
from pydantic import BaseModel

app = FastAPI()
parameters = dict(np.load(os.environ["BENCH_PARAMS"]))
L = len(parameters) // 2


def forward(X: np.ndarray) -> np.ndarray:
    """P(cat) for X (12288, m) scaled to 0..1."""
    A = X
    for l in range(1, L):
        A = np.maximum(0, parameters[f"W{l}"] @ A + parameters[f"b{l}"])  # (n_l, m)
    Z = parameters[f"W{L}"] @ A + parameters[f"b{L}"]  # (1, m)
    return 1 / (1 + np.exp(-Z))


def answer(p: float) -> dict[str, object]:
    return {"label": "cat" if p > 0.5 else "non-cat", "probability": p}


@app.post("/predict")
def predict(file: UploadFile) -> dict[str, object]:
    image = Image.open(io.BytesIO(file.file.read())).convert("RGB").resize((64, 64))
    x = np.asarray(image).reshape(-1, 1) / 255  # (12288, 1)
    return answer(float(forward(x)[0, 0]))


class Instances(BaseModel):
    instances: list[list[float]]


@app.post("/predict/json")
def predict_json(body: Instances) -> dict[str, object]:
    X = np.array(body.instances).T / 255  # (12288, m)
    return answer(float(forward(X)[0, 0]))
