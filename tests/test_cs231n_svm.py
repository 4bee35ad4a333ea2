"""The multiclass SVM losses of the NumPy engine and `--loss hinge | squared-hinge`.

cs231n's svm_loss: margins max(0, s_j - s_y + 1) over the wrong classes j, summed per example and
averaged over the batch; the squared hinge squares the margins. The published figures are the
"Test svm_loss and softmax_loss" cell of assignment 2's FullyConnectedNets.ipynb (2017; assignment
1's two_layer_net.ipynb since 2020). assignment 1's svm.ipynb compares svm_loss_naive with
svm_loss_vectorized on CIFAR-10's dev set and a random W: its figures depend on that data, so
the torch oracle stands in for them here.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_matches_torch, metrics_of, train_run
from striate.config import TrainConfig
from striate.errors import StriateError
from striate.numpy import losses
from striate.numpy.engine import fresh_model, use_loss
from striate.numpy.gradient_check import eval_numerical_gradient, rel_error
from striate.numpy.learner import NumpyLearner
from striate.numpy.models import TwoLayerNet


def notebook_scores():
    """np.random.seed(231); x = 0.001 * np.random.randn(50, 10); y = np.random.randint(10, 50)"""
    np.random.seed(231)
    num_classes, num_inputs = 10, 50
    x = 0.001 * np.random.randn(num_inputs, num_classes)
    y = np.random.randint(num_classes, size=num_inputs)
    return x, y


def test_svm_and_softmax_losses_are_the_notebooks():
    x, y = notebook_scores()
    loss, dx = losses.svm_loss(x, y)
    assert loss == pytest.approx(8.9996027491, abs=1e-10)        # "loss: 8.9996027491"
    dx_num = eval_numerical_gradient(lambda x: losses.svm_loss(x, y)[0], x)
    assert rel_error(dx_num, dx) == pytest.approx(1.40215660067e-09, rel=1e-3)   # "dx error"
    loss, dx = losses.softmax_loss(x, y)
    assert loss == pytest.approx(2.3025458445, abs=1e-10)        # "loss: 2.3025458445"
    dx_num = eval_numerical_gradient(lambda x: losses.softmax_loss(x, y)[0], x)
    assert rel_error(dx_num, dx) == pytest.approx(9.38467316199e-09, rel=1e-3)


@pytest.mark.parametrize("name, p", [("svm_loss", 1), ("squared_hinge_loss", 2)])
def test_hinge_losses_equal_torchs_multi_margin_loss_times_classes(name, p):
    rng = np.random.default_rng(0)
    scores, y = rng.standard_normal((7, 5)), rng.integers(5, size=7)
    loss, dscores = getattr(losses, name)(scores, y)
    assert_matches_torch((np.float64(loss), [dscores]),
                         lambda s: 5 * F.multi_margin_loss(s, torch.tensor(y), p=p),
                         [scores], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["hinge", "squared-hinge"])
def test_a_model_trained_with_a_hinge_loss_passes_the_gradient_check(loss):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 8)), rng.integers(4, size=6)
    model = use_loss(TwoLayerNet(input_dim=8, hidden_dim=7, num_classes=4, weight_scale=0.5,
                                 reg=0.1), loss)
    scores = model.loss(X)
    expected, _ = losses.BY_NAME[loss](scores, y)
    value, grads = model.loss(X, y)
    assert value == pytest.approx(expected + 0.05 * sum((model.params[w] ** 2).sum()
                                                        for w in ("W1", "W2")))
    for name in sorted(grads):
        numerical = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name])
        # atol: an output bias whose margins cancel has an analytic 0 and a numerical 2e-11,
        # which rel_error's floor of 1e-8 would call an error of 2e-3
        np.testing.assert_allclose(numerical, grads[name], rtol=1e-6, atol=1e-9, err_msg=name)


def config_with(loss: str, model: str = "mlp") -> TrainConfig:
    config = TrainConfig()
    config.run.engine, config.model.model, config.optim.loss = "numpy", model, loss
    config.optim.batch_size = 10
    return config


@pytest.mark.parametrize("loss", ["hinge", "squared-hinge"])
def test_the_engine_trains_on_the_configured_loss(loss):
    # mlp's output layer starts at zero: every wrong class violates the margin by exactly 1, so
    # the initial loss is C - 1 = 9 for either hinge (ln 10 for the cross-entropy)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((10, 1, 4, 4)).astype(np.float32), np.arange(10)
    model = fresh_model(config_with(loss), (1, 4, 4), 10)
    assert model.loss(X, y)[0] == pytest.approx(9.0)
    learner = NumpyLearner(model, {"train": (X, y)}, config_with(loss).optim, seed=0)
    learner.start_epoch(1)
    assert learner.train_step(0, 0.05) == pytest.approx(9.0)
    assert model.loss(X, y)[0] < 9.0


def test_cross_entropy_leaves_the_svm_model_its_hinge():
    model = fresh_model(config_with("cross-entropy", "svm"), (1, 4, 4), 10)
    assert model.data_loss_function is losses.svm_loss


def test_a_model_computing_its_own_loss_refuses_a_hinge_in_one_line():
    class OwnModel:
        params = {"W1": np.zeros((16, 3))}

        def loss(self, X, y=None):
            raise AssertionError("not called")

    with pytest.raises(StriateError, match="--loss hinge needs a model whose loss") as error:
        use_loss(OwnModel(), "hinge")
    assert "\n" not in str(error.value)


def test_striate_train_takes_loss_hinge_on_the_numpy_engine(tmp_path):
    run = train_run("--out-dir", tmp_path, "--name", "run", "--dataset", "digits",
                    "--progress", "off", "--engine", "numpy", "--model", "mlp", "--epochs", "3",
                    "--loss", "hinge")
    assert "loss: hinge" in (run / "config.yaml").read_text()
    assert metrics_of(run)["test_accuracy"] > 0.85       # 90.5% here
