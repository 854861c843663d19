"""Accuracy of the named recipes, trained by model_core on the course's 209 images.

For each recipe and seed: train on ``train_catvnoncat.h5``, then measure accuracy on the
course's 50 test images (``test_catvnoncat.h5``) and on the 147 real photographs of
``photos/`` (evaluation only: never trained on), twice: from ``photos_catvnoncat.h5``, the
data set's own 64x64 arrays, and from the files decoded as ``/predict`` decodes an upload
(bench/photos_accuracy.py's ``photos``). Prints one row per seed, the mean per recipe,
and the issue's targets for ``photos`` (test >= 0.80 for every seed, mean photos accuracy
>= 0.62, on the h5 arrays). Usage::

    OPENBLAS_NUM_THREADS=2 python bench/cnn_accuracy.py --data ../shared/datasets
    python bench/cnn_accuracy.py --recipes photos --seeds 1 2 --epochs 30   # a quicker look
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# measure the model_core of this checkout, whatever version the environment has installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.photos_accuracy import photos as decoded_photos
from model_core import Model, build_metadata, load_dataset, train
from model_core.recipes import RECIPES, recipe

TARGET_TEST, TARGET_PHOTOS_MEAN = 0.80, 0.62


def accuracy(model: Model, X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.mean((model.predict_proba(X) > 0.5) == Y.ravel().astype(bool)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=os.environ.get("CATVNONCAT_DATA"),
                   help="folder with train_catvnoncat.h5, test_catvnoncat.h5 and photos/ (default: $CATVNONCAT_DATA)")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    p.add_argument("--epochs", type=int, help="override the recipe's epochs (a quicker, weaker look)")
    args = p.parse_args(argv)
    if args.data is None:
        p.error("give --data DIR or set CATVNONCAT_DATA")
    X, Y = load_dataset(args.data / "train_catvnoncat.h5")
    X_test, Y_test = load_dataset(args.data / "test_catvnoncat.h5")
    X_photos, Y_photos = load_dataset(args.data / "photos" / "photos_catvnoncat.h5")
    X_files, Y_files = decoded_photos(args.data / "photos")
    print(f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'recipe':<8} {'seed':>4} {'train':>6} {'test':>6} {'photos':>7} {'files':>6} {'seconds':>8}")
    ok = True
    for name in args.recipes:
        rows = []
        for seed in args.seeds:
            config = recipe(name, {"seed": seed, **({"epochs": args.epochs} if args.epochs else {})})
            t0 = time.perf_counter()
            parameters, history = train(X, Y, config)
            seconds = time.perf_counter() - t0
            model = Model(parameters, build_metadata(config, history))
            row = (history["train_accuracy"], accuracy(model, X_test, Y_test), accuracy(model, X_photos, Y_photos),
                   accuracy(model, X_files, Y_files))
            rows.append(row)
            print(f"{name:<8} {seed:>4} {row[0]:>6.3f} {row[1]:>6.3f} {row[2]:>7.3f} {row[3]:>6.3f} {seconds:>8.1f}",
                  flush=True)
        mean = np.mean(rows, axis=0)
        print(f"{name:<8} {'mean':>4} {mean[0]:>6.3f} {mean[1]:>6.3f} {mean[2]:>7.3f} {mean[3]:>6.3f}")
        if name == "photos":
            low = min(r[1] for r in rows)
            ok &= low >= TARGET_TEST and mean[2] >= TARGET_PHOTOS_MEAN
            print(f"  targets: test >= {TARGET_TEST} for every seed ({'met' if low >= TARGET_TEST else 'NOT MET'}, "
                  f"lowest {low:.2f}); mean photos >= {TARGET_PHOTOS_MEAN} "
                  f"({'met' if mean[2] >= TARGET_PHOTOS_MEAN else 'NOT MET'}, {mean[2]:.3f})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
