"""The command line, run for real: in-process main() for results, subprocesses for exits.

Data are made here: a small .npz of (12288, m) uint8 pixels, and 64x64 PNGs for predict.
With CATVNONCAT_DATA set (the course's h5 files), the default recipe is checked against
the course's figures.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_core import TrainConfig, cli
from model_core.cli import Progress, main
from model_core.data import dataset_sha256, load_dataset
from model_core.model import Model
from model_core.persistence import save_parameters

REPO = Path(__file__).resolve().parents[2]
M = 24  # examples in the made-up data set
SMALL = ["--layer-dims", "12288,4,1", "--iterations", "250"]  # fast: ~0.05 s of training
COURSE_DATA = os.environ.get("CATVNONCAT_DATA")


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) in this process; returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def last_json(stdout: str):
    return json.loads(stdout.strip().splitlines()[-1])


def cli_env() -> dict[str, str]:
    # the repository first on the path: the package is imported from this checkout
    # one BLAS thread: these runs are tiny, and several run at once on two cores
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "OPENBLAS_NUM_THREADS": "1"}


def make_data(path: Path, m: int, seed: int) -> Path:
    """An .npz of X (12288, m) uint8 and Y (1, m): cats are brighter, so there is signal."""
    rng = np.random.RandomState(seed)
    Y = (np.arange(m) % 2).reshape(1, m)
    X = np.clip(rng.randint(0, 200, (12288, m)) + 50 * Y, 0, 255).astype(np.uint8)
    np.savez(path, X=X, Y=Y)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    return {"dir": d, "train": make_data(d / "train.npz", M, 0), "test": make_data(d / "test.npz", 10, 1)}


@pytest.fixture(scope="module")
def trained(files: dict[str, Path]) -> dict:
    """One small model trained through the CLI with --json, and what the CLI printed."""
    out = files["dir"] / "model.npz"
    status, stdout, stderr = run_main(["train", "--data", str(files["train"]), *SMALL, "--out", str(out), "--json"])
    assert status == 0, stderr
    return {"out": out, "result": last_json(stdout), "stdout": stdout, "stderr": stderr}


# ---------------------------------------------------------------- train


def test_train_json_has_the_documented_keys_and_values(trained: dict) -> None:
    r = trained["result"]
    assert {"layer_dims", "costs", "train_accuracy", "test_accuracy", "seconds", "out", "engine", "config"} <= r.keys()
    assert r["layer_dims"] == [12288, 4, 1]
    assert [i for i, _ in r["costs"]] == [0, 100, 200, 249]  # every 100th and the last
    assert all(np.isfinite(c) and c > 0 for _, c in r["costs"])
    assert 0.0 <= r["train_accuracy"] <= 1.0
    assert r["test_accuracy"] is None  # no --test-data
    assert r["seconds"] > 0 and r["out"] == str(trained["out"])
    assert r["engine"] in ("dense", "gram")
    # stdout is the JSON alone; the course's cost lines went to stderr
    assert len(trained["stdout"].strip().splitlines()) == 1
    assert "Cost after iteration 249:" in trained["stderr"]


def test_every_default_comes_from_train_config(trained: dict) -> None:
    expected = TrainConfig(layer_dims=(12288, 4, 1), iterations=250).to_dict()
    assert trained["result"]["config"] == expected
    assert Model.load(trained["out"]).metadata["config"] == expected


def test_saved_model_loads_with_its_metadata(trained: dict, files: dict[str, Path]) -> None:
    model = Model.load(trained["out"])
    assert model.layer_dims == [12288, 4, 1]
    meta = model.metadata
    assert meta["metrics"] == {"train_accuracy": trained["result"]["train_accuracy"], "test_accuracy": None}
    assert meta["costs"] == trained["result"]["costs"]
    assert meta["data_sha256"] == dataset_sha256(*load_dataset(files["train"]))


def test_cost_lines_as_the_course_prints_them(files: dict[str, Path], tmp_path: Path) -> None:
    status, stdout, _ = run_main(["train", "--data", str(files["train"]), *SMALL, "--out", str(tmp_path / "m.npz")])
    assert status == 0
    costs = Model.load(tmp_path / "m.npz").metadata["costs"]
    lines = [line for line in stdout.splitlines() if line.startswith("Cost after")]
    assert lines == [f"Cost after iteration {i}: {c:f}" for i, c in costs]


def test_test_data_gives_test_accuracy_equal_to_evaluate(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m.npz"
    argv = ["train", "--data", str(files["train"]), "--test-data", str(files["test"]), *SMALL, "--out", str(out), "--json"]
    status, stdout, _ = run_main(argv)
    assert status == 0
    test_accuracy = last_json(stdout)["test_accuracy"]
    assert 0.0 <= test_accuracy <= 1.0
    status, stdout, _ = run_main(["evaluate", "--params", str(out), "--data", str(files["test"]), "--json"])
    assert last_json(stdout)["accuracy"] == test_accuracy


def test_every_flag_reaches_the_config(files: dict[str, Path], tmp_path: Path) -> None:
    argv = ["train", "--data", str(files["train"]), "--out", str(tmp_path / "m.npz"), "--json",
            "--layer-dims", "12288,3,2,1", "--init", "he", "--hidden-activation", "tanh",
            "--optimizer", "adam", "--learning-rate", "0.001", "--beta", "0.8", "--beta1", "0.85",
            "--beta2", "0.99", "--epsilon", "1e-7", "--epochs", "3", "--batch-size", "8", "--l2", "0.1",
            "--input-norm", "per_image", "--augment", "flip", "--seed", "3", "--dtype", "float32"]
    status, stdout, stderr = run_main(argv)
    assert status == 0, stderr
    r = last_json(stdout)
    assert r["config"] == TrainConfig(
        layer_dims=(12288, 3, 2, 1), init="he", hidden_activation="tanh", optimizer="adam",
        learning_rate=0.001, beta=0.8, beta1=0.85, beta2=0.99, epsilon=1e-7, epochs=3, batch_size=8,
        l2=0.1, input_norm="per_image", augment="flip", seed=3, dtype="float32",
    ).to_dict()
    assert [i for i, _ in r["costs"]] == [0, 1, 2]  # mini-batches: one cost per epoch
    assert "Cost after epoch 2:" in stderr
    assert Model.load(r["out"]).parameters["W1"].dtype == np.float32


def test_plot_draws_the_cost_curve_it_printed(files: dict[str, Path], tmp_path: Path) -> None:
    svg = tmp_path / "cost.svg"
    status, stdout, stderr = run_main(["train", "--data", str(files["train"]), *SMALL, "--out",
                                       str(tmp_path / "m.npz"), "--plot", str(svg), "--json"])
    assert status == 0, stderr
    costs = last_json(stdout)["costs"]
    root = ET.fromstring(svg.read_text())
    [line] = root.findall("{http://www.w3.org/2000/svg}polyline")
    points = line.get("points", "").split()
    assert len(points) == len(costs) == 4  # 250 iterations: recorded at 0, 100, 200 and 249
    xs, ys = zip(*[map(float, p.split(",")) for p in points])
    assert list(xs) == sorted(xs)
    # SVG's y grows downwards: the higher the cost, the smaller its y
    order = sorted(range(4), key=lambda k: costs[k][1])
    assert sorted(range(4), key=lambda k: -ys[k]) == order


def test_help_shows_the_train_config_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {TrainConfig().learning_rate})" in text
    assert "(default: " + ",".join(map(str, TrainConfig().layer_dims)) + ")" in text
    assert "diverged" in text  # the exit statuses are documented


def test_threads_change_nothing_but_the_blas_threads(trained: dict, files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "two.npz"
    status, stdout, stderr = run_main(["train", "--data", str(files["train"]), *SMALL, "--threads", "2",
                                       "--out", str(out), "--json"])
    assert status == 0, stderr
    assert last_json(stdout)["costs"] == trained["result"]["costs"]
    one, two = Model.load(trained["out"]).parameters, Model.load(out).parameters
    for k in one:
        np.testing.assert_array_equal(one[k], two[k])


def test_help_names_the_command_as_it_was_typed() -> None:
    result = subprocess.run([sys.executable, "-m", "model_core", "--help"], capture_output=True, text=True,
                            env=cli_env(), timeout=60, check=True)
    assert result.stdout.startswith("usage: python -m model_core ")
    assert cli.program_name("/usr/local/bin/catvnoncat") == "catvnoncat"  # the console script
    assert cli.program_name(str(REPO / "model_core" / "__main__.py")) == "python -m model_core"


# ---------------------------------------------------------------- progress bar


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    err, out = FakeTTY(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(cli, "BAR_INTERVAL", 0.0)  # redraw on every iteration: no timing in the test
    argv = ["train", "--data", str(files["train"]), "--layer-dims", "12288,4,1", "--iterations", "300",
            "--out", str(tmp_path / "m.npz")]
    assert main(argv) == 0
    assert "Cost after iteration 299:" in out.getvalue()  # cost lines still go to stdout
    bars = [d for d in err.getvalue().split("\r\x1b[K") if d]
    assert len(bars) == 299  # one per iteration but the last, when the bar is erased instead
    assert bars[0].startswith("[") and "iteration 1/300" in bars[0] and "cost " in bars[0] and "ETA " in bars[0]
    assert "iteration 299/300" in bars[-1]
    assert err.getvalue().endswith("\r\x1b[K")  # erased at the end


def test_progress_bar_is_rate_limited() -> None:
    log, bar = io.StringIO(), FakeTTY()
    progress = Progress(log, bar, "iteration", interval=0.1)
    for done in range(1, 20_001):
        progress(done, 20_000, 0.5)
    # 20,000 calls take far less than a second: a handful of redraws, not 20,000
    assert 1 <= bar.getvalue().count("[") <= 15
    assert len(log.getvalue().splitlines()) == 201  # 0, 100, ..., 19900, and 19999


def test_cost_lines_keep_the_bar_below_them() -> None:
    screen = FakeTTY()  # cost lines and bar on one terminal, as with --json
    progress = Progress(screen, screen, "iteration", interval=0.0)
    for done in range(1, 103):
        progress(done, 200, 0.5)
    text = screen.getvalue()
    below = text[text.index("Cost after iteration 100: 0.500000\n"):].split("\n", 1)[1]
    assert below.startswith(Progress.ERASE + "[")  # the bar is repainted under the line
    progress.clear()
    assert screen.getvalue().endswith(Progress.ERASE)


# ---------------------------------------------------------------- evaluate and predict


def test_evaluate_matches_train_accuracy_and_the_model(trained: dict, files: dict[str, Path]) -> None:
    status, stdout, _ = run_main(["evaluate", "--params", str(trained["out"]), "--data", str(files["train"]), "--json"])
    assert status == 0
    report = last_json(stdout)
    assert {"accuracy", "precision", "recall", "f1", "confusion"} <= report.keys()
    assert report["accuracy"] == trained["result"]["train_accuracy"]
    # the same figures from the model directly
    data = np.load(files["train"])
    y = data["Y"].ravel().astype(bool)
    p = Model.load(trained["out"]).predict_proba(data["X"]) > 0.5
    tp, fp, fn, tn = (int(np.sum(a & b)) for a, b in ((y, p), (~y, p), (y, ~p), (~y, ~p)))
    assert report["confusion"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    assert report["precision"] == pytest.approx(precision) and report["recall"] == pytest.approx(recall)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    assert report["f1"] == pytest.approx(f1)


def test_evaluate_text_report(trained: dict, files: dict[str, Path]) -> None:
    status, stdout, _ = run_main(["evaluate", "--params", str(trained["out"]), "--data", str(files["train"])])
    assert status == 0
    for word in ("accuracy", "precision", "recall", "f1", "confusion matrix", "non-cat"):
        assert word in stdout


@pytest.fixture(scope="module")
def images(files: dict[str, Path]) -> list[Path]:
    """Three 64x64 RGB PNGs (no resizing, so their pixels are exactly the model's input)."""
    rng = np.random.RandomState(2)
    paths = []
    for k, level in enumerate((30, 120, 240)):
        pixels = np.clip(rng.randint(0, 40, (64, 64, 3)) + level, 0, 255).astype(np.uint8)
        paths.append(files["dir"] / f"image{k}.png")
        Image.fromarray(pixels, "RGB").save(paths[-1])
    return paths


def test_predict_agrees_with_the_model(trained: dict, images: list[Path]) -> None:
    status, stdout, _ = run_main(["predict", "--params", str(trained["out"]), *map(str, images), "--json"])
    assert status == 0
    rows = last_json(stdout)
    X = np.stack([np.asarray(Image.open(p)).reshape(-1) for p in images], axis=1)  # (12288, 3), C order
    proba = Model.load(trained["out"]).predict_proba(X)
    assert [r["file"] for r in rows] == [str(p) for p in images]
    assert [r["probability"] for r in rows] == pytest.approx(proba.tolist(), rel=1e-12)
    assert [r["label"] for r in rows] == ["cat" if p > 0.5 else "non-cat" for p in proba]


def test_predict_text_names_each_image(trained: dict, images: list[Path]) -> None:
    status, stdout, _ = run_main(["predict", "--params", str(trained["out"]), *map(str, images)])
    assert status == 0
    lines = stdout.strip().splitlines()
    assert len(lines) == len(images)
    for line, path in zip(lines, images):
        assert line.startswith(f"{path}: ") and ("cat" in line) and "P(cat)" in line


# ---------------------------------------------------------------- errors, as a user sees them


@pytest.fixture(scope="module")
def bad_cases(files: dict[str, Path], trained: dict, images: list[Path]) -> dict[str, list[str]]:
    d = files["dir"]
    (d / "notes.txt").write_text("not a data set\n")
    (d / "garbage.npz").write_bytes(b"PK\x03\x04 this is not a zip")
    (d / "truncated.npz").write_bytes(trained["out"].read_bytes()[:300])
    save_parameters(d / "small_input.npz", {"W1": np.ones((1, 100)), "b1": np.zeros((1, 1))}, {})
    train, model, data, out = str(files["train"]), str(trained["out"]), str(files["train"]), str(d / "bad_out.npz")
    base = ["train", "--data", train, "--out", out]
    return {
        "no command": [],
        "unknown command": ["fit"],
        "train without --out": ["train", "--data", train],
        "missing data file": ["train", "--data", str(d / "missing.npz"), "--out", out],
        "data not a data set": ["train", "--data", str(d / "notes.txt"), "--out", out],
        "test data missing": [*base, "--test-data", str(d / "missing.h5")],
        "layer dims not integers": [*base, "--layer-dims", "12288,x,1"],
        "layer dims output not 1": [*base, "--layer-dims", "12288,4,2"],
        "layer dims wrong input": [*base, "--layer-dims", "100,4,1"],
        "negative learning rate": [*base, "--learning-rate", "-1"],
        "nan learning rate": [*base, "--learning-rate", "nan"],
        "beta of 1": [*base, "--beta1", "1"],
        "zero iterations": [*base, "--iterations", "0"],
        "iterations not a number": [*base, "--iterations", "ten"],
        "epochs with iterations": [*base, "--iterations", "10", "--epochs", "2"],
        "batch size without epochs": [*base, "--batch-size", "8"],
        "zero threads": [*base, "--threads", "0"],
        "threads not a number": [*base, "--threads", "many"],
        "unknown optimizer": [*base, "--optimizer", "sgd"],
        "unknown flag": [*base, "--momentum", "0.9"],
        "out in a missing folder": ["train", "--data", train, "--out", str(d / "no" / "such" / "m.npz")],
        "out is a folder": ["train", "--data", train, "--out", str(d)],
        "plot in a missing folder": [*base, "--plot", str(d / "no" / "such" / "cost.svg")],
        "plot is a folder": [*base, "--plot", str(d)],
        "plot is the model file": [*base, "--plot", out],  # the SVG would overwrite the model just saved
        "evaluate missing params": ["evaluate", "--params", str(d / "missing.npz"), "--data", data],
        "evaluate garbage params": ["evaluate", "--params", str(d / "garbage.npz"), "--data", data],
        "evaluate truncated params": ["evaluate", "--params", str(d / "truncated.npz"), "--data", data],
        "evaluate params not a model": ["evaluate", "--params", train, "--data", data],
        "evaluate wrong input size": ["evaluate", "--params", str(d / "small_input.npz"), "--data", data],
        "evaluate missing data": ["evaluate", "--params", model, "--data", str(d / "missing.npz")],
        "predict no images": ["predict", "--params", model],
        "predict missing image": ["predict", "--params", model, str(images[0]), str(d / "missing.png")],
        "predict not an image": ["predict", "--params", model, str(d / "notes.txt")],
        "predict bad params": ["predict", "--params", str(d / "garbage.npz"), str(images[0])],
    }


# every route to an error, run as a real command (each start costs ~0.3 s, so not all cases)
AS_COMMAND = [
    "no command", "unknown flag", "iterations not a number", "missing data file", "data not a data set",
    "layer dims output not 1", "epochs with iterations", "batch size without epochs", "out in a missing folder",
    "evaluate garbage params", "evaluate truncated params", "predict not an image",
]


@pytest.fixture(scope="module")
def bad_results(bad_cases: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess]:
    """The AS_COMMAND cases run as `python -m model_core`, a few at a time."""

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "model_core", *argv], capture_output=True, text=True,
                              env=cli_env(), timeout=60, check=False)

    with ThreadPoolExecutor(4) as pool:
        return dict(zip(AS_COMMAND, pool.map(run, [bad_cases[case] for case in AS_COMMAND])))


