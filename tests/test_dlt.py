"""striate.dlt: the Deep Learning Tutorials' classes as torch modules. The oracles are the
tutorials' own code (the same RandomState draws, in the same order, with the same bounds), the
shapes convolutional_mlp.py states in its comments, scipy's convolution for Theano's conv2d, and
hand computations of the cost, the zero-one loss and the penalties."""

import ast
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import convolve2d, correlate2d
from torch import nn

from striate import dlt
from striate.dlt import MLP, HiddenLayer, LeNet, LeNetConvPoolLayer, LogisticRegression


def tutorial_uniform(rng, bound, size):
    """The tutorials' line: numpy.asarray(rng.uniform(low=-b, high=b, size=...), dtype=floatX),
    floatX=float32."""
    return np.asarray(rng.uniform(low=-bound, high=bound, size=size), dtype=np.float32)


def assert_uniform(weight: torch.Tensor, bound: float, spread: float):
    """Inside +-bound, and spread like U(-bound, bound): max |W| near the bound, std near
    bound/sqrt(3), mean near 0. `spread` is the relative tolerance on the std (a few standard
    errors of it for this many draws: sqrt(0.8 / (4 n)) for a uniform)."""
    w = weight.detach().double()
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() == pytest.approx(bound, rel=0.01)
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=spread)
    assert abs(w.mean().item()) < 4 * bound / math.sqrt(3) / math.sqrt(w.numel())


# ---- shapes: convolutional_mlp.py's comments ----------------------------------------------

def test_lenet_has_the_tutorials_shapes_on_28x28_mnist():
    model = LeNet(np.random.RandomState(23455))
    x = torch.randn(3, 1, 28, 28)
    layer0 = model.layer0(x)
    layer1 = model.layer1(layer0)
    assert tuple(layer0.shape) == (3, 20, 12, 12)   # (28-5+1)/2
    assert tuple(layer1.shape) == (3, 50, 4, 4)     # (12-5+1)/2
    assert tuple(model.layer2.W.shape) == (800, 500)  # nkerns[1] * 4 * 4 -> 500
    assert tuple(model.layer3.W.shape) == (500, 10)
    assert tuple(model(x).shape) == (3, 10)


def test_lenet_takes_the_tutorials_flat_rows_too():
    """The tutorial's x is (batch, 784), reshaped to (batch, 1, 28, 28) for layer0."""
    model = LeNet(np.random.RandomState(23455))
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(model(x.reshape(4, 784)), model(x), rtol=0, atol=0)


def test_lenet_on_other_images_and_too_small_ones():
    model = LeNet(np.random.RandomState(0), nkerns=(6, 16), image_shape=(3, 32, 32), n_out=7)
    assert tuple(model.layer1.output_shape) == (16, 5, 5)  # 32 -> 28 -> 14 -> 10 -> 5
    assert tuple(model.layer2.W.shape) == (400, 500)
    assert tuple(model(torch.randn(2, 3, 32, 32)).shape) == (2, 7)
    with pytest.raises(ValueError, match="at least 16x16"):
        LeNet(np.random.RandomState(0), image_shape=(1, 8, 8))


def test_mlp_and_logistic_regression_flatten_images():
    model = MLP(np.random.RandomState(1234), n_in=784, n_hidden=500, n_out=10)
    x = torch.randn(5, 1, 28, 28)
    assert tuple(model(x).shape) == (5, 10)
    torch.testing.assert_close(model(x), model(x.reshape(5, 784)), rtol=0, atol=0)
    assert tuple(LogisticRegression(784, 10)(x).shape) == (5, 10)


# ---- initialisation: the tutorials' draws ---------------------------------------------------

def test_logistic_regression_starts_at_zero():
    model = LogisticRegression(n_in=784, n_out=10)
    assert tuple(model.W.shape) == (784, 10) and tuple(model.b.shape) == (10,)
    assert not model.W.any() and not model.b.any()


