"""The NumPy engine behind the same CLI, run directory and checkpoint files as the torch engine."""

import json

import numpy as np
import pytest

from helpers import interrupted_after_epochs, metrics_of, train_run, tree_snapshot
from striate.runs import TRAIN_STATE

QUICK = ("--dataset", "digits", "--progress", "off", "--epochs", "3")
LENET_ON_DIGITS = ("--model-arg", "filter_size=3", "--model-arg", "nkerns=4,8",
                   "--model-arg", "hidden=16", "--model-arg", "pool=1")


@pytest.mark.parametrize("model", [
    ("--model", "mlp"), ("--model", "lenet", *LENET_ON_DIGITS),
    ("--model", "convnet3", "--model-arg", "num_filters=4", "--model-arg", "filter_size=3"),
    ("--model", "fcnet", "--model-arg", "hidden_dims=32,16", "--model-arg", "activation=tanh",
     "--model-arg", "batchnorm=true", "--model-arg", "dropout=0.2"),
    ("--model", "vgg", "--model-arg", "num_filters=4,8", "--model-arg", "As=1,2",
     "--model-arg", "hidden_dims=16", "--model-arg", "dropout=0.2")])
def test_checkpoints_cross_engines_with_the_same_predictions(cli, tmp_path, model):
    for trained_by in ("numpy", "torch"):
        run = train_run("--out-dir", tmp_path / trained_by, "--name", "run", *QUICK,
                        "--engine", trained_by, *model)
        metrics = metrics_of(run)
        errors = {}
        for engine in ("numpy", "torch"):
            result = cli("evaluate", run, "--engine", engine)
            assert result.code == 0, result.err
            errors[engine] = result.out
        assert errors["numpy"] == errors["torch"]
        assert f"error {metrics['test_error']:.2%}" in errors["numpy"]


def test_numpy_engine_learns_digits_and_writes_the_same_files(tmp_path):
    run = train_run("--out-dir", tmp_path, "--name", "run", *QUICK, "--engine", "numpy",
                    "--model", "mlp", "--epochs", "15")
    metrics = metrics_of(run)
    assert metrics["test_accuracy"] > 0.9
    assert {p.name for p in run.iterdir()} == {"config.yaml", "run.json", "metrics.csv",
                                                "metrics.json", "model.safetensors",
                                                "last.safetensors", "preprocess.safetensors",
                                                TRAIN_STATE}
    assert json.loads((run / "run.json").read_text())["versions"]["numpy"] == np.__version__


@pytest.mark.parametrize("model", [
    ("--model", "mlp"),
    # dropout draws its masks from the model's generator: a resume must pick up its state
    ("--model", "fcnet", "--model-arg", "hidden_dims=32,32", "--model-arg", "dropout=0.3",
     "--model-arg", "batchnorm=true")])
def test_numpy_engine_resume_equals_uninterrupted(cli, tmp_path, model):
    args = ("--engine", "numpy", *model, "--optimizer", "adam", "--lr", "0.002",
            "--l1", "1e-5", "--l2", "1e-4", "--epochs", "4")
    whole = train_run("--out-dir", tmp_path / "a", "--name", "run", *QUICK, *args)
    with interrupted_after_epochs(2):
        assert cli("train", "--out-dir", tmp_path / "b", "--name", "run", *QUICK,
                   *args).code == 130
    resumed = train_run("--resume", tmp_path / "b" / "run")
    assert metrics_of(resumed) == metrics_of(whole)
    # what the resume restored (batch norm's 0-d num_batches_tracked too) still loads in torch
    assert cli("evaluate", resumed, "--engine", "torch").code == 0


def test_numpy_engine_refuses_a_gpu(cli, tmp_path):
    result = cli("train", "--out-dir", tmp_path, *QUICK, "--engine", "numpy", "--device", "cuda")
    assert result.code == 2 and "runs on the CPU" in result.err
    assert tree_snapshot(tmp_path) == {}


def test_check_passes_for_a_sound_model_and_fails_for_a_broken_backward(cli, monkeypatch):
    # cs231n's 1e-3 initial weights are so small that the default lr 0.05 moves them by 12%
    # a step (the update/weight check fails it); 0.01 is sound for them.
    args = ("check", "--engine", "numpy", "--dataset", "digits", "--model", "twolayer",
            "--lr", "0.01")
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    assert result.out.count("pass") == 11 and "FAIL" not in result.out   # dead relu1 too

    import striate.numpy.layers as layers
    real_backward = layers.affine_backward

    def wrong_backward(dout, cache):
        dx, dw, db = real_backward(dout, cache)
        return dx, dw * 1.01, db     # a 1% error in dW

    monkeypatch.setattr(layers, "affine_backward", wrong_backward)
    broken = cli(*args)
    assert broken.code == 1 and "FAIL" in broken.out


@pytest.mark.parametrize("model, module, function", [
    ("mlp", "layers", "tanh_backward"),            # behind a zero-initialised output layer
    ("lenet", "fast_layers", "conv_backward_fast"),
])
def test_gradient_check_sees_through_zero_initialised_layers(monkeypatch, model, module, function):
    import importlib

    from striate.checks import gradient_checks
    from striate.config import TrainConfig
    from striate.data import Dataset, Preprocess, Split
    from striate.data.pipeline import RunData

    target = importlib.import_module(f"striate.numpy.{module}")
    real = getattr(target, function)

    def tripled(*args):
        return tuple(3 * g for g in real(*args)) if isinstance(real(*args), tuple) \
            else 3 * real(*args)

    rng = np.random.default_rng(0)
    sample = Split(rng.standard_normal((4, 1, 28, 28)).astype(np.float32),
                   rng.integers(0, 10, 4))
    dataset = Dataset("noise", sample, None, sample, [str(n) for n in range(10)], 1.0, 1, "rng")
    data = RunData(dataset, {"train": sample}, Preprocess.fit("none", sample.images, 1.0))
    config = TrainConfig()
    config.run.engine, config.model.model = "numpy", model
    assert all(c.passed for c in gradient_checks(config, data, sample))
    monkeypatch.setattr(target, function, tripled)
    assert not all(c.passed for c in gradient_checks(config, data, sample))


@pytest.mark.parametrize("args, message", [
    (("--model", "fcnet", "--model-arg", "batchnorm=true", "--batch-size", "431"),
     "batch normalization needs at least 2 examples per minibatch"),
    (("--model", "twolayer", "--model-arg", "hidden_dim=0"), "hidden_dim must be positive"),
    (("--model", "convnet3", "--model-arg", "filter_size=0", "--model-arg", "weight_scale=0.001"),
     "leave no pixels"),
])
def test_numpy_engine_bad_model_settings(cli, tmp_path, args, message):
    result = cli("train", "--out-dir", tmp_path, *QUICK, "--engine", "numpy", *args)
    assert result.code == 2 and message in result.err and result.err.count("\n") == 1
    assert tree_snapshot(tmp_path) == {}