def assert_one_error_line(status: int, stdout: str, stderr: str, expected_status: int = 2) -> None:
    assert status == expected_status, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert stdout == ""


@pytest.mark.parametrize("case", AS_COMMAND)
def test_bad_input_as_a_command_exits_2_with_one_line(case: str, bad_results: dict, files: dict[str, Path]) -> None:
    result = bad_results[case]
    assert_one_error_line(result.returncode, result.stdout, result.stderr)
    assert not (files["dir"] / "bad_out.npz").exists()


def test_every_bad_input_exits_2_with_one_line(bad_cases: dict[str, list[str]], files: dict[str, Path]) -> None:
    for case, argv in bad_cases.items():
        status, stdout, stderr = run_main(argv)
        try:
            assert_one_error_line(status, stdout, stderr)
        except AssertionError as e:
            raise AssertionError(f"case {case!r}: {e}") from None
    assert not (files["dir"] / "bad_out.npz").exists()


def test_bad_input_messages_name_the_problem(bad_cases: dict[str, list[str]]) -> None:
    def err(case: str) -> str:
        return run_main(bad_cases[case])[2]

    assert "missing.npz" in err("missing data file")
    assert "--plot" in err("plot is the model file") and "--out" in err("plot is the model file")
    assert "--epochs" in err("epochs with iterations") and "--iterations" in err("epochs with iterations")
    assert "learning_rate" in err("negative learning rate") and "-1" in err("negative learning rate")
    assert "missing.png" in err("predict missing image")
    assert "does not exist" in err("out in a missing folder")
    assert "--threads" in err("zero threads") and "positive integer" in err("threads not a number")


