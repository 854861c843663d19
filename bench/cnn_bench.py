"""Benchmark: the photos recipe's CNN in model_core against PyTorch CPU, in one run.

Both train the same architecture (recipes.PHOTOS_ARCHITECTURE: four 3x3 conv layers of
16-32-64-64 filters, ReLU, 2x2 max pooling after the first three, global average pooling,
dropout 0.3, one sigmoid unit) from the same initial weights on the course's 209 images,
with the same batches: per-image standardization, flips and shifts drawn by model_core's
augment.py, Adam 1e-3 with weight decay 1e-4 on the weights, batch 32, the same epochs,
the same number of threads, each trained --rounds times, alternately, so that a busy
moment of a shared machine falls on both. Every time includes normalizing and augmenting
the batches.
Then: single-image inference (uint8 pixels in, P(cat) out, no flip averaging) in both;
GFLOP/s of model_core's conv layers against numpy's GEMM on the same shapes; and the
col2im variants conv.py's docstring compares. Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/cnn_bench.py --data ../shared/datasets
    python bench/cnn_bench.py --epochs 5 --threads 2     # a quicker look, 2 threads

(This machine's environment pins OpenBLAS to its Haswell kernels; unset, numpy runs the
SkylakeX ones, as PyTorch's own kernels use AVX-512: the bench prints which.)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

# time the model_core of this checkout, whatever version the environment has installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model_core import load_dataset, train
from model_core.architecture import parameter_shapes
from model_core.augment import augment
from model_core.conv import conv_backward, conv_forward
from model_core.initializers import initialize_layers
from model_core.network import to_images
from model_core.normalization import normalize
from model_core.prediction import predict_proba_raw
from model_core.recipes import recipe

try:  # the bench extra
    import torch
except ImportError:
    torch = None


def best_of(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------- PyTorch, the same network


def torch_net(parameters: dict[str, np.ndarray]) -> "torch.nn.Module":
    """The photos architecture in PyTorch, with model_core's initial weights (NCHW layouts)."""
    nn = torch.nn
    convs = [nn.Conv2d(c_in, c_out, 3, padding=1) for c_in, c_out in ((3, 16), (16, 32), (32, 64), (64, 64))]
    dense = nn.Linear(64, 1)
    with torch.no_grad():
        for l, conv in enumerate(convs, start=1):
            conv.weight.copy_(torch.from_numpy(parameters[f"W{l}"].transpose(3, 2, 0, 1).copy()))  # (n_C, n_C_prev, f, f)
            conv.bias.copy_(torch.from_numpy(parameters[f"b{l}"].ravel()))
        dense.weight.copy_(torch.from_numpy(parameters["W5"]))
        dense.bias.copy_(torch.from_numpy(parameters["b5"].ravel()))
    pool = nn.MaxPool2d(2)
    return nn.Sequential(convs[0], nn.ReLU(), pool, convs[1], nn.ReLU(), pool, convs[2], nn.ReLU(), pool,
                         convs[3], nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), dense)


def time_torch_training(X: np.ndarray, Y: np.ndarray, epochs: int, seed: int) -> tuple[float, "torch.nn.Module"]:
    config = recipe("photos", {"epochs": epochs, "seed": seed})
    specs = config.architecture
    net = torch_net(initialize_layers(parameter_shapes(specs), config.init, config.seed, np.float32))
    weights = [p for name, p in net.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in net.named_parameters() if name.endswith("bias")]
    # weight decay on the weights only, as model_core (and the course's L2) does
    opt = torch.optim.Adam([{"params": weights, "weight_decay": config.weight_decay}, {"params": biases}],
                           lr=config.learning_rate, betas=(config.beta1, config.beta2), eps=config.epsilon)
    rows = np.ascontiguousarray(X.T)  # (m, n_x) uint8
    m = rows.shape[0]
    rng = np.random.RandomState(config.seed + 1)
    y_all = torch.from_numpy(Y.ravel().astype(np.float32))
    net.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(m)
        for s in range(0, m, config.batch_size):
            idx = order[s : s + config.batch_size]
            A0 = to_images(normalize(rows[idx].T, config.input_norm, np.float32), specs)
            A0 = augment(A0, rng, True, config.shift)  # (b, 64, 64, 3)
            x = torch.from_numpy(np.ascontiguousarray(A0)).permute(0, 3, 1, 2)  # NCHW view
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], y_all[idx])
            loss.backward()
            opt.step()
    return time.perf_counter() - t0, net


