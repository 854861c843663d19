"""Benchmark: the course's 4-layer job in model_core and its peers, in one run.

The job is TrainConfig()'s recipe: layer_dims [12288, 20, 7, 5, 1], init ``course``,
seed 1, plain gradient descent, 2500 full-batch iterations on the course's 209 training
images. It is timed in

* model_core float64 and float32 (best of --repeats), and float64 forced onto the
  ``dense`` engine (one run), to show what the Gram-matrix engine buys;
* the course's own code style: a faithful re-implementation of its ``L_layer_model``
  loop (``CourseReference`` below; our own code, written for this benchmark);
* scikit-learn's MLPClassifier (same architecture, sgd without momentum, batch = m,
  2500 iterations, its own initialization);
* PyTorch CPU float32 and float64 with model_core's initial weights, if torch imports;

plus numpy's GEMM rate on the job's matrix shapes, and mini-batch Adam per epoch in
model_core float32 against PyTorch float32. Every time includes turning the uint8
pixels into floats. Usage::

    python bench/train_bench.py --data ../shared/datasets   # or CATVNONCAT_DATA=...
    python bench/train_bench.py --quick                      # 1 repeat, no slow peers
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# time the model_core of this checkout, whatever version the environment has installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model_core import TrainConfig, initialize_parameters, predict, train
from model_core.data import load_dataset

try:  # the bench extra; the benchmark runs without it
    import torch
except ImportError:
    torch = None
try:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
except ImportError:
    sklearn = MLPClassifier = None

COURSE_COST_2499 = 0.088439943441702  # what the course's notebook prints at iteration 2499
RECIPE = TrainConfig()  # the job; every hyperparameter below comes from here
Params = dict[str, np.ndarray]


@dataclass
class Result:
    """One timed run: seconds, its last cost, and the accuracies of what it learned."""

    name: str
    seconds: float
    cost: float | None = None
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    note: str = ""


@dataclass
class Data:
    X: np.ndarray  # (12288, m) uint8
    Y: np.ndarray  # (1, m) int64
    X_test: np.ndarray
    Y_test: np.ndarray


def accuracy(parameters: Params, X: np.ndarray, Y: np.ndarray) -> float:
    """Accuracy of a relu/sigmoid network on raw pixels, computed in its own dtype."""
    return float(np.mean(predict(X, parameters, input_norm="scale") == Y))


def finish(name: str, seconds: float, cost: float, parameters: Params, data: Data, note: str = "") -> Result:
    return Result(name, seconds, cost, accuracy(parameters, data.X, data.Y),
                  accuracy(parameters, data.X_test, data.Y_test), note)


# ---------------------------------------------------------------- model_core


def time_model_core(data: Data, config: TrainConfig, repeats: int, engine: str = "auto") -> Result:
    """Best of ``repeats`` runs of train(); its own clock covers init, /255 and all iterations."""
    best = float("inf")
    for _ in range(repeats):
        parameters, history = train(data.X, data.Y, config, engine=engine)
        best = min(best, history["seconds"])
    name = f"model_core {config.dtype}" + (f" ({history['engine']} engine)" if engine != "auto" else "")
    note = f"{history['engine']} engine, best of {repeats}"
    return finish(name, best, history["costs"][-1][1], parameters, data, note)


# ---------------------------------------------------------------- the course's code


class CourseReference:
    """The course's L_layer_model, as its notebook writes it: our own re-implementation.

    Forward keeps a cache per layer; backward starts from dAL = -(Y/AL - (1-Y)/(1-AL))
    and computes dA_prev at every layer, the gradient with respect to X included; the
    update allocates new arrays. float64 throughout, X / 255 up front.
    """

    @staticmethod
    def initialize_parameters_deep(layer_dims: list[int], seed: int) -> Params:
        rng = np.random.RandomState(seed)  # the course: np.random.seed(1); np.random.randn
        parameters = {}
        for l in range(1, len(layer_dims)):
            parameters["W" + str(l)] = rng.randn(layer_dims[l], layer_dims[l - 1]) / np.sqrt(layer_dims[l - 1])
            parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
        return parameters

    @staticmethod
    def linear_activation_forward(A_prev, W, b, activation):
        Z = W.dot(A_prev) + b
        A = 1 / (1 + np.exp(-Z)) if activation == "sigmoid" else np.maximum(0, Z)
        return A, ((A_prev, W, b), Z)

    def L_model_forward(self, X, parameters):
        caches = []
        A = X
        L = len(parameters) // 2
        for l in range(1, L):
            A, cache = self.linear_activation_forward(A, parameters["W" + str(l)], parameters["b" + str(l)], "relu")
            caches.append(cache)
        AL, cache = self.linear_activation_forward(A, parameters["W" + str(L)], parameters["b" + str(L)], "sigmoid")
        caches.append(cache)
        return AL, caches

    @staticmethod
    def compute_cost(AL, Y):
        m = Y.shape[1]
        cost = (-1 / m) * np.sum(np.multiply(Y, np.log(AL)) + np.multiply(1 - Y, np.log(1 - AL)))
        return float(np.squeeze(cost))

    @staticmethod
    def linear_activation_backward(dA, cache, activation):
        (A_prev, W, _b), Z = cache
        if activation == "relu":
            dZ = np.array(dA, copy=True)
            dZ[Z <= 0] = 0
        else:
            s = 1 / (1 + np.exp(-Z))
            dZ = dA * s * (1 - s)
        m = A_prev.shape[1]
        dW = 1.0 / m * np.dot(dZ, A_prev.T)
        db = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
        dA_prev = np.dot(W.T, dZ)  # computed for layer 1 too: the gradient w.r.t. X
        return dA_prev, dW, db

    def L_model_backward(self, AL, Y, caches):
        grads = {}
        L = len(caches)
        dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
        grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = \
            self.linear_activation_backward(dAL, caches[L - 1], "sigmoid")
        for l in reversed(range(L - 1)):
            dA_prev, dW, db = self.linear_activation_backward(grads["dA" + str(l + 1)], caches[l], "relu")
            grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev, dW, db
        return grads

    @staticmethod
    def update_parameters(parameters, grads, learning_rate):
        L = len(parameters) // 2
        for l in range(L):
            parameters["W" + str(l + 1)] = parameters["W" + str(l + 1)] - learning_rate * grads["dW" + str(l + 1)]
            parameters["b" + str(l + 1)] = parameters["b" + str(l + 1)] - learning_rate * grads["db" + str(l + 1)]
        return parameters

    def L_layer_model(self, X, Y, layer_dims, learning_rate, num_iterations, seed):
        costs = []
        parameters = self.initialize_parameters_deep(layer_dims, seed)
        for i in range(num_iterations):
            AL, caches = self.L_model_forward(X, parameters)
            cost = self.compute_cost(AL, Y)
            grads = self.L_model_backward(AL, Y, caches)
            parameters = self.update_parameters(parameters, grads, learning_rate)
            if i % 100 == 0 or i == num_iterations - 1:
                costs.append(cost)
        return parameters, costs


def time_course(data: Data) -> Result:
    t0 = time.perf_counter()
    X = data.X / 255.0  # (12288, m) float64, as the notebook's train_x
    parameters, costs = CourseReference().L_layer_model(
        X, data.Y, list(RECIPE.layer_dims), RECIPE.learning_rate, RECIPE.iterations, RECIPE.seed)
    seconds = time.perf_counter() - t0
    return finish("course's code (reference)", seconds, costs[-1], parameters, data, "float64, computes dX, 1 run")


# ---------------------------------------------------------------- scikit-learn


def time_sklearn(data: Data) -> Result:
    m = data.X.shape[1]
    clf = MLPClassifier(
        hidden_layer_sizes=RECIPE.layer_dims[1:-1], activation="relu", solver="sgd",
        learning_rate="constant", learning_rate_init=RECIPE.learning_rate, momentum=0.0,
        nesterovs_momentum=False, batch_size=m, max_iter=RECIPE.iterations, alpha=0.0,
        shuffle=False, tol=0.0, n_iter_no_change=RECIPE.iterations + 1, random_state=RECIPE.seed,
    )
    t0 = time.perf_counter()
    rows = data.X.T / 255.0  # (m, 12288): scikit-learn wants one example per row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # it stops at max_iter, as asked
        clf.fit(rows, data.Y.ravel())
    seconds = time.perf_counter() - t0
    assert clf.n_iter_ == RECIPE.iterations, clf.n_iter_
    test = float(clf.score(data.X_test.T / 255.0, data.Y_test.ravel()))
    train_acc = float(clf.score(rows, data.Y.ravel()))
    return Result("scikit-learn MLPClassifier", seconds, float(clf.loss_curve_[-1]), train_acc, test,
                  "float64, its own (Glorot) init, 1 run")


# ---------------------------------------------------------------- PyTorch


def torch_parameters(dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """model_core's initial weights (course init, seed 1) as leaf tensors [(W1, b1), ...]."""
    init = initialize_parameters(RECIPE.layer_dims, RECIPE.init, RECIPE.seed)
    L = len(RECIPE.layer_dims) - 1
    return [tuple(torch.tensor(init[f"{p}{l}"], dtype=dtype, requires_grad=True) for p in "Wb")
            for l in range(1, L + 1)]


