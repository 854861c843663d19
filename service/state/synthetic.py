"""A small synthetic data set, so a fresh service has something to train on at once.

Cats are drawings of a cat's head: a face ellipse with two triangle ears and two eyes,
in random colours, positions and sizes. Non-cats are other pictures: rectangles, lines,
circles and gradients, never with ears. 64x64x3 like the course's images; generated
deterministically from a seed, so every machine trains the same first model. A model
trained on it is labelled ``synthetic`` in its metadata: it knows drawings, not cats.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
NAME = "synthetic"
TRAIN_M, DEV_M = 300, 200
TRAIN_SEED, DEV_SEED = 0, 1


def _colour(rng: np.random.RandomState) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in rng.randint(0, 256, size=3))
    return r, g, b


# fur tones (ginger, grey, black, white, brown, cream), jittered per drawing
_FUR = np.array([[214, 120, 40], [128, 128, 128], [30, 30, 30], [235, 235, 230], [110, 70, 40], [230, 200, 150]])


def _fur(rng: np.random.RandomState) -> tuple[int, int, int]:
    c = _FUR[rng.randint(len(_FUR))] + rng.randint(-25, 26, size=3)
    r, g, b = (int(v) for v in np.clip(c, 0, 255))
    return r, g, b


def _background(rng: np.random.RandomState) -> Image.Image:
    """A flat colour or a linear gradient between two colours, in a random direction."""
    if rng.rand() < 0.5:
        return Image.new("RGB", (SIZE, SIZE), _colour(rng))
    a, b = np.array(_colour(rng), float), np.array(_colour(rng), float)
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)  # (64, 64) each
    t = (np.cos(theta) * xx + np.sin(theta) * yy + 1) / 2  # (64, 64) in [0, 1]
    img = a + t[..., None] * (b - a)  # (64, 64, 3)
    return Image.fromarray(img.astype(np.uint8), "RGB")


def _cat(rng: np.random.RandomState) -> Image.Image:
    img = _background(rng)
    d = ImageDraw.Draw(img)
    rx = rng.randint(12, 19)
    ry = int(rx * rng.uniform(0.8, 1.0))
    cx = SIZE // 2 + rng.randint(-6, 7)
    cy = SIZE // 2 + 6 + rng.randint(-4, 5)
    fur = _fur(rng)
    # ears first: the face covers their bases
    ear_h = int(ry * rng.uniform(0.8, 1.2))
    for side in (-1, 1):
        x0 = cx + side * int(rx * 0.85)
        x1 = cx + side * int(rx * 0.15)
        tip = cx + side * int(rx * rng.uniform(0.5, 0.9))
        d.polygon([(x0, cy - ry // 3), (x1, cy - ry + 2), (tip, cy - ry - ear_h)], fill=fur)
    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fur)
    eye = _colour(rng)
    er = max(2, rx // 5)
    for side in (-1, 1):
        ex, ey = cx + side * rx // 2, cy - ry // 5
        d.ellipse([ex - er, ey - er, ex + er, ey + er], fill=eye)
    d.polygon([(cx - 2, cy + ry // 4), (cx + 2, cy + ry // 4), (cx, cy + ry // 4 + 3)], fill=eye)
    return img


def _other(rng: np.random.RandomState) -> Image.Image:
    img = _background(rng)
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(1, 6)):
        kind = rng.randint(3)
        x0, y0 = rng.randint(0, SIZE - 8, size=2)
        w, h = rng.randint(6, SIZE - 4, size=2)
        box = [int(x0), int(y0), int(min(SIZE - 1, x0 + w)), int(min(SIZE - 1, y0 + h))]
        if kind == 0:
            d.rectangle(box, fill=_colour(rng))
        elif kind == 1:
            d.line(box, fill=_colour(rng), width=int(rng.randint(1, 6)))
        else:
            r = min(w, h) // 2
            d.ellipse([box[0], box[1], box[0] + r * 2, box[1] + r * 2], fill=_colour(rng))
    return img


def make_synthetic(m: int = TRAIN_M, seed: int = TRAIN_SEED) -> tuple[np.ndarray, np.ndarray]:
    """``m`` images, half of them cats, shuffled: X (12288, m) uint8 and Y (1, m) int64."""
    rng = np.random.RandomState(seed)
    Y = np.zeros((1, m), dtype=np.int64)
    Y[0, : m // 2] = 1
    Y = Y[:, rng.permutation(m)]
    X = np.empty((SIZE * SIZE * 3, m), dtype=np.uint8)
    for i in range(m):  # one drawing per example: Pillow draws one image at a time
        img = _cat(rng) if Y[0, i] else _other(rng)
        X[:, i] = np.asarray(img, dtype=np.uint8).reshape(-1)  # (64, 64, 3) -> (12288,), C order
    return X, Y


def synthetic_split() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(X_train, Y_train), (X_dev, Y_dev): two disjoint seeded draws."""
    return make_synthetic(TRAIN_M, TRAIN_SEED), make_synthetic(DEV_M, DEV_SEED)