def torch_predict(net: "torch.nn.Module", x: np.ndarray) -> np.ndarray:
    """P(cat) (m,) from uint8 columns (12288, m), standardized per image as model_core does."""
    with torch.inference_mode():
        t = torch.from_numpy(x.T.astype(np.float32))  # (m, 12288)
        std = t.std(dim=1, correction=0, keepdim=True).clamp_min(1.0)
        t = (t - t.mean(dim=1, keepdim=True)) / std
        return torch.sigmoid(net(t.reshape(-1, 64, 64, 3).permute(0, 3, 1, 2))[:, 0]).numpy()


# ---------------------------------------------------------------- conv layers against GEMM


def conv_rates(batch: int, repeats: int) -> None:
    rng = np.random.RandomState(0)
    print(f"\nConv layers of the photos net, batch {batch}, float32 (GFLOP/s; best of {repeats})")
    print(f"  {'layer':<26} {'numpy GEMM':>10} {'forward':>9} {'backward':>9}   col2im: per-offset / dcols+adds / add.at ms")
    for l, (n_H, c_in, c_out) in enumerate(((64, 3, 16), (32, 16, 32), (16, 32, 64), (8, 64, 64)), start=1):
        A = rng.randn(batch, n_H, n_H, c_in).astype(np.float32)
        W = (rng.randn(3, 3, c_in, c_out) * 0.1).astype(np.float32)
        b = np.zeros((1, 1, 1, c_out), np.float32)
        N, K = batch * n_H * n_H, 9 * c_in
        cols, W_mat = rng.randn(N, K).astype(np.float32), W.reshape(K, c_out)
        gemm = min(best_of(lambda: cols @ W_mat, repeats))
        fwd = min(best_of(lambda: conv_forward(A, W, b, 1, 1), repeats))
        Z, cache = conv_forward(A, W, b, 1, 1)
        dZ = rng.randn(*Z.shape).astype(np.float32)
        first = l == 1  # the network never asks layer 1 for dA_prev
        bwd = min(best_of(lambda: conv_backward(dZ, cache, want_dA_prev=not first), repeats))
        flops = 2 * N * K * c_out
        name = f"{l}: ({batch},{n_H},{n_H},{c_in})*{c_out}"
        col2im = "" if first else "   " + " / ".join(f"{t * 1e3:.2f}" for t in col2im_variants(dZ, W, repeats))
        print(f"  {name:<26} {flops / gemm / 1e9:>10.1f} {flops / fwd / 1e9:>9.1f} "
              f"{flops * (2 if first else 3) / 1e9 / bwd:>9.1f}{col2im}")
    print("  (forward = im2col + GEMM + bias; backward = dW, db and, above layer 1, dA_prev; "
          "FLOPs counted are the GEMMs')")


