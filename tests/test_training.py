"""End to end on the bundled digits data: train, resume, evaluate, predict, and bad input."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import interrupted_after_epochs, metrics_of, resave, train_run, tree_snapshot
from striate.checkpoint import load_state, load_weights, save_state
from striate.config import config_from_yaml
from striate.data import load_dataset, load_image
from striate.data.pipeline import load_preprocess
from striate.errors import StriateError
from striate.runs import TRAIN_STATE
from striate.torch.engine import load_model


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """The issue's acceptance run: an MLP on digits, default settings."""
    return train_run("--dataset", "digits", "--model", "mlp", "--progress", "off",
                     "--out-dir", tmp_path_factory.mktemp("runs"), "--name", "mlp")


def test_digits_mlp_reaches_95_percent_test_accuracy(mlp_run):
    metrics = json.loads((mlp_run / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.95
    assert metrics["test_error"] == pytest.approx(1 - metrics["test_accuracy"])


def test_run_directory_records_everything(mlp_run):
    names = {p.name for p in mlp_run.iterdir()}
    assert names == {"config.yaml", "run.json", "metrics.csv", "metrics.json",
                     "model.safetensors", "last.safetensors", "preprocess.safetensors",
                     TRAIN_STATE}
    config = config_from_yaml(mlp_run / "config.yaml")
    assert config.model.model == "mlp" and config.data.dataset == "digits"
    info = json.loads((mlp_run / "run.json").read_text())
    assert info["seed"] == 0 and info["versions"]["torch"] == torch.__version__
    rows = (mlp_run / "metrics.csv").read_text().splitlines()
    metrics = json.loads((mlp_run / "metrics.json").read_text())
    assert rows[0].split(",")[:4] == ["epoch", "iteration", "lr", "train_loss"]
    assert len(rows) == 1 + metrics["epochs"]
    state = load_state(mlp_run / TRAIN_STATE)
    assert state["loop"]["epoch"] == metrics["epochs"]


def test_checkpoint_holds_the_best_weights(mlp_run, cli):
    tensors, meta = load_weights(mlp_run)
    assert meta["model"] == "mlp" and meta["input_shape"] == [1, 8, 8]
    assert meta["class_names"] == [str(d) for d in range(10)]
    result = cli("evaluate", mlp_run, "--split", "test")
    metrics = json.loads((mlp_run / "metrics.json").read_text())
    assert result.code == 0, result.err
    assert f"error {metrics['test_error']:.2%}" in result.out
    valid = cli("evaluate", mlp_run / "model.safetensors", "--split", "valid")
    assert f"error {metrics['best_valid_error']:.2%}" in valid.out


def test_predict_names_the_class_of_image_files(mlp_run, cli, tmp_path):
    test = load_dataset("digits").test
    paths = []
    for k in range(5):
        pixels = (test.images[k, 0].astype(np.float32) * 255 / 16).round().astype(np.uint8)
        paths.append(tmp_path / f"digit{k}.png")
        Image.fromarray(pixels, mode="L").resize((32, 32), Image.NEAREST).save(paths[-1])
    result = cli("predict", mlp_run, *paths)
    assert result.code == 0, result.err
    lines = [line.split("\t") for line in result.out.splitlines()]
    assert [line[0] for line in lines] == [str(p) for p in paths]
    # The oracle: the checkpoint's torch model on the files read at the model's 8x8 size, with
    # the run's preprocessing; the class printed is its argmax, the probability its softmax there.
    model, _ = load_model(mlp_run, "cpu")
    pixels = np.stack([load_image(path, (8, 8), 1) for path in paths])          # (5, 1, 8, 8)
    with torch.no_grad():
        logits = model(torch.from_numpy(load_preprocess(mlp_run)[0].apply(pixels, 255.0)))
    probabilities = torch.softmax(logits, dim=1).numpy()                       # (5, 10)
    assert [line[1] for line in lines] == [str(k) for k in probabilities.argmax(axis=1)]
    assert [float(line[2]) for line in lines] == pytest.approx(probabilities.max(axis=1), abs=5e-5)
    correct = sum(line[1] == str(label) for line, label in zip(lines, test.labels[:5]))
    assert correct >= 4


@pytest.mark.parametrize("schedule, stopping", [
    (("--schedule", "exponential", "--optimizer", "adam", "--lr", "0.003"),
     ("--early-stopping", "none")),
    (("--schedule", "plateau",), ("--early-stopping", "epochs", "--stop-epochs", "2")),
    (("--schedule", "cosine",), ("--early-stopping", "patience", "--patience", "30")),
])
def test_resume_equals_uninterrupted(cli, tmp_path, schedule, stopping):
    args = ("--model", "lenet", "--model-arg", "filter_size=3", "--model-arg", "nkerns=4,8",
            "--model-arg", "hidden=32", "--model-arg", "pool=1", *schedule, *stopping,
            "--progress", "off", "--epochs", "4", "--batch-size", "128")
    whole = train_run("--dataset", "digits", *args, "--out-dir", tmp_path / "a", "--name", "whole")

    with interrupted_after_epochs(2):
        crashed = cli("train", "--dataset", "digits", "--out-dir", tmp_path / "b", *args,
                      "--name", "part")
    assert crashed.code == 130
    assert f"continue with `striate train --resume {tmp_path / 'b' / 'part'}`" in crashed.err
    resumed = train_run("--resume", tmp_path / "b" / "part")
    assert resumed == tmp_path / "b" / "part"

    assert metrics_of(resumed) == metrics_of(whole)
    rows = lambda run: [line.rsplit(",", 1)[0] for line in
                        (run / "metrics.csv").read_text().splitlines()]
    assert rows(resumed) == rows(whole)
    for name, array in load_weights(whole)[0].items():
        np.testing.assert_array_equal(load_weights(resumed)[0][name], array)


def test_resume_can_extend_a_run_and_records_it(tmp_path):
    run = train_run("--dataset", "digits", "--model", "logreg", "--epochs", "2", "--progress",
                    "off", "--out-dir", tmp_path, "--name", "short")
    assert metrics_of(run)["epochs"] == 2
    run = train_run("--resume", run, "--epochs", "3")
    assert metrics_of(run)["epochs"] == 3 and config_from_yaml(run / "config.yaml").stop.epochs == 3
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 3


def test_resume_refuses_fewer_epochs_than_done(cli, mlp_run):
    """config.yaml would say fewer epochs than metrics.csv holds."""
    before = tree_snapshot(mlp_run)
    done = metrics_of(mlp_run)["epochs"]
    result = cli("train", "--resume", mlp_run, "--epochs", "1")
    assert result.code == 2 and result.err.count("\n") == 1
    assert f"--epochs 1 is fewer than the {done} epochs" in result.err
    assert f"give --epochs {done} or more" in result.err
    assert tree_snapshot(mlp_run) == before


def test_forged_train_state_is_refused(cli, mlp_run, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(mlp_run, copy)
    for forged in ({"a": 1}, [1]):
        save_state(copy / TRAIN_STATE, forged)
        before = tree_snapshot(copy)
        result = cli("train", "--resume", copy)
        assert result.code == 2 and "cannot be resumed" in result.err
        assert tree_snapshot(copy) == before


def test_resume_refuses_changed_settings(cli, mlp_run):
    before = tree_snapshot(mlp_run)
    result = cli("train", "--resume", mlp_run, "--model", "lenet")
    assert result.code == 2 and "drop --model" in result.err
    assert tree_snapshot(mlp_run) == before


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "alexnet", "--dataset", "digits"], "unknown model 'alexnet'"),
    (["train", "--dataset", "imagenet"], "imagenet"),
    (["train", "--dataset", "digits", "--lr", "0"], "--lr must be a positive"),
    (["train", "--dataset", "digits", "--batch-size", "-5"], "--batch-size"),
    (["train", "--dataset", "digits", "--model-arg", "depth=3", "--model", "mlp"], "no option"),
    (["train", "--dataset", "digits", "--model", "lenet"], "leaves no pixels of 8x8 images"),
    (["train", "--frobnicate"], "unrecognized arguments"),
    (["train", "--resume", "no/such/run"], "not a striate run directory"),
    (["evaluate", "no/such/run"], "no checkpoint"),
    (["predict", "RUN", "missing.png"], None),
    (["frob"], "invalid choice"),
    (["train", "--dataset", "digits", "--device", "cuda:x"], "--device must be"),
    (["evaluate", "RUN", "--device", "foo"], "--device must be"),
    (["train", "--dataset", "digits", "--model", "lenet", "--model-arg", "pool=0"], "positive"),
    (["train", "--dataset", "digits", "--seed", "1000000000000000000"], "--seed must be in"),
    (["train", "--dataset", "digits", "--patience-increase", "nan"], "finite number"),
])
def test_bad_input_gets_one_line_exit_2_and_touches_nothing(cli, mlp_run, args, message):
    before = tree_snapshot(mlp_run.parent)
    args = [str(mlp_run) if a == "RUN" else a for a in args]
    result = cli(*args, "--out-dir", mlp_run.parent) if args[0] == "train" else cli(*args)
    assert result.code == 2
    assert result.err.startswith("striate: error: ") and result.err.count("\n") == 1
    assert "Traceback" not in result.err
    if message:
        assert message in result.err
    assert tree_snapshot(mlp_run.parent) == before