def test_hidden_layer_is_glorot_uniform_with_zero_bias():
    layer = HiddenLayer(np.random.RandomState(1), n_in=784, n_out=500)
    bound = math.sqrt(6 / (784 + 500))
    assert_uniform(layer.W, bound, spread=0.005)     # 392,000 draws: std's error ~0.07%
    assert not layer.b.any()


@pytest.mark.parametrize("sigmoid", [torch.sigmoid, F.sigmoid, nn.Sigmoid()])
def test_hidden_layer_weights_are_four_times_larger_for_a_sigmoid(sigmoid):
    tanh = HiddenLayer(np.random.RandomState(7), n_in=300, n_out=200)
    logistic = HiddenLayer(np.random.RandomState(7), n_in=300, n_out=200, activation=sigmoid)
    torch.testing.assert_close(logistic.W, 4 * tanh.W, rtol=0, atol=0)
    assert_uniform(logistic.W, 4 * math.sqrt(6 / 500), spread=0.02)
    x = torch.randn(3, 300)
    torch.testing.assert_close(logistic(x), torch.sigmoid(x @ logistic.W), rtol=1e-6, atol=1e-6)


def test_hidden_layer_activation_none_is_linear_and_given_weights_are_used():
    W, b = np.arange(6.0).reshape(3, 2), np.array([1.0, -1.0])
    layer = HiddenLayer(None, n_in=3, n_out=2, W=W, b=b, activation=None)
    x = torch.tensor([[1.0, 0.0, 2.0]])
    torch.testing.assert_close(layer(x), torch.tensor([[8.0 + 1.0, 11.0 - 1.0]]))
    shared = nn.Parameter(torch.ones(3, 2))
    assert HiddenLayer(None, 3, 2, W=shared).W is shared   # tied, like a Theano shared variable
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        HiddenLayer(None, 3, 2, W=np.zeros((2, 3)))


def test_mlp_draws_the_tutorials_numbers_for_seed_1234():
    """mlp.py's test_mlp: rng = RandomState(1234), MLP(rng, n_in=28*28, n_hidden=500, n_out=10).
    The hidden layer's W is the first draw; the logistic layer draws nothing."""
    model = MLP(np.random.RandomState(1234), n_in=28 * 28, n_hidden=500, n_out=10)
    expected = tutorial_uniform(np.random.RandomState(1234), math.sqrt(6 / (784 + 500)),
                                (784, 500))
    np.testing.assert_array_equal(model.hiddenLayer.W.detach().numpy(), expected)
    assert not model.hiddenLayer.b.any()
    assert not model.logRegressionLayer.W.any() and not model.logRegressionLayer.b.any()
    again = MLP(np.random.RandomState(1234), n_in=784, n_hidden=500, n_out=10)
    other = MLP(np.random.RandomState(1235), n_in=784, n_hidden=500, n_out=10)
    assert torch.equal(again.hiddenLayer.W, model.hiddenLayer.W)
    assert not torch.equal(other.hiddenLayer.W, model.hiddenLayer.W)


def test_lenet_draws_the_tutorials_numbers_for_seed_23455():
    """convolutional_mlp.py: rng = RandomState(23455), then layer0, layer1 and layer2 draw in that
    order. fan_out = filters * 5 * 5 // 4 with the tutorial's integer division: 125 and 312
    (not 312.5), so the bounds are sqrt(6 / (25 + 125)) and sqrt(6 / (500 + 312))."""
    model = LeNet(np.random.RandomState(23455), nkerns=(20, 50))
    rng = np.random.RandomState(23455)
    expected = [tutorial_uniform(rng, math.sqrt(6 / (25 + 125)), (20, 1, 5, 5)),
                tutorial_uniform(rng, math.sqrt(6 / (500 + 312)), (50, 20, 5, 5)),
                tutorial_uniform(rng, math.sqrt(6 / (800 + 500)), (800, 500))]
    for layer, values in zip([model.layer0, model.layer1, model.layer2], expected):
        np.testing.assert_array_equal(layer.W.detach().numpy(), values)
        assert not layer.b.any()
    assert not model.layer3.W.any() and not model.layer3.b.any()


