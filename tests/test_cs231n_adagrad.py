"""Adagrad in cs231n's style (the notes: cache += dx**2; x += -lr * dx / (np.sqrt(cache) + eps)),
wired into `striate train --engine numpy --optimizer adagrad`. Its trajectory against
torch.optim.Adagrad, with and without weight decay, is one of tests/numpy/test_optim.py's."""

import numpy as np

from helpers import NUMPY_MLP_ON_DIGITS, metrics_of, train_run
from striate.config import OptimConfig
from striate.numpy import optim
from striate.numpy.learner import NumpyLearner
from striate.numpy.models import TwoLayerNet


def test_adagrad_steps_by_hand():
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    config = {"learning_rate": 0.1, "epsilon": 0.0}
    w1, config = optim.adagrad(w, dw, config)
    np.testing.assert_allclose(config["cache"], [0.25, 16.0])
    np.testing.assert_allclose(w1, [0.9, -2.1])          # each weight moves by lr at first
    w2, config = optim.adagrad(w1, dw, config)
    np.testing.assert_allclose(config["cache"], [0.5, 32.0])
    np.testing.assert_allclose(w2, w1 - 0.1 / np.sqrt(2))   # then by lr / sqrt(steps)


def test_defaults_and_dtype():
    w = np.ones((2, 3), dtype=np.float32)
    w, config = optim.adagrad(w, w * 0.5)
    assert config["learning_rate"] == 1e-2 and config["epsilon"] == 1e-8
    w, config = optim.adagrad(w, w * 0.5, config)
    assert w.dtype == np.float32 and config["cache"].shape == (2, 3)


def test_the_learner_steps_with_adagrad_and_eps():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((8, 6)), rng.integers(3, size=8)
    model = TwoLayerNet(input_dim=6, hidden_dim=5, num_classes=3, weight_scale=0.5)
    before = {name: value.copy() for name, value in model.params.items()}
    _, grads = model.loss(X, y)
    config = OptimConfig(optimizer="adagrad", lr=0.3, eps=1e-3, batch_size=8, weight_decay=0.0)
    learner = NumpyLearner(model, {"train": (X, y)}, config, seed=0)
    learner.start_epoch(1)
    learner.train_step(0, 0.3)
    for name, value in before.items():
        expected, _ = optim.adagrad(value, grads[name], {"learning_rate": 0.3, "epsilon": 1e-3})
        # the learner sums the batch in its epoch's order: equal up to rounding
        np.testing.assert_allclose(model.params[name], expected, rtol=1e-12, atol=1e-15,
                                   err_msg=name)


def test_striate_train_runs_adagrad_on_the_numpy_engine(tmp_path):
    run = train_run(*NUMPY_MLP_ON_DIGITS, "--out-dir", tmp_path, "--optimizer", "adagrad",
                    "--lr", "0.05", "--eps", "1e-8")
    assert "optimizer: adagrad" in (run / "config.yaml").read_text()
    assert metrics_of(run)["test_accuracy"] > 0.9       # 93.0% here