def test_divergence_exits_1_with_one_line(files: dict[str, Path], tmp_path: Path) -> None:
    # weight decay of 1 - lr * l2 / m = -41665 per step: the weights overflow within ~70 steps
    argv = ["train", "--data", str(files["train"]), "--layer-dims", "12288,4,1", "--learning-rate", "100",
            "--l2", "10000", "--iterations", "300", "--out", str(tmp_path / "m.npz")]
    result = subprocess.run([sys.executable, "-m", "model_core", *argv], capture_output=True, text=True,
                            env=cli_env(), timeout=60, check=False)
    assert_one_error_line(result.returncode, "", result.stderr, expected_status=1)
    assert result.stderr.startswith("error: training diverged") and "learning_rate" in result.stderr
    assert not (tmp_path / "m.npz").exists()


def test_a_saturated_run_exits_1_suggesting_a_smaller_learning_rate(files: dict[str, Path], tmp_path: Path) -> None:
    # the run: the default 4-layer net at lr 50 ends with every output pinned at 0 or 1
    status, stdout, stderr = run_main(["train", "--data", str(files["train"]), "--learning-rate", "50",
                                       "--iterations", "300", "--out", str(tmp_path / "m.npz")])
    assert status == 1
    assert stderr.strip().splitlines()[-1].startswith("error: training diverged: every output is pinned at")
    assert "try a smaller learning_rate (got 50.0)" in stderr
    assert not (tmp_path / "m.npz").exists()


