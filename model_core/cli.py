"""The command line: ``python -m model_core train | evaluate | predict`` (or ``catvnoncat``).

Every training flag defaults to the field of ``TrainConfig()`` it sets, so the project's
recipe lives in one place (config.py); ``--recipe photos`` starts from that named recipe
instead (recipes.py), and the flags given change it. Human-readable lines go to stdout; with ``--json``
stdout holds only the JSON result (one line) and the cost lines go to stderr instead.

Exit statuses: 0 success, 1 training diverged, 2 bad arguments or files (one ``error:``
line on stderr, never a traceback), 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

import numpy as np

from . import __version__
from .activations import HIDDEN_ACTIVATIONS
from .augment import TTAS
from .config import AUGMENTS, DTYPES, TrainConfig
from .data import dataset_sha256, load_dataset
from .errors import DataError, ModelCoreError, TrainingDivergedError
from .images import image_to_vector
from .initializers import INIT_METHODS
from .metrics import classification_report
from .model import Model, build_metadata
from .normalization import INPUT_NORMS
from .optimizers import OPTIMIZERS
from .persistence import save_parameters
from .plot import cost_svg
from .recipes import DEFAULT_RECIPE, RECIPES, recipe
from .training import RECORD_EVERY, THREADS, train

__all__ = [
    "BAR_INTERVAL",
    "DEFAULTS",
    "EXIT_BROKEN_PIPE",
    "EXIT_DIVERGED",
    "EXIT_HELP",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PREDICT_CHUNK",
    "Progress",
    "THRESHOLD",
    "UsageError",
    "build_parser",
    "cmd_evaluate",
    "cmd_predict",
    "cmd_train",
    "config_from_args",
    "main",
    "program_name",
]

EXIT_OK, EXIT_DIVERGED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `... | head`
DEFAULTS = TrainConfig()
THRESHOLD = 0.5  # P(cat) above this is a cat, as in training's predict_labels
BAR_INTERVAL = 0.1  # seconds between two redraws of the progress bar
PREDICT_CHUNK = 2048  # columns normalized at a time, so evaluate's memory stays ~ m * n_x bytes
EXIT_HELP = """exit status: 0 success; 1 training diverged (try a smaller --learning-rate);
2 bad arguments or files; 130 interrupted (Ctrl-C)."""


class UsageError(Exception):
    """A bad command line; main() prints it as one ``error:`` line and exits 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block and exits from inside parse_args; we want
    # one line and a return value, so errors become exceptions that main() reports.
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# ---------------------------------------------------------------- argument parsing