def test_conv_pool_layer_is_uniform_in_the_tutorials_bound():
    layer = LeNetConvPoolLayer(np.random.RandomState(3), filter_shape=(50, 20, 5, 5),
                               image_shape=(500, 20, 12, 12), poolsize=(2, 2))
    assert_uniform(layer.W, math.sqrt(6 / (20 * 25 + 50 * 25 // 4)), spread=0.02)  # 25,000 draws
    assert not layer.b.any() and tuple(layer.b.shape) == (50,)


# ---- the conv-pool layer computes Theano's function ----------------------------------------

def conv_pool_oracle(x, W, b, poolsize, convolve):
    """tanh(maxpool(sum over feature maps of a 'valid' 2-D convolution) + b), from scipy, with
    the pooling windows that fit (ignore_border=True)."""
    N, K = x.shape[0], W.shape[0]
    conv = np.array([[sum(convolve(x[n, c], W[k, c], mode="valid") for c in range(x.shape[1]))
                      for k in range(K)] for n in range(N)])
    rows, cols = conv.shape[2] // poolsize[0], conv.shape[3] // poolsize[1]
    windows = conv[:, :, :rows * poolsize[0], :cols * poolsize[1]]
    pooled = windows.reshape(N, K, rows, poolsize[0], cols, poolsize[1]).max(axis=(3, 5))
    return np.tanh(pooled + b[None, :, None, None])


@pytest.mark.parametrize("filter_flip, convolve", [(True, convolve2d), (False, correlate2d)])
def test_conv_pool_layer_convolves_as_theano_or_correlates_as_torch(filter_flip, convolve):
    """filter_flip=True (the default, Theano's conv2d): a true convolution, the kernel flipped;
    False: torch's cross-correlation. A 3x2 kernel flips differently on each axis, and 9x9
    images leave 7x8 maps whose last row no 2x2 window covers."""
    rng = np.random.RandomState(0)
    layer = LeNetConvPoolLayer(rng, filter_shape=(3, 2, 3, 2), image_shape=(None, 2, 9, 9),
                               filter_flip=filter_flip)
    with torch.no_grad():
        layer.b.copy_(torch.tensor([0.5, -0.25, 0.0]))  # added after pooling, as the tutorial
    x = rng.standard_normal((4, 2, 9, 9)).astype(np.float32)
    out = layer(torch.from_numpy(x))
    assert tuple(out.shape) == (4, 3, 3, 4) == (4, *layer.output_shape)
    expected = conv_pool_oracle(x.astype(np.float64), layer.W.detach().double().numpy(),
                                layer.b.detach().double().numpy(), (2, 2), convolve)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_conv_pool_layer_refuses_images_of_another_shape():
    with pytest.raises(ValueError, match="image_shape"):
        LeNetConvPoolLayer(np.random.RandomState(0), (20, 3, 5, 5), (500, 1, 28, 28))
    layer = LeNetConvPoolLayer(np.random.RandomState(0), (20, 1, 5, 5), (500, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(1, 28, 28\)"):
        layer(torch.zeros(2, 1, 32, 32))


# ---- cost, errors, probabilities, penalties: by hand ----------------------------------------

def hand_logistic_regression():
    """x W + b with W = [[ln 2, 0, 0], [0, 0, ln 3]], b = 0, on x = [[1, 0], [0, 1]]:
    p_y_given_x = [[2, 1, 1] / 4, [1, 1, 3] / 5]."""
    model = LogisticRegression(n_in=2, n_out=3)
    with torch.no_grad():
        model.W.copy_(torch.tensor([[math.log(2), 0, 0], [0, 0, math.log(3)]]))
    return model, torch.eye(2)


def test_logistic_regression_forward_is_logits_and_p_y_given_x_their_softmax():
    model, x = hand_logistic_regression()
    torch.testing.assert_close(model(x), torch.tensor([[math.log(2), 0, 0], [0, 0, math.log(3)]]))
    torch.testing.assert_close(model.p_y_given_x(x),
                               torch.tensor([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]]))
    assert model.y_pred(x).tolist() == [0, 2]


def test_negative_log_likelihood_and_errors_by_hand():
    model, x = hand_logistic_regression()
    y = torch.tensor([0, 1])
    # -(log 1/2 + log 1/5) / 2 = log(10) / 2; y_pred = [0, 2]: one error in two
    assert model.negative_log_likelihood(x, y).item() == pytest.approx(math.log(10) / 2, rel=1e-6)
    assert model.errors(x, y).item() == 0.5
    assert model.errors(x, torch.tensor([0, 2], dtype=torch.int32)).item() == 0.0
    # what striate's trainer minimises, F.cross_entropy on forward's output, is the same cost
    assert F.cross_entropy(model(x), y).item() == pytest.approx(math.log(10) / 2, rel=1e-6)
    with pytest.raises(TypeError, match="integer"):
        model.errors(x, y.float())
    with pytest.raises(TypeError, match="shape"):
        model.errors(x, y[:, None])


def test_the_tutorials_gradient_at_zero_weights():
    """W = b = 0: p is uniform, so d cost / d b = mean(1/K - onehot(y)) and
    d cost / d W = x^T (P - Y) / N: the update of the tutorial's first SGD step."""
    model = LogisticRegression(n_in=3, n_out=4)
    x = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    y = torch.tensor([1, 3])
    model.negative_log_likelihood(x, y).backward()
    delta = torch.full((2, 4), 0.25) - F.one_hot(y, 4).float()   # P - Y
    torch.testing.assert_close(model.b.grad, delta.mean(0))
    torch.testing.assert_close(model.W.grad, x.T @ delta / 2)


def test_mlp_penalties_by_hand_leave_the_biases_out():
    model = MLP(np.random.RandomState(0), n_in=2, n_hidden=2, n_out=2)
    with torch.no_grad():
        model.hiddenLayer.W.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
        model.logRegressionLayer.W.copy_(torch.tensor([[-1.0, 0.0], [2.0, 0.25]]))
        model.hiddenLayer.b.fill_(10.0)
        model.logRegressionLayer.b.fill_(-10.0)
    assert model.L1.item() == 6.5 + 3.25
    assert model.L2_sqr.item() == (1 + 4 + 9 + 0.25) + (1 + 0 + 4 + 0.0625)


def test_mlp_cost_is_the_tutorials_and_trains_every_parameter():
    """test_mlp's cost: NLL + L1_reg * L1 + L2_reg * L2_sqr; its gradient reaches all four of
    classifier.params, in the tutorial's order."""
    model = MLP(np.random.RandomState(1234), n_in=6, n_hidden=4, n_out=3)
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 1, 0])
    expected_nll = F.cross_entropy(model.logRegressionLayer(torch.tanh(x @ model.hiddenLayer.W)), y)
    assert model.negative_log_likelihood(x, y).item() == pytest.approx(expected_nll.item())
    with torch.no_grad():   # zero logistic weights pass no gradient to the hidden layer
        model.logRegressionLayer.W.normal_()
    cost = model.negative_log_likelihood(x, y) + 0.0 * model.L1 + 0.0001 * model.L2_sqr
    cost.backward()
    assert model.params == [model.hiddenLayer.W, model.hiddenLayer.b,
                            model.logRegressionLayer.W, model.logRegressionLayer.b]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.params)


def test_lenet_params_are_in_the_tutorials_order():
    model = LeNet(np.random.RandomState(23455))
    assert model.params == [model.layer3.W, model.layer3.b, model.layer2.W, model.layer2.b,
                            model.layer1.W, model.layer1.b, model.layer0.W, model.layer0.b]
    assert len(list(model.parameters())) == 8


# ---- a light import ----------------------------------------------------------------------

def test_dlt_imports_no_other_striate_module():
    tree = ast.parse(Path(dlt.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name for name in imported if name.startswith("striate")} == set()
    code = ("import sys, striate; before = set(sys.modules); import striate.dlt; "
            "print(sorted(m for m in set(sys.modules) - before if m.startswith('striate')))")
    source = str(Path(dlt.__file__).parents[1])   # this checkout's src/, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "['striate.dlt']"
