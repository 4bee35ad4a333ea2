"""The VGG-like net takes the cs231n walkthrough's own constructor call, VGGlikeConvNet(input_dim,
num_filters, As, hidden_dims, filter_size, num_classes, weight_scale, reg, dropout,
use_batchnorm, dtype, seed), mapped onto striate's VGGNet."""

import numpy as np
import pytest

from striate.errors import StriateError
from striate.numpy import optim
from striate.numpy.models import VGGlikeConvNet


def walkthrough_call(**changes):
    """The walkthrough's call, every argument by its name, with small stages for speed."""
    arguments = dict(input_dim=(3, 32, 32), num_filters=[8, 16], As=[1, 2], hidden_dims=[16],
                     filter_size=3, num_classes=10, weight_scale=5e-2, reg=1e-3, dropout=0.2,
                     use_batchnorm=True, dtype=np.float64, seed=0)
    return VGGlikeConvNet(**{**arguments, **changes})


def test_the_walkthroughs_call_builds_the_model_it_describes():
    model = walkthrough_call()
    # [(conv 3x3 - bn - relu) x A - pool] per stage: 32 -> 16 -> 8 pixels, then 16 * 8 * 8 inputs
    assert model.params["W1"].shape == (8, 3, 3, 3)
    assert model.params["W2"].shape == (16, 8, 3, 3)
    assert model.params["W3"].shape == (16, 16, 3, 3)
    assert model.params["W4"].shape == (16 * 8 * 8, 16)
    assert model.params["W5"].shape == (16, 10)
    assert model.keep == 0.8                  # dropout 0.2 zeroes a fifth of the units
    assert model.reg == 1e-3 and model.dropout_seed == 0
    assert abs(model.params["W1"].std() - 5e-2) < 5e-3       # N(0, weight_scale^2)


def test_the_walkthroughs_defaults_are_cs231ns_net():
    model = VGGlikeConvNet()      # filters 64/64/128/256 x 2/2/3/3, hidden 64/64, on 32x32
    assert model.stages == [2, 2, 3, 3]
    assert model.params["W1"].shape == (64, 3, 3, 3)
    assert model.params["W11"].shape == (256 * 2 * 2, 64)    # the first hidden layer
    assert model.params["W13"].shape == (64, 10)


def test_the_model_trains_one_step():
    model = walkthrough_call()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 3, 32, 32)), np.array([0, 3, 5, 9])
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name in model.params:
        model.params[name], _ = optim.adam(model.params[name], grads[name],
                                           {"learning_rate": 1e-3})
    # the seed fixes the dropout masks, so the second loss is of the same function
    assert model.loss(X, y)[0] < loss
    assert model.loss(X).shape == (4, 10)


def test_other_filter_sizes_keep_the_maps_size():
    model = walkthrough_call(filter_size=5)
    assert model.params["W1"].shape == (8, 3, 5, 5)
    assert model.params["W4"].shape == (16 * 8 * 8, 16)


@pytest.mark.parametrize("changes, message", [
    ({"use_batchnorm": False}, "VGGlikeConvNet batch-normalizes every layer"),
    ({"dropout": 1.0}, "dropout is the probability of zeroing a unit"),
    ({"filter_size": 4}, "filter_size must be odd"),
])
def test_what_it_cannot_build_is_refused_in_one_line(changes, message):
    with pytest.raises(StriateError, match=message) as error:
        walkthrough_call(**changes)
    assert "\n" not in str(error.value)
