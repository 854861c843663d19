"""Benchmark: train()'s wall time with 1, 2, ... BLAS threads (the default of ``threads``).

Two jobs on the course's 209 training images: the course's 4-layer recipe (``TrainConfig()``,
2500 full-batch iterations, the gram engine) and 30 epochs of the README's mini-batch Adam
recipe (batch 64, learning rate 3e-4, ``he``, ``per_image``, ``flip``, float64, the dense engine). Each is run ``--repeats`` times per thread
count, the counts interleaved so that a change in the machine's load hits them alike;
the best run counts, and the load average is printed beside it. Usage::

    python bench/threads_bench.py --data ../shared/datasets   # or CATVNONCAT_DATA=...
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# time the model_core of this checkout, whatever version the environment has installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model_core import TrainConfig, train
from model_core.data import load_dataset

JOBS = {
    "course 4-layer, 2500 it.": TrainConfig(),
    # the README's Adam recipe (with the course's init, Adam's first steps kill every ReLU)
    "Adam, 30 epochs": TrainConfig(optimizer="adam", learning_rate=0.0003, epochs=30, init="he",
                                   input_norm="per_image", augment="flip"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=os.environ.get("CATVNONCAT_DATA"),
                   help="folder with train_catvnoncat.h5 (default: $CATVNONCAT_DATA)")
    p.add_argument("--threads", default="1,2", help="thread counts to compare (default 1,2)")
    p.add_argument("--repeats", type=int, default=3, help="runs per job and count; the best counts (default 3)")
    args = p.parse_args(argv)
    if args.data is None:
        p.error("give --data DIR or set CATVNONCAT_DATA")
    counts = [int(n) for n in args.threads.split(",")]
    X, Y = load_dataset(args.data / "train_catvnoncat.h5")
    print(f"{os.cpu_count()} CPUs, load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    for name, config in JOBS.items():
        best = {n: float("inf") for n in counts}
        for _ in range(args.repeats):
            for n in counts:
                t0 = time.perf_counter()
                train(X, Y, config, threads=n)
                best[n] = min(best[n], time.perf_counter() - t0)
        load = os.getloadavg()[0]
        row = ", ".join(f"{n} thread{'s' if n > 1 else ''} {best[n]:.2f} s" for n in counts)
        print(f"{name}: {row} (best of {args.repeats}; load {load:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