def test_ctrl_c_exits_130_without_traceback(files: dict[str, Path], tmp_path: Path) -> None:
    argv = ["train", "--data", str(files["train"]), "--layer-dims", "12288,4,1", "--iterations", "10000000",
            "--out", str(tmp_path / "m.npz")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_core", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_env(),
        # a child started from a background job may inherit SIGINT as ignored; the user's
        # terminal would deliver it, so restore the default here
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 (no lock taken)
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Cost after iteration 0:")  # training has started
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == ["error: interrupted"]
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------- the course's figures


@pytest.mark.skipif(not COURSE_DATA, reason="CATVNONCAT_DATA (folder of the course's h5 files) is not set")
def test_default_recipe_reproduces_the_course(tmp_path: Path) -> None:
    data = Path(COURSE_DATA or ".")
    out = tmp_path / "course.npz"
    argv = ["train", "--data", str(data / "train_catvnoncat.h5"), "--test-data", str(data / "test_catvnoncat.h5"),
            "--out", str(out), "--json"]
    status, stdout, stderr = run_main(argv)
    assert status == 0, stderr
    r = last_json(stdout)
    costs = dict(r["costs"])
    assert costs[0] == pytest.approx(0.7717493284237686, rel=1e-12)
    assert costs[2400] == pytest.approx(0.09287821526472397, rel=1e-7)
    assert costs[2499] == pytest.approx(0.088439943441702, rel=1e-7)
    assert r["train_accuracy"] == pytest.approx(0.9856, abs=1e-4)
    assert r["test_accuracy"] == pytest.approx(0.80)
    status, stdout, _ = run_main(["evaluate", "--params", str(out), "--data", str(data / "test_catvnoncat.h5"), "--json"])
    assert last_json(stdout)["accuracy"] == pytest.approx(0.80)


@pytest.mark.skipif(not COURSE_DATA, reason="CATVNONCAT_DATA (folder of the course's h5 files) is not set")
def test_the_course_job_at_learning_rate_50_exits_1(tmp_path: Path) -> None:
    # it used to exit 0, the cost stuck at 7.989 and train accuracy 0.66 (every answer non-cat)
    argv = ["train", "--data", str(Path(COURSE_DATA or ".") / "train_catvnoncat.h5"), "--learning-rate", "50",
            "--iterations", "300", "--out", str(tmp_path / "m.npz")]
    status, _, stderr = run_main(argv)
    assert status == 1
    assert "every output is pinned at 0" in stderr and "smaller learning_rate (got 50.0)" in stderr


def test_evaluate_with_an_image_for_params_says_it_is_not_an_npz(files: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (64, 64), "orange").save(tmp_path / "cat.jpg")
    status, _, err = run_main(["evaluate", "--params", str(tmp_path / "cat.jpg"), "--data", str(files["train"])])
    assert status == 2
    assert "not an .npz parameter file: it is a JPEG image" in err and "pickle" not in err
