"""What the documented recipes know: accuracy on the course's test set and on 147 real photos.

The course's model learns the course's 209 pictures, not cats; this prints, for each
recipe the README documents, its train and test accuracy on the course's split and its
accuracy on ``photos/`` (real photographs, decoded from their files by
``model_core.image_to_vector``, exactly as ``/predict`` decodes an upload), seed by seed.

    python bench/photos_accuracy.py --data ../shared/datasets [--seeds 1 2 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model_core import TrainConfig, image_to_vector, load_dataset, predict, train  # noqa: E402

RECIPES: dict[str, TrainConfig] = {
    "4-layer (the course's, the default)": TrainConfig(),
    "2-layer [12288, 7, 1]": TrainConfig(layer_dims=(12288, 7, 1), init="scaled"),
    "logistic regression": TrainConfig(layer_dims=(12288, 1), init="zeros", learning_rate=0.005, iterations=2000),
    "4-layer, per_image + flip, Adam": TrainConfig(optimizer="adam", learning_rate=0.0003, epochs=100, init="he",
                                                  input_norm="per_image", augment="flip"),
}


def photos(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The photographs' files, decoded as /predict decodes them: X (12288, 147), Y (1, 147)."""
    files = sorted((root / "images").glob("*/*"), key=lambda p: p.name)
    X = np.stack([image_to_vector(f) for f in files], axis=1)
    Y = np.array([[1 if f.parent.name == "cat" else 0 for f in files]])
    return X, Y


def accuracy(parameters: dict, config: TrainConfig, X: np.ndarray, Y: np.ndarray) -> float:
    labels = predict(X, parameters, hidden_activation=config.hidden_activation, input_norm=config.input_norm)
    return float((labels == Y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CATVNONCAT_DATA", "../shared/datasets")))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    X, Y = load_dataset(args.data / "train_catvnoncat.h5")
    X_test, Y_test = load_dataset(args.data / "test_catvnoncat.h5")
    X_photos, Y_photos = photos(args.data / "photos")
    print(f"photos: {X_photos.shape[1]} files, {int(Y_photos.sum())} cats")
    print("| recipe | seed | train | test (50 course images) | photos (147 real) | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, recipe in RECIPES.items():
        for seed in args.seeds:
            config = recipe.replace(seed=seed)
            start = time.perf_counter()
            parameters, _ = train(X, Y, config)
            seconds = time.perf_counter() - start
            print(f"| {name} | {seed} | {accuracy(parameters, config, X, Y):.3f} "
                  f"| {accuracy(parameters, config, X_test, Y_test):.2f} "
                  f"| {accuracy(parameters, config, X_photos, Y_photos):.3f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