def torch_logits(A: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Examples in rows, as nn.Linear does: A (b, n_x) -> Z^[L] (b,)."""
    for l, (W, b) in enumerate(layers, start=1):
        Z = A @ W.T + b.T  # (b, n_l)
        A = torch.relu(Z) if l < len(layers) else Z
    return Z[:, 0]


def torch_to_numpy(layers) -> Params:
    return {f"{p}{l}": t.detach().numpy() for l, pair in enumerate(layers, start=1) for p, t in zip("Wb", pair)}


def time_torch_gd(data: Data, dtype: torch.dtype) -> Result:
    """Full-batch SGD (no momentum) on BCE with logits; autograd does not compute dX."""
    layers = torch_parameters(dtype)
    opt = torch.optim.SGD([t for pair in layers for t in pair], lr=RECIPE.learning_rate)
    t0 = time.perf_counter()
    X = torch.from_numpy(data.X.T.copy()).to(dtype) / 255  # (m, 12288)
    y = torch.from_numpy(data.Y.ravel()).to(dtype)
    for i in range(RECIPE.iterations):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(torch_logits(X, layers), y)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    name = f"PyTorch {str(dtype).removeprefix('torch.')}"
    return finish(name, seconds, loss.detach().item(), torch_to_numpy(layers), data, f"{torch.get_num_threads()} threads, 1 run")


# ---------------------------------------------------------------- mini-batch Adam


def adam_config(epochs: int) -> TrainConfig:
    return RECIPE.replace(optimizer="adam", epochs=epochs, dtype="float32")


def time_model_core_adam(data: Data, epochs: int, repeats: int) -> Result:
    config = adam_config(epochs)
    best = float("inf")
    for _ in range(repeats):
        parameters, history = train(data.X, data.Y, config)
        best = min(best, history["seconds"])
    return finish("model_core float32 Adam", best / epochs, history["costs"][-1][1], parameters, data,
                  f"s/epoch, batch {config.batch_size}, {epochs} epochs, best of {repeats}")


def time_torch_adam(data: Data, epochs: int, repeats: int) -> Result:
    config = adam_config(epochs)
    m = data.X.shape[1]
    best = float("inf")
    for _ in range(repeats):
        layers = torch_parameters(torch.float32)
        opt = torch.optim.Adam([t for pair in layers for t in pair], lr=config.learning_rate,
                               betas=(config.beta1, config.beta2), eps=config.epsilon)
        rng = np.random.RandomState(config.seed + 1)
        t0 = time.perf_counter()
        X = torch.from_numpy(data.X.T.copy()).to(torch.float32) / 255  # (m, 12288)
        y = torch.from_numpy(data.Y.ravel()).to(torch.float32)
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(m))
            total = 0.0
            for s in range(0, m, config.batch_size):
                idx = order[s : s + config.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(torch_logits(X[idx], layers), y[idx])
                loss.backward()
                opt.step()
                total += loss.detach().item() * len(idx)
        best = min(best, time.perf_counter() - t0)
    return finish("PyTorch float32 Adam", best / epochs, total / m, torch_to_numpy(layers), data,
                  f"s/epoch, same batches and init, best of {repeats}")


# ---------------------------------------------------------------- GEMM and FLOPs


def dense_flops(layer_dims: tuple[int, ...], m: int, iterations: int) -> float:
    """FLOPs of a dense forward + backward pass that skips dX, for the whole job.

    Per layer l: forward Z = W A_prev (2 n_l n_{l-1} m), backward dW = dZ A_prev.T (the
    same) and, above layer 1, dA_prev = W.T dZ (the same again). Elementwise work ignored.
    """
    per_iteration = sum(2 * n * n_prev * m * (3 if l > 1 else 2)
                        for l, (n_prev, n) in enumerate(itertools.pairwise(layer_dims), start=1))
    return float(per_iteration * iterations)


def gemm_rate(a: np.ndarray, b: np.ndarray, repeats: int = 50) -> float:
    """numpy's best GFLOP/s for a @ b."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / best / 1e9


def gemm_rates(m: int) -> dict[str, float]:
    n_x, n_1 = RECIPE.layer_dims[:2]
    rng = np.random.RandomState(0)
    rates = {}
    for dtype in (np.float64, np.float32):
        W1 = rng.randn(n_1, n_x).astype(dtype)  # (20, 12288)
        X = rng.rand(n_x, m).astype(dtype)  # (12288, m)
        dZ1 = rng.randn(n_1, m).astype(dtype)  # (20, m)
        name = np.dtype(dtype).name
        rates[f"{name} W1 @ X        ({n_1},{n_x})@({n_x},{m})"] = gemm_rate(W1, X)
        rates[f"{name} dZ1 @ X.T     ({n_1},{m})@({m},{n_x})"] = gemm_rate(dZ1, X.T)
    return rates


# ---------------------------------------------------------------- report


def ratio_text(mine: Result, peers: list[Result]) -> str:
    parts = []
    for p in peers:
        r = p.seconds / mine.seconds
        parts.append(f"{r:.1f}x faster than {p.name}" if r >= 1 else f"{1 / r:.1f}x slower than {p.name}")
    return f"{mine.name}: {_seconds(mine.seconds)} — " + ", ".join(parts)


def _seconds(s: float) -> str:
    return f"{s * 1000:.2f} ms" if s < 0.1 else f"{s:.2f} s"


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def print_table(results: list[Result], title: str, cost_label: str) -> None:
    print(f"\n{title}")
    print(f"  {'implementation':<38} {'time':>10} {cost_label:>20} {'train acc':>9} {'test acc':>8}  note")
    for r in results:
        print(f"  {r.name:<38} {_seconds(r.seconds):>10} {_fmt(r.cost, '.15f'):>20} "
              f"{_fmt(r.train_accuracy, '.4f'):>9} {_fmt(r.test_accuracy, '.4f'):>8}  {r.note}")


def check(label: str, ok: bool | None, detail: str) -> None:
    status = "n/a" if ok is None else ("met" if ok else "NOT MET")
    print(f"  [{status:>7}] {label}: {detail}")


def print_targets(by: dict[str, Result], adam: dict[str, Result]) -> None:
    """The issue's targets, each checked against this run's own measurements."""
    f64, f32 = by["model_core float64"], by["model_core float32"]
    torch32, course = by.get("PyTorch float32"), by.get("course's code (reference)")
    print("\nTargets (issue 2, section 5)")
    rel = abs(f64.cost - COURSE_COST_2499) / COURSE_COST_2499
    check("float64 reproduces the course's cost at 2499", rel < 1e-7,
          f"{f64.cost!r} vs {COURSE_COST_2499!r}, relative error {rel:.1e}")
    check("float64 job under 1 s", f64.seconds < 1.0, _seconds(f64.seconds))
    for peer, factor in ((torch32, 15), (course, 30)):
        if peer is not None:
            r = peer.seconds / f64.seconds
            check(f"float64 at least {factor}x faster than {peer.name}", r >= factor, f"{r:.1f}x")
        else:
            check(f"float64 at least {factor}x faster than a skipped peer", None, "not run")
    check("float32 faster than float64", f32.seconds < f64.seconds, f"{_seconds(f32.seconds)} vs {_seconds(f64.seconds)}")
    if "PyTorch float32 Adam" in adam:
        mine, theirs = adam["model_core float32 Adam"], adam["PyTorch float32 Adam"]
        check("Adam per epoch at least as fast as PyTorch float32", mine.seconds <= theirs.seconds,
              f"{_seconds(mine.seconds)} vs {_seconds(theirs.seconds)} per epoch")
    else:
        check("Adam per epoch at least as fast as PyTorch float32", None, "torch not installed")


def print_environment() -> None:
    print("Environment")
    print(f"  python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    config = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    print(f"  numpy BLAS: {config.get('name', '?')} {config.get('version', '')}")
    print(f"  torch: {torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch else 'torch not installed'}")
    print(f"  scikit-learn: {sklearn.__version__ if sklearn else 'not installed'}")
    print(f"  job: layer_dims {list(RECIPE.layer_dims)}, init {RECIPE.init}, seed {RECIPE.seed}, {RECIPE.optimizer}, "
          f"lr {RECIPE.learning_rate}, {RECIPE.iterations} full-batch iterations")
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cpus:
        print(f"  WARNING: the machine is busy (load {load:.1f} on {cpus} CPUs): timings will be slow and noisy")


# ---------------------------------------------------------------- main


def load(directory: Path) -> Data:
    X, Y = load_dataset(directory / "train_catvnoncat.h5")
    X_test, Y_test = load_dataset(directory / "test_catvnoncat.h5")
    return Data(X, Y, X_test, Y_test)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=os.environ.get("CATVNONCAT_DATA"),
                   help="folder with train_catvnoncat.h5 and test_catvnoncat.h5 (default: $CATVNONCAT_DATA)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each model_core job; the best counts (default 3)")
    p.add_argument("--adam-epochs", type=int, default=100, help="epochs of the mini-batch Adam job (default 100)")
    p.add_argument("--quick", action="store_true",
                   help="1 repeat, 20 Adam epochs, and only PyTorch float32 among the slow peers")
    args = p.parse_args(argv)
    if args.data is None:
        p.error("give --data DIR or set CATVNONCAT_DATA")
    if args.quick:
        args.repeats, args.adam_epochs = 1, min(args.adam_epochs, 20)
    return args


def run(name: str, fn: Callable[[], Result], results: list[Result]) -> None:
    """Run one timed job and say so at once: the whole benchmark takes minutes."""
    print(f"  running {name} ...", end="", flush=True)
    r = fn()
    # the 1-minute load average as the run ends: above ~1 on 2 CPUs, something else was
    # running too, and multithreaded BLAS slows down far more than in proportion
    load = os.getloadavg()[0]
    print(f" {_seconds(r.seconds)}  (load {load:.2f})", flush=True)
    r.note += f", load {load:.1f}"
    results.append(r)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if torch is not None:
        torch.set_num_threads(2)
    print_environment()
    data = load(args.data)
    m = data.X.shape[1]

    print("\nTiming the course's 4-layer job")
    gd: list[Result] = []
    run("model_core float64", lambda: time_model_core(data, RECIPE, args.repeats), gd)
    run("model_core float32", lambda: time_model_core(data, RECIPE.replace(dtype="float32"), args.repeats), gd)
    if not args.quick:
        run("model_core float64, dense engine", lambda: time_model_core(data, RECIPE, 1, engine="dense"), gd)
    peers: list[Result] = []
    if torch is None:
        print("  torch not installed: skipping PyTorch (pip install torch==2.13.0)")
    else:
        run("PyTorch float32", lambda: time_torch_gd(data, torch.float32), peers)
        if not args.quick:
            run("PyTorch float64", lambda: time_torch_gd(data, torch.float64), peers)
    if not args.quick:
        if MLPClassifier is None:
            print("  scikit-learn not installed: skipping MLPClassifier")
        else:
            run("scikit-learn", lambda: time_sklearn(data), peers)
        run("the course's code", lambda: time_course(data), peers)
    # the machine may be shared: time model_core again after the peers and keep the best
    # of the two, so that one busy moment during its short runs cannot decide its figure
    for i, config in enumerate((RECIPE, RECIPE.replace(dtype="float32"))):
        again = time_model_core(data, config, args.repeats)
        gd[i].seconds = min(gd[i].seconds, again.seconds)
        engine = gd[i].note.split(",")[0]  # "gram engine"
        gd[i].note = f"{engine}, best of {2 * args.repeats} (before and after the peers)"

    adam: list[Result] = []
    print(f"\nTiming mini-batch Adam, {args.adam_epochs} epochs")
    run("model_core float32 Adam", lambda: time_model_core_adam(data, args.adam_epochs, args.repeats), adam)
    if torch is not None:
        run("PyTorch float32 Adam", lambda: time_torch_adam(data, args.adam_epochs, args.repeats), adam)
    rates = gemm_rates(m)

    print_table(gd + peers, f"The 4-layer job ({RECIPE.iterations} iterations, m = {m})", "cost at 2499")
    print("\nmodel_core against each peer")
    for mine in gd[:2]:
        print("  " + ratio_text(mine, peers))
    print_table(adam, f"Mini-batch Adam (float32, batch {RECIPE.batch_size}): time per epoch", "last epoch's cost")
    if len(adam) == 2:
        print("  " + ratio_text(adam[0], adam[1:]))

    flops = dense_flops(RECIPE.layer_dims, m, RECIPE.iterations)
    print("\nGFLOP/s")
    for name, rate in rates.items():
        print(f"  numpy GEMM {name}: {rate:7.1f} GFLOP/s")
    print(f"  model_core effective rate = FLOPs a dense implementation needs for this job "
          f"(forward + backward without dX, {flops / 1e9:.1f} GFLOP) / model_core's time:")
    for r in gd:
        print(f"    {r.name:<38} {flops / r.seconds / 1e9:8.1f} GFLOP/s")
    n_x = RECIPE.layer_dims[0]
    print(f"  (it can exceed the GEMM rate: the gram engine works on the {m}x{m} Gram matrix X.T @ X in place\n"
          f"  of the {n_x}-wide X, so it does about {n_x / m:.0f}x fewer first-layer FLOPs than a dense pass)")

    print_targets({r.name: r for r in gd + peers}, {r.name: r for r in adam})
    print(f"\nload average at the end: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