def _layer_dims(text: str) -> tuple[int, ...]:
    """'12288,20,7,5,1' -> (12288, 20, 7, 5, 1); TrainConfig checks the values."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, e.g. 12288,20,7,5,1; got {text!r}")


def _architecture(text: str) -> tuple[dict[str, Any], ...]:
    """A JSON list of layer specs (or @FILE holding one); TrainConfig checks the specs."""
    try:
        if text.startswith("@"):
            text = Path(text[1:]).read_text()
        value = json.loads(text)
    except (OSError, ValueError) as e:
        raise argparse.ArgumentTypeError(f"expected a JSON list of layer specs or @FILE ({type(e).__name__})")
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError("expected a JSON list of layer specs, e.g. "
                                         '[{"type": "input", "n_H": 64, "n_W": 64, "n_C": 3}, ...]')
    return tuple(value)


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return n


def _config_flag(group: Any, name: str, help: str, **kwargs: Any) -> None:
    """Add ``--name`` for the TrainConfig field ``name``; its default is shown, never duplicated.

    ``default=SUPPRESS`` leaves unset flags out of the namespace, so TrainConfig fills them.
    """
    default = getattr(DEFAULTS, name)
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    elif default is None:
        default = "off"
    group.add_argument(
        "--" + name.replace("_", "-"), dest=name, default=argparse.SUPPRESS,
        help=f"{help} (default: {default})", **kwargs,
    )


def _add_train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train a network and save it",
        description="Train a network on a data set and save it as one .npz. Defaults are the "
        "project's recipe (TrainConfig): the course's 4-layer model.",
        epilog=EXIT_HELP,
    )
    p.add_argument("--data", required=True, metavar="PATH", help="training data: course .h5, .npz (X, Y), folder with cat/ and non-cat/, or .zip")
    p.add_argument("--test-data", metavar="PATH", help="held-out data for test_accuracy (same formats)")
    p.add_argument("--out", required=True, metavar="PATH", help="where to write the model (.npz)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line on stdout")
    p.add_argument("--plot", metavar="FILE.svg", help="also draw the cost curve as an SVG image there")
    p.add_argument("--recipe", choices=list(RECIPES), default=DEFAULT_RECIPE,
                   help="the named recipe the flags below change: course (TrainConfig(), whose defaults "
                   "are shown) or photos, a small CNN for real photographs (default: %(default)s)")
    p.add_argument("--threads", type=_positive_int, default=THREADS, metavar="N",
                   help=f"BLAS threads; the results are the same with any (default: {THREADS}, the fastest "
                   "on a shared machine: see the README)")
    c = p.add_argument_group("hyperparameters")
    _config_flag(c, "layer_dims", "comma-separated layer sizes, input first, output 1", type=_layer_dims, metavar="N,N,...,1")
    _config_flag(c, "init", "weight initialization", choices=INIT_METHODS)
    _config_flag(c, "hidden_activation", "activation of the hidden layers", choices=HIDDEN_ACTIVATIONS)
    _config_flag(c, "optimizer", "update rule", choices=OPTIMIZERS)
    _config_flag(c, "learning_rate", "step size", type=float, metavar="LR")
    _config_flag(c, "beta", "momentum's decay", type=float, metavar="B")
    _config_flag(c, "beta1", "Adam's first-moment decay", type=float, metavar="B1")
    _config_flag(c, "beta2", "Adam's and RMSprop's second-moment decay", type=float, metavar="B2")
    _config_flag(c, "epsilon", "Adam's and RMSprop's epsilon", type=float, metavar="EPS")
    steps = c.add_mutually_exclusive_group()
    _config_flag(steps, "iterations", "full-batch gradient steps", type=int, metavar="N")
    _config_flag(steps, "epochs", "passes over shuffled mini-batches instead of --iterations", type=int, metavar="N")
    _config_flag(c, "batch_size", "mini-batch size, with --epochs", type=int, metavar="B")
    _config_flag(c, "l2", "L2 regularization strength lambda", type=float, metavar="LAMBDA")
    _config_flag(c, "input_norm", "input normalization, saved with the model", choices=INPUT_NORMS)
    _config_flag(c, "augment", "data augmentation", choices=AUGMENTS)
    _config_flag(c, "seed", "seed of initialization, shuffling and flips", type=int, metavar="S")
    _config_flag(c, "dtype", "floating-point precision", choices=DTYPES)
    _config_flag(c, "architecture", "a network of layers instead of --layer-dims: a JSON list of layer "
                 "specs, or @FILE (see model_core/architecture.py)", type=_architecture, metavar="JSON")
    _config_flag(c, "shift", "with an architecture: random shifts of up to N pixels", type=int, metavar="N")
    _config_flag(c, "weight_decay", "with an architecture: dW += WD * W each step", type=float, metavar="WD")
    _config_flag(c, "tta", "test-time augmentation, saved with the model", choices=TTAS)
    p.set_defaults(func=cmd_train)


def program_name(argv0: str | None = None) -> str:
    """How the user called us, for usage lines: ``python -m model_core``, or the console script's name.

    argparse's own guess is the basename of sys.argv[0], which under ``-m`` is ``__main__.py``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = os.path.basename(argv0)
    if not name or name in ("__main__.py", "-c", "-m") or name.endswith(".py"):
        return "python -m model_core"
    return name


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=program_name(),
        description="The course's cat / non-cat deep network: train, evaluate, predict.",
        epilog=EXIT_HELP,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,predict}")
    _add_train_parser(sub)
    e = sub.add_parser("evaluate", help="accuracy, precision, recall, F1 and confusion matrix on a data set", epilog=EXIT_HELP)
    e.add_argument("--params", required=True, metavar="PATH", help="a model file written by train (or the course's np.savez)")
    e.add_argument("--data", required=True, metavar="PATH", help="labelled data (same formats as train --data)")
    e.add_argument("--json", action="store_true", help="print the report as one JSON line")
    e.set_defaults(func=cmd_evaluate)
    r = sub.add_parser("predict", help="cat / non-cat and P(cat) for each image", epilog=EXIT_HELP)
    r.add_argument("--params", required=True, metavar="PATH", help="a model file written by train")
    r.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format Pillow reads)")
    r.add_argument("--json", action="store_true", help="print a JSON list of {file, label, probability = P(cat)}")
    r.set_defaults(func=cmd_predict)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The recipe (TrainConfig() by default) with the flags that were given; TrainConfig
    validates them (ConfigError)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    name = getattr(args, "recipe", DEFAULT_RECIPE)
    if "batch_size" in given and "epochs" not in given and not RECIPES[name].mini_batch:
        # full-batch training ignores batch_size: say so rather than silently ignore the flag
        raise UsageError("--batch-size needs --epochs (without --epochs, every step uses all examples)")
    if "iterations" in given and RECIPES[name].mini_batch:
        given["epochs"] = None  # full batch instead of the recipe's epochs
    return recipe(name, given)