def test_checkpoint_of_a_different_model_is_refused(cli, mlp_run, tmp_path):
    # claims another architecture than its tensors
    forged = resave(mlp_run, tmp_path / "forged.safetensors",
                    lambda tensors, meta: meta.__setitem__("model_args", {"hidden": [64]}))
    result = cli("evaluate", forged)
    assert result.code == 2 and "does not hold weights for this mlp model" in result.err
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes((mlp_run / "model.safetensors").read_bytes()[:100])
    result = cli("evaluate", corrupt)
    assert result.code == 2 and "truncated or corrupt" in result.err


def test_unreadable_image_is_named(cli, mlp_run, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = cli("predict", mlp_run, bad)
    assert result.code == 2 and "notes.png" in result.err


def test_python_dash_m_and_help(tmp_path):
    import subprocess
    import sys
    for command in ("train", "evaluate", "predict", "datasets", "download", "models"):
        done = subprocess.run([sys.executable, "-m", "striate", command, "--help"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and "usage: striate" in done.stdout, command
    done = subprocess.run([sys.executable, "-m", "striate", "models"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and "lenet" in done.stdout and "nkerns=(20, 50)" in done.stdout


def test_an_unwritable_out_dir_is_a_clear_error(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the runs directory should go")
    result = cli("train", "--dataset", "digits", "--model", "logreg", "--out-dir",
                 blocker / "runs")
    assert result.code == 2 and "pass a writable --out-dir" in result.err
    assert blocker.read_text().startswith("a file")


def test_sigterm_stops_training_with_a_resumable_run(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    command = [sys.executable, "-m", "striate", "train", "--dataset", "digits", "--model",
               "logreg", "--epochs", "100000", "--early-stopping", "none", "--progress", "off",
               "--out-dir", str(tmp_path), "--name", "long"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp_path / "long" / TRAIN_STATE
    deadline = time.monotonic() + 60
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "continue with `striate train --resume" in err and "Traceback" not in err
    assert load_state(state)["loop"]["epoch"] >= 1


def test_a_run_being_trained_cannot_be_resumed_twice(cli, mlp_run, tmp_path):
    """Two --resume of one run at once: the second is refused, nothing of the first touched."""
    import shutil

    from striate.runs import RunDir

    copy = RunDir(shutil.copytree(mlp_run, tmp_path / "copy"))
    copy.lock()   # as the first resume holds it while it trains
    try:
        before = tree_snapshot(copy.path)
        result = cli("train", "--resume", copy.path, "--epochs", "100")
        assert result.code == 2 and "is being trained by another process" in result.err
        assert tree_snapshot(copy.path) == before
    finally:
        copy.unlock()
    assert cli("train", "--resume", copy.path).code == 0   # free again once it has finished


def test_a_full_disk_at_the_start_leaves_no_run_directory(cli, tmp_path, monkeypatch):
    import errno
    import os

    import striate.runs

    def no_space(path, text):
        raise StriateError(f"cannot write {path}: {os.strerror(errno.ENOSPC)}")

    monkeypatch.setattr(striate.runs, "atomic_write_text", no_space)
    result = cli("train", "--dataset", "digits", "--model", "mlp", "--out-dir", tmp_path / "runs",
                 "--name", "r")
    assert result.code == 2 and "No space left on device" in result.err
    assert list((tmp_path / "runs").iterdir()) == []


def test_resume_refuses_changed_data(cli, tmp_path):
    """Images added to a folder data set would re-split it and refit the preprocessing: the
    resumed run would mix two test sets."""
    root, rng = tmp_path / "images", np.random.default_rng(0)

    def add_image(label: str, name: str) -> None:
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(
            root / label / f"{name}.png")

    for label in ("a", "b"):
        for index in range(12):
            add_image(label, str(index))
    run = train_run("--dataset", "folder", "--data-dir", root, "--model", "logreg", "--epochs",
                    "1", "--progress", "off", "--out-dir", tmp_path / "runs", "--name", "r")
    add_image("a", "new")
    before = tree_snapshot(run)
    result = cli("train", "--resume", run, "--epochs", "2")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "the data changed since" in result.err and " split holds " in result.err
    assert tree_snapshot(run) == before
    (root / "a" / "new.png").unlink()
    assert cli("train", "--resume", run, "--epochs", "2").code == 0   # the same data again
