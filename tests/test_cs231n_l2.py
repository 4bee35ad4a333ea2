"""cs231n's L2 convention in the NumPy models: loss += 0.5 * reg * sum(W ** 2), gradient reg * W.

The published figures come from the assignments' notebooks (the 2017 and 2022 releases print the
same ones): assignment 2's FullyConnectedNets.ipynb (assignment 1's two_layer_net.ipynb since
2020) for TwoLayerNet and FullyConnectedNet, ConvolutionalNetworks.ipynb for ThreeLayerConvNet.
striate's own --l2 lambda adds lambda * sum(W ** 2): cs231n's reg is 2 * lambda.
"""

import numpy as np
import pytest

from striate.config import OptimConfig
from striate.numpy.gradient_check import eval_numerical_gradient, rel_error
from striate.numpy.learner import NumpyLearner
from striate.numpy.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet


def two_layer_net_of_the_notebook():
    """The notebook's TwoLayerNet test: N, D, H, C = 3, 5, 50, 7 and linspace weights."""
    N, D, H, C = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T                 # (N, D)
    return model, X, np.asarray([0, 5, 1])


def test_two_layer_net_gives_the_notebooks_correct_scores_and_losses():
    model, X, y = two_layer_net_of_the_notebook()
    # the notebook's correct_scores, compared there by summed absolute difference < 1e-6
    correct_scores = np.asarray(
        [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765,
          16.09215096],
         [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135,
          16.18839143],
         [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506,
          16.28463190]])
    assert np.abs(model.loss(X) - correct_scores).sum() < 1e-6
    assert abs(model.loss(X, y)[0] - 3.4702243556) < 1e-10        # correct_loss, reg 0
    model.reg = 1.0
    assert abs(model.loss(X, y)[0] - 26.5948426952) < 1e-10       # correct_loss, reg 1.0


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_passes_the_notebooks_gradient_check(reg):
    model, X, y = two_layer_net_of_the_notebook()
    model.reg = reg
    _, grads = model.loss(X, y)
    for name in sorted(grads):
        numerical = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name])
        # the notebook: "Errors should be around e-7 or less" (it prints 8.18e-07 for W1 at 0.7)
        assert rel_error(numerical, grads[name]) < 1e-6, name


def notebook_initial_losses(**options):
    """The initial losses of the notebooks' FullyConnectedNet check: np.random.seed(231); N, D,
    H1, H2, C = 2, 15, 20, 30, 10; X and y; then, for reg in [0, 3.14],
    FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
    dtype=np.float64, **options), given the weights cs231n's draws from NumPy's global generator
    in its order (np.random.normal per W; biases, gamma and beta take no random numbers)."""
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    losses = []
    for reg in [0, 3.14]:
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg,
                                  weight_scale=5e-2, dtype=np.float64, **options)
        for i, shape in enumerate([(D, H1), (H1, H2), (H2, C)], start=1):
            model.params[f"W{i}"] = np.random.normal(0, 5e-2, shape)
        losses.append(model.loss(X, y)[0])
    return losses


def test_fully_connected_net_gives_the_notebooks_initial_losses():
    # FullyConnectedNets.ipynb prints "Initial loss: 2.300479089768492" and "7.052114776533016"
    np.testing.assert_allclose(notebook_initial_losses(), [2.300479089768492, 7.052114776533016],
                               rtol=0, atol=1e-12)


def test_three_layer_convnet_sanity_losses_are_the_notebooks():
    # ConvolutionalNetworks.ipynb, "Sanity check loss": model = ThreeLayerConvNet(), N = 50,
    # X = np.random.randn(N, 3, 32, 32), y = np.random.randint(10, size=N); it prints 2.3026
    # without regularization and 2.5083 with model.reg = 0.5 (2022: 2.302586071243987 and
    # 2.508255638232932; 2017: 2.30258742161 and 2.50892420299). The notebook's weights are
    # other draws of N(0, 1e-3^2), whose penalty varies by about 3e-4 (striate's former
    # convention, reg * sum(W ** 2), printed 2.7155).
    np.random.seed(231)
    X = np.random.randn(50, 3, 32, 32)
    y = np.random.randint(10, size=50)
    model = ThreeLayerConvNet()
    assert model.loss(X, y)[0] == pytest.approx(2.3026, abs=1e-4)
    model.reg = 0.5
    assert model.loss(X, y)[0] == pytest.approx(2.5083, abs=1e-3)


def test_l2_of_the_cli_is_half_of_cs231ns_reg():
    """--l2 lambda, added by the learner to a model of reg 0, takes the same step as cs231n's
    reg = 2 * lambda inside the model: one penalty function, two ways to set it."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 6)), rng.integers(3, size=8)
    lam = 0.05
    steps = {}
    for reg, l2 in ((0.0, lam), (2 * lam, 0.0)):
        model = TwoLayerNet(input_dim=6, hidden_dim=5, num_classes=3, weight_scale=0.5, reg=reg)
        config = OptimConfig(optimizer="sgd", lr=0.1, batch_size=8, l2=l2, weight_decay=0.0)
        learner = NumpyLearner(model, {"train": (X, y)}, config, seed=0)
        learner.start_epoch(1)
        learner.train_step(0, 0.1)
        steps[reg] = model.params
    assert steps[0.0]["W1"].dtype == np.float64
    for name in steps[0.0]:      # halving and doubling are exact: the same bits
        np.testing.assert_array_equal(steps[0.0][name], steps[2 * lam][name], err_msg=name)