# ---------------------------------------------------------------- progress


class Progress:
    """Prints the course's cost lines and, on a terminal, a progress bar with ETA.

    ``__call__`` is train()'s ``on_progress(done, total, cost)``. train() calls back on
    every iteration, thousands of times a second, so the bar's text is recomputed at most
    every ``interval`` seconds. A cost line printed to the same screen erases the bar,
    prints itself, and repaints the bar below it, so the bar never flickers away.
    """

    WIDTH = 28
    ERASE = "\r\x1b[K"  # carriage return + erase to the end of the line

    def __init__(self, log: TextIO, bar: TextIO | None, unit: str, interval: float = BAR_INTERVAL) -> None:
        self.log, self.bar, self.unit, self.interval = log, bar, unit, interval
        # cost lines and bar share the screen only when both go to a terminal
        self.same_screen = bar is not None and _isatty(log)
        self.first: tuple[float, int] | None = None  # (time, done) at the first callback
        self.last_draw = -float("inf")
        self.text = ""  # the bar as last drawn; "" while not on screen

    def __call__(self, done: int, total: int, cost: float) -> None:
        now = time.monotonic()
        if self.first is None:
            # the ETA counts from here: the time before the first step (Gram matrix,
            # normalization) says nothing about how long a step takes
            self.first = (now, done)
        step = done - 1  # the course counts iterations from 0
        if step % RECORD_EVERY == 0 or done == total:
            self._print_line(f"Cost after {self.unit} {step}: {cost:f}")
        if self.bar is not None and done < total and now - self.last_draw >= self.interval:
            self.last_draw = now
            self.text = self._render(done, total, cost, now, self.first)
            self._paint()

    def _render(self, done: int, total: int, cost: float, now: float, first: tuple[float, int]) -> str:
        t0, done0 = first  # (time, done) at the first callback
        eta = _duration((now - t0) / (done - done0) * (total - done)) if done > done0 else "?"
        filled = self.WIDTH * done // total
        return (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.unit} {done}/{total}"
                f"  cost {cost:.6f}  ETA {eta}")

    def _print_line(self, line: str) -> None:
        repaint = self.same_screen and bool(self.text)
        if repaint:
            self._write_bar(self.ERASE)
        print(line, file=self.log, flush=True)
        if repaint:
            self._paint()

    def _paint(self) -> None:
        self._write_bar(self.ERASE + self.text)

    def _write_bar(self, text: str) -> None:
        if self.bar is not None:  # always, where it is called: a bar is drawn only when there is one
            self.bar.write(text)
            self.bar.flush()

    def clear(self) -> None:
        """Erase the bar for good (training ended or failed)."""
        if self.text:
            self._write_bar(self.ERASE)
            self.text = ""


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes}m{s:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


# ---------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    out = _check_writable(Path(args.out))
    plot = _check_writable(Path(args.plot), "--plot") if args.plot else None
    if plot is not None and plot.resolve() == out.resolve():
        raise UsageError(f"--plot {plot} is the --out file: the picture would overwrite the model; name another file")
    X, Y = load_dataset(args.data)  # (n_x, m) uint8, (1, m)
    X_test = Y_test = None
    if args.test_data is not None:
        X_test, Y_test = load_dataset(args.test_data)
    for name, data in (("--data", X), ("--test-data", X_test)):
        if data is not None and data.shape[0] != config.layer_dims[0]:
            raise DataError(f"{name} has {data.shape[0]} values per example but --layer-dims starts with "
                            f"{config.layer_dims[0]}")

    log = sys.stderr if args.json else sys.stdout
    bar = sys.stderr if _isatty(sys.stderr) else None
    progress = Progress(log, bar, "epoch" if config.mini_batch else "iteration", BAR_INTERVAL)
    try:
        parameters, history = train(X, Y, config, X_dev=X_test, Y_dev=Y_test, on_progress=progress,
                                    threads=args.threads)
    finally:
        progress.clear()

    metrics = {"train_accuracy": history["train_accuracy"], "test_accuracy": history.get("dev_accuracy")}
    metadata = build_metadata(config, history, dataset_sha256(X, Y), metrics, recipe=args.recipe)
    save_parameters(out, parameters, metadata)
    if plot is not None:
        plot.write_text(cost_svg(metadata["costs"], title=f"cost ({args.recipe} recipe)"), encoding="utf-8")
    result = {
        "out": str(out),
        "layer_dims": list(config.layer_dims),
        "costs": metadata["costs"],
        **metrics,
        "seconds": history["seconds"],
        "engine": history["engine"],
        "config": config.to_dict(),
        "recipe": args.recipe,
        "data_sha256": metadata["data_sha256"],
    }
    if args.json:
        _print_json(result)
    else:
        print(f"train accuracy: {metrics['train_accuracy']:.4f}")
        if metrics["test_accuracy"] is not None:
            print(f"test accuracy:  {metrics['test_accuracy']:.4f}")
        print(f"trained in {history['seconds']:.2f} s ({history['engine']} engine); saved {out}")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = Model.load(args.params)
    X, Y = load_dataset(args.data)
    _check_n_x(model, X.shape[0], args.data)
    Y_hat = (_predict_proba(model, X) > THRESHOLD).astype(np.int64)[None, :]  # (1, m)
    report = classification_report(Y, Y_hat)
    if args.json:
        _print_json({"params": args.params, "data": args.data, **report})
        return EXIT_OK
    c = cast(dict[str, int], report["confusion"])  # metrics.confusion's counts
    for key in ("accuracy", "precision", "recall", "f1"):
        print(f"{key:<10} {report[key]:.4f}")
    print(f"confusion matrix ({report['m']} examples; rows: true, columns: predicted)")
    print(f"{'':>10} {'non-cat':>8} {'cat':>8}")
    print(f"{'non-cat':>10} {c['tn']:>8} {c['fp']:>8}")
    print(f"{'cat':>10} {c['fn']:>8} {c['tp']:>8}")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    model = Model.load(args.params)
    _check_n_x(model, 64 * 64 * 3, "images (64x64x3)")
    vectors = []
    for path in args.images:
        try:
            vectors.append(image_to_vector(path))  # (12288,) uint8
        except DataError as e:
            # the limit's fields kept: a script reading them sees what image_to_vector said
            raise DataError(str(e) if path in str(e) else f"{path}: {e}",
                            limit=e.limit, value=e.value, actual=e.actual) from None
    proba = _predict_proba(model, np.stack(vectors, axis=1))  # (k,)
    rows = [{"file": path, "label": "cat" if p > THRESHOLD else "non-cat", "probability": float(p)}
            for path, p in zip(args.images, proba)]
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(f"{row['file']}: {row['label']} (P(cat) = {row['probability']:.4f})")
    return EXIT_OK


def _predict_proba(model: Model, X: np.ndarray) -> np.ndarray:
    """P(cat), shape (m,), for raw pixels X (n_x, m), in chunks of columns."""
    return np.concatenate([model.predict_proba(X[:, s : s + PREDICT_CHUNK])
                           for s in range(0, X.shape[1], PREDICT_CHUNK)])


def _check_n_x(model: Model, n_x: int, what: str) -> None:
    if model.layer_dims[0] != n_x:
        raise DataError(f"the model expects {model.layer_dims[0]} values per example; {what} has {n_x}")


def _check_writable(out: Path, flag: str = "--out") -> Path:
    """Fail before training, not after it, if --out (or --plot) cannot be written."""
    if out.is_dir():
        example = "model.npz" if flag == "--out" else "cost.svg"
        raise UsageError(f"{flag} {out} is a directory; give a file name such as {example}")
    parent = out.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag} {out}: directory {parent} is not writable")
    return out


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, allow_nan=False), flush=True)


# ---------------------------------------------------------------- entry point


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as e:
        print(f"error: {_one_line(e)} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help and --version exit from inside argparse
        return e.code if isinstance(e.code, int) else EXIT_OK
    except TrainingDivergedError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_DIVERGED
    except ModelCoreError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly, and keep Python's own flush
        # at exit from failing on the closed stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or _one_line(e)}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
