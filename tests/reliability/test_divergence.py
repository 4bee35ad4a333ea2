"""Divergence: a loss that stops being finite ends training with advice, keeps the best
checkpoint and records where it happened, on both engines."""

import math

import numpy as np
import pytest
import torch

from helpers import metrics_of
from striate.checkpoint import load_weights
from striate.numpy.learner import NumpyLearner
from striate.torch.learner import TorchLearner

QUICK = ("--dataset", "digits", "--model", "mlp", "--model-arg", "hidden=32", "--batch-size",
         "64", "--progress", "off")   # 21 minibatches per epoch


@pytest.mark.filterwarnings("error::RuntimeWarning")   # NumPy's overflow warnings: not shown
@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_a_huge_learning_rate_stops_at_once_with_advice(cli, tmp_path, engine):
    result = cli("train", *QUICK, "--engine", engine, "--lr", "1e6", "--preprocess", "none",
                 "--epochs", "3", "--out-dir", tmp_path, "--name", "run")
    assert result.code == 1 and result.err.count("\n") == 1
    assert result.err.startswith("striate: training diverged: the validation loss was nan at "
                                 "epoch 1 (iteration 21)")
    for advice in ("--lr 100000", "`striate lr-find`", "--preprocess standardize",
                   "no epoch improved on the initial weights"):
        assert advice in result.err
    metrics = metrics_of(tmp_path / "run")
    assert metrics["stopped_by"] == "diverged" and metrics["epochs"] == 1
    assert metrics["divergence"] == {"epoch": 1, "iteration": 21, "measured": "validation loss",
                                     "loss": "nan"}
    assert metrics["best_epoch"] == 0 and math.isfinite(metrics["best_valid_loss"])
    assert all(np.isfinite(array).all() for array in load_weights(tmp_path / "run")[0].values())


def poison_at_third_epoch(monkeypatch, engine):
    """A NaN planted in the first weight matrix as the third epoch starts."""
    def poison(learner):
        if engine == "torch":
            with torch.no_grad():
                next(learner.model.parameters()).fill_(math.nan)
        else:
            learner.model.params["W1"][...] = math.nan

    learner_class = TorchLearner if engine == "torch" else NumpyLearner
    real_start_epoch = learner_class.start_epoch

    def start_epoch(learner, epoch):
        real_start_epoch(learner, epoch)
        if epoch == 2:
            poison(learner)

    monkeypatch.setattr(learner_class, "start_epoch", start_epoch)


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_a_nan_after_good_epochs_keeps_the_best_checkpoint(cli, tmp_path, monkeypatch, engine):
    # Validated every 2 epochs: epoch 3 has no validation point, so its summed training loss
    # is what shows the divergence.
    args = (*QUICK, "--engine", engine, "--validation-frequency", "42", "--epochs", "5")
    poison_at_third_epoch(monkeypatch, engine)
    result = cli("train", *args, "--out-dir", tmp_path, "--name", "run")
    monkeypatch.undo()
    run = tmp_path / "run"
    assert result.code == 1
    assert "training loss was nan at epoch 3 (iteration 63)" in result.err
    assert f"the best weights, from epoch 2, are kept in {run / 'model.safetensors'}" in result.err
    assert "--preprocess" not in result.err   # the inputs are standardized already
    metrics = metrics_of(run)
    assert metrics["divergence"] == {"epoch": 3, "iteration": 63, "measured": "training loss",
                                     "loss": "nan"}
    assert metrics["best_epoch"] == 2 and metrics["test_accuracy"] > 0.8
    train_losses = [row.split(",")[3] for row in (run / "metrics.csv").read_text().split()[1:]]
    assert len(train_losses) == 3 and train_losses[-1] == "nan"

    evaluated = cli("evaluate", run)   # the kept checkpoint is the best one, intact
    assert f"error {metrics['test_error']:.2%}" in evaluated.out

    resumed = cli("train", "--resume", run)   # a diverged run stays diverged
    assert resumed.code == 1 and metrics_of(run) == metrics
