"""Initialisation schemes: their statistics, and the models' init against the torch engine's."""

import math

import numpy as np
import pytest
import torch

from striate.numpy import init
from striate.numpy.models import create_model
from striate.torch.models import create_model as create_torch_model


def rng():
    return np.random.default_rng(0)


def test_fans_of_affine_and_conv_weights():
    assert init.fans((300, 100)) == (300, 100)
    assert init.fans((20, 3, 5, 5)) == (75, 500)
    assert init.fans((20, 3, 5, 5), pool=2) == (75, 125)
    with pytest.raises(ValueError):
        init.fans((3, 4, 5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_gaussian_has_the_weight_scale(dtype):
    w = init.small_gaussian((200, 300), 0.01, rng(), dtype)
    assert w.dtype == dtype and w.shape == (200, 300)
    assert w.mean() == pytest.approx(0, abs=1e-4)
    assert w.std() == pytest.approx(0.01, rel=0.02)


@pytest.mark.parametrize("shape", [(400, 300), (64, 16, 5, 5)])
def test_lecun_and_he_variances_follow_fan_in(shape):
    fan_in, _ = init.fans(shape)
    assert init.lecun(shape, rng()).std() == pytest.approx(math.sqrt(1 / fan_in), rel=0.02)
    assert init.he(shape, rng()).std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)


@pytest.mark.parametrize("activation, gain", [("tanh", 1), ("sigmoid", 4), ("relu", 1)])
def test_glorot_bound(activation, gain):
    w = init.init_weight("glorot", (400, 300), rng(), activation=activation)
    bound = gain * math.sqrt(6 / 700)
    assert 0.99 * bound < np.abs(w).max() <= bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)    # U(-r, r): std r/sqrt(3)


def test_glorot_divides_conv_fan_out_by_the_pool_area():
    w = init.glorot((50, 20, 5, 5), rng(), pool=2)
    bound = math.sqrt(6 / (20 * 25 + 50 * 25 / 4))
    assert 0.99 * bound < np.abs(w).max() <= bound


def test_auto_is_he_before_relu_and_glorot_otherwise():
    relu = init.init_weight("auto", (400, 300), rng(), activation="relu")
    np.testing.assert_array_equal(relu, init.he((400, 300), rng()))
    sigmoid = init.init_weight("auto", (400, 300), rng(), activation="sigmoid")
    np.testing.assert_array_equal(sigmoid, init.glorot((400, 300), rng(), gain=4))
    with pytest.raises(ValueError, match="gaussian, lecun, he, glorot, auto, zeros"):
        init.init_weight("orthogonal", (3, 3), rng())


def test_biases_zero_gamma_one_beta_zero():
    model = create_model("vgg", (1, 8, 8), 10, num_filters=(4,), As=(2,), hidden_dims=(6,))
    model_fc = create_model("fcnet", (1, 8, 8), 10, batchnorm=True)
    for params in (model.params, model_fc.params):
        for name, value in params.items():
            if name.startswith(("b", "beta")):
                assert not value.any(), name
            elif name.startswith("gamma"):
                assert (value == 1).all(), name


# The NumPy models draw from the same distributions as the torch engine's models of the same name.

def test_lenet_init_is_the_torch_engines():
    model = create_model("lenet", (1, 28, 28), 10)
    bound = math.sqrt(6 / (20 * 25 + 50 * 25 / 4))
    assert 0.9 * bound < np.abs(model.params["W2"]).max() <= bound
    assert not model.params["W4"].any() and not model.params["b4"].any()   # zero output layer
    torch_model = create_torch_model("lenet", (1, 28, 28), 10)
    for name, (key, _) in model.torch_names().items():
        ours, theirs = model.params[name], torch_model.state_dict()[key]
        assert np.abs(ours).max() == pytest.approx(theirs.abs().max().item(), rel=0.1, abs=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_mlp_init_follows_the_activation_as_in_torch(activation):
    torch.manual_seed(0)
    model = create_model("mlp", (1, 20, 20), 10, hidden=[300], activation=activation)
    torch_weight = create_torch_model("mlp", (1, 20, 20), 10, hidden=[300],
                                      activation=activation).hidden.fc1.weight
    ours = model.params["W1"]
    assert ours.shape == tuple(torch_weight.shape)[::-1]
    assert ours.std() == pytest.approx(torch_weight.std().item(), rel=0.03)
    if activation != "relu":       # Glorot uniform: the same bound
        assert np.abs(ours).max() == pytest.approx(torch_weight.abs().max().item(), rel=0.01)
    assert not model.params["W2"].any()


@pytest.mark.parametrize("init_scheme", [None, "small", "lecun", "he", "glorot"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_fcnet_init_schemes_draw_the_torch_engines_distributions(init_scheme, activation):
    options = {"hidden_dims": [300], "activation": activation, "init": init_scheme,
               "weight_scale": 0.003}
    model = create_model("fcnet", (1, 20, 20), 10, **options)
    torch.manual_seed(0)
    state = create_torch_model("fcnet", (1, 20, 20), 10, **options).state_dict()
    for name, key in (("W1", "hidden.fc1.weight"), ("W2", "output.weight")):
        ours, theirs = model.params[name].std(), state[key].std().item()
        assert ours == pytest.approx(theirs, rel=0.05, abs=1e-12), name  # zero output: both 0


@pytest.mark.parametrize("init_scheme", [None, "small", "lecun", "he", "glorot"])
def test_vgg_init_schemes_draw_the_torch_engines_distributions(init_scheme):
    options = {"num_filters": [32, 64], "As": [1, 1], "hidden_dims": [100], "init": init_scheme,
               "weight_scale": 0.05}
    model = create_model("vgg", (3, 16, 16), 10, **options)
    torch.manual_seed(0)
    state = create_torch_model("vgg", (3, 16, 16), 10, **options).state_dict()
    names = model.torch_names()
    for name in model.params:
        if name.startswith(("W", "b")):         # biases too: both zero
            ours, theirs = model.params[name].std(), state[names[name][0]].std().item()
            assert ours == pytest.approx(theirs, rel=0.1, abs=1e-12), name


def test_convnet3_uses_weight_scale():
    model = create_model("convnet3", (3, 32, 32), 10, weight_scale=0.01)
    for name in ("W1", "W2", "W3"):
        assert model.params[name].std() == pytest.approx(0.01, rel=0.05)
    assert model.params["W2"].shape == (32 * 16 * 16, 100)


def test_the_seed_decides_the_weights():
    a, b = (create_model("twolayer", (1, 8, 8), 10, seed=1) for _ in range(2))
    c = create_model("twolayer", (1, 8, 8), 10, seed=2)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