def col2im_variants(dZ: np.ndarray, W: np.ndarray, repeats: int) -> list[float]:
    """Seconds of dA_prev (stride 1, pad 1) computed three ways: conv.py's, one dcols GEMM
    then f*f adds, and np.add.at over the windows."""
    m, n_H, n_W, n_C = dZ.shape
    f, _, c_in, _ = W.shape
    dZ_mat = dZ.reshape(-1, n_C)
    cache = conv_forward(np.zeros((m, n_H, n_W, c_in), np.float32), W, np.zeros((1, 1, 1, n_C), np.float32), 1, 1)[1]

    def dcols_then_adds() -> np.ndarray:
        dcols = (dZ_mat @ W.reshape(-1, n_C).T).reshape(m, n_H, n_W, f, f, c_in)
        dA = np.zeros((m, n_H + 2, n_W + 2, c_in), np.float32)
        for i in range(f):
            for j in range(f):
                dA[:, i : i + n_H, j : j + n_W, :] += dcols[:, :, :, i, j, :]
        return dA

    rows = (np.arange(n_H)[:, None] + np.arange(f))[:, None, :, None]  # (n_H, 1, f, 1)
    cols = (np.arange(n_W)[:, None] + np.arange(f))[None, :, None, :]  # (1, n_W, 1, f)

    def add_at() -> np.ndarray:
        dcols = (dZ_mat @ W.reshape(-1, n_C).T).reshape(m, n_H, n_W, f, f, c_in)
        dA = np.zeros((m, n_H + 2, n_W + 2, c_in), np.float32)
        np.add.at(dA, (slice(None), rows, cols), dcols)
        return dA

    np.testing.assert_allclose(conv_backward(dZ, cache)[0], dcols_then_adds()[:, 1:-1, 1:-1], rtol=1e-4, atol=1e-4)
    n = max(2, repeats // 3)
    # conv.py's dA_prev alone: its backward with dA_prev, less its backward without
    ours = min(best_of(lambda: conv_backward(dZ, cache), n)) - min(best_of(lambda: conv_backward(dZ, cache, False), n))
    return [ours] + [min(best_of(fn, n)) for fn in (dcols_then_adds, add_at)]


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=os.environ.get("CATVNONCAT_DATA"),
                   help="folder with train_catvnoncat.h5 (default: $CATVNONCAT_DATA)")
    p.add_argument("--epochs", type=int, default=60, help="training epochs for both (default: the recipe's 60)")
    p.add_argument("--threads", type=int, default=1, choices=(1, 2),
                   help="BLAS / PyTorch threads for both (default 1: the machine is shared)")
    p.add_argument("--repeats", type=int, default=200, help="single-image predictions timed (default 200)")
    p.add_argument("--rounds", type=int, default=3, help="trainings of each, alternating; the best counts (default 3)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.data is None:
        p.error("give --data DIR or set CATVNONCAT_DATA")
    if torch is None:
        p.error("PyTorch is not installed: pip install -e '.[bench]' (torch==2.13.0, CPU)")
    torch.set_num_threads(args.threads)
    X, Y = load_dataset(args.data / "train_catvnoncat.h5")
    X_test, Y_test = load_dataset(args.data / "test_catvnoncat.h5")
    with threadpool_limits(args.threads):
        blas = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()]
        print(f"numpy {np.__version__} {blas}; torch {torch.__version__} ({torch.get_num_threads()} threads); "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        config = recipe("photos", {"epochs": args.epochs, "seed": args.seed})
        print(f"\nTraining the photos CNN, {args.epochs} epochs of the course's {X.shape[1]} images, batch "
              f"{config.batch_size}, float32, {args.threads} thread(s)")
        mc_times, torch_times = [], []
        for _ in range(args.rounds):
            parameters, history = train(X, Y, config)
            mc_times.append(history["seconds"])  # init + the epochs, not the accuracy pass after them
            print(f"  model_core {mc_times[-1]:7.1f} s  (load {os.getloadavg()[0]:.1f})", flush=True)
            seconds, net = time_torch_training(X, Y, args.epochs, args.seed)
            torch_times.append(seconds)
            print(f"  PyTorch    {seconds:7.1f} s  (load {os.getloadavg()[0]:.1f})", flush=True)
        mc, pt = min(mc_times), min(torch_times)
        print(f"  median: model_core {statistics.median(mc_times):.1f} s, PyTorch {statistics.median(torch_times):.1f} s "
              f"({statistics.median(mc_times) / statistics.median(torch_times):.2f}x)")
        net.eval()
        test_mc = np.mean((predict_proba_raw(X_test, parameters, input_norm="per_image",
                                             architecture=config.architecture) > 0.5) == Y_test.ravel())
        test_pt = np.mean((torch_predict(net, X_test) > 0.5) == Y_test.ravel())
        print(f"  best: model_core {mc:.1f} s, PyTorch {pt:.1f} s: model_core takes {mc / pt:.2f}x PyTorch's time "
              f"(target: within 2x) [{'met' if mc <= 2 * pt else 'NOT MET'}]")
        print(f"  test accuracy (no flip averaging): model_core {test_mc:.2f}, PyTorch {test_pt:.2f}")

        x = X_test[:, :1]  # one uint8 image (12288, 1)
        mine = lambda: predict_proba_raw(x, parameters, input_norm="per_image", architecture=config.architecture)  # noqa: E731
        theirs = lambda: torch_predict(net, x)  # noqa: E731
        for fn in (mine, theirs):
            best_of(fn, 20)  # warm up
        t_mine, t_theirs = [], []
        for _ in range(4):  # interleaved, for the same reason
            t_mine += best_of(mine, args.repeats // 4)
            t_theirs += best_of(theirs, args.repeats // 4)
        print(f"\nSingle-image inference (uint8 in, P(cat) out; {args.repeats} runs each, interleaved)")
        for name, t in (("model_core", t_mine), ("PyTorch", t_theirs)):
            print(f"  {name:<10} median {statistics.median(t) * 1e3:.3f} ms, best {min(t) * 1e3:.3f} ms")
        ok = statistics.median(t_mine) <= statistics.median(t_theirs)
        print(f"  target: at least as fast as PyTorch (median) [{'met' if ok else 'NOT MET'}]")
        conv_rates(config.batch_size, 15)
    print(f"\nload average at the end: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
