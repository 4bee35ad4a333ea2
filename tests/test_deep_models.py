"""The deeper torch models (fcnet, vgg, resnet): shapes, options, init schemes, train vs eval."""

import math

import pytest
import torch
from torch import nn

from striate.errors import StriateError
from striate.torch.init import fans
from striate.torch.models import create_model, set_init_

SHAPES = [(1, 28, 28), (3, 32, 32)]


def layers(model, kind):
    return [m for m in model.modules() if isinstance(m, kind)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name, last_layer", [("fcnet", (100, 7)), ("vgg", (64, 7)),
                                              ("resnet", (512, 7))])
def test_default_models_give_class_logits(name, last_layer, shape):
    torch.manual_seed(0)
    model = create_model(name, shape, 7)
    assert (model.output.in_features, model.output.out_features) == last_layer
    assert model(torch.rand(2, *shape)).shape == (2, 7)
    if name == "vgg":  # the pools round up: 28-14-7-4-2 and 32-16-8-4-2
        assert model.hidden.fc1.in_features == 256 * 2 * 2
    if name == "resnet":
        assert sum(type(m).__name__ == "Residual" for m in model.modules()) == 2


@pytest.mark.parametrize("shape", SHAPES)
def test_fcnet_options_build_the_layers_asked_for(shape):
    torch.manual_seed(0)
    model = create_model("fcnet", shape, 7, hidden_dims=[32, 16, 8], activation="tanh",
                         batchnorm=True, dropout=0.2)
    assert [(l.in_features, l.out_features) for l in layers(model, nn.Linear)] == \
        [(math.prod(shape), 32), (32, 16), (16, 8), (8, 7)]
    assert [b.num_features for b in layers(model, nn.BatchNorm1d)] == [32, 16, 8]
    assert [d.p for d in layers(model, nn.Dropout)] == [0.2] * 3
    assert len(layers(model, nn.Tanh)) == 3 and not layers(model, nn.ReLU)
    assert model.hidden.fc1.bias is None      # batch norm's beta is the bias
    assert model(torch.rand(5, *shape)).shape == (5, 7)
    assert model.eval()(torch.rand(5, *shape)).shape == (5, 7)


@pytest.mark.parametrize("shape, side", [((1, 28, 28), 7), ((3, 32, 32), 8)])
def test_vgg_options_build_the_stages_asked_for(shape, side):
    torch.manual_seed(0)
    model = create_model("vgg", shape, 7, num_filters=[8, 16], As=[1, 2], hidden_dims=[32],
                         dropout=0.25)
    convs = layers(model, nn.Conv2d)
    assert [(c.in_channels, c.out_channels) for c in convs] == [(shape[0], 8), (8, 16), (16, 16)]
    assert len(layers(model, nn.MaxPool2d)) == 2
    assert [(l.in_features, l.out_features) for l in layers(model, nn.Linear)] == \
        [(16 * side * side, 32), (32, 7)]
    assert [d.p for d in layers(model, nn.Dropout)] == [0.25]
    assert model(torch.rand(5, *shape)).shape == (5, 7)


def test_vgg_pool_first_keeps_the_parameters_and_moves_each_stages_pool():
    """The same parameters under the same names (a checkpoint of one loads into the other), the
    same output shapes on odd maps (9 -> 5 -> 3), but a different function in training: the norm
    sees the pooled maps. That it is conv - pool - norm - relu exactly is the NumPy engine's
    cross-check (tests/numpy/test_models.py)."""
    torch.manual_seed(0)
    options = {"num_filters": [4, 6], "As": [2, 1], "hidden_dims": [8]}
    plain = create_model("vgg", (1, 9, 9), 5, **options)
    pooled = create_model("vgg", (1, 9, 9), 5, pool_first=True, **options)
    pooled.load_state_dict(plain.state_dict())   # strict: raises on any name or shape mismatch
    assert [k for k in pooled.state_dict()] == [k for k in plain.state_dict()]
    assert len(layers(pooled, nn.MaxPool2d)) == 2
    x = torch.rand(6, 1, 9, 9)
    assert pooled(x).shape == plain(x).shape == (6, 5)
    assert not torch.allclose(pooled.features(x), plain.features(x))


@pytest.mark.parametrize("shape", SHAPES)
def test_resnet_options_build_the_stages_asked_for(shape):
    torch.manual_seed(0)
    model = create_model("resnet", shape, 7, width=8, residual=(1, 1, 1))
    assert [c.out_channels for c in layers(model, nn.Conv2d)] == [8, 16, 16, 16, 32, 32, 32,
                                                                   64, 64, 64]
    assert sum(type(m).__name__ == "Residual" for m in model.modules()) == 3
    assert model.output.in_features == 64 and model.output.bias is None
    assert model(torch.rand(2, *shape)).shape == (2, 7)


def test_resnet_pool_first_is_the_same_net_at_inference_but_normalizes_pooled_maps():
    """Batch norm at inference is a per-channel affine map, increasing while gamma > 0, and
    ReLU is increasing: both commute with max pooling, so with the same parameters the two
    orders agree once the running statistics are fixed; in training the norm's statistics are
    those of the pooled maps, so they differ. Odd maps (9 -> 5 -> 3 -> 2) check the rounding."""
    torch.manual_seed(0)
    options = {"width": 4, "residual": (1, 0, 1)}
    plain = create_model("resnet", (1, 9, 9), 5, **options)
    pooled = create_model("resnet", (1, 9, 9), 5, pool_first=True, **options)
    for norm in layers(plain, nn.BatchNorm2d):   # running statistics away from 0 and 1
        norm.running_mean.uniform_(-1, 1), norm.running_var.uniform_(0.5, 2)
        norm.weight.data.uniform_(0.5, 2), norm.bias.data.uniform_(-1, 1)
    pooled.load_state_dict(plain.state_dict())   # strict: the same names and shapes
    assert len(layers(pooled, nn.MaxPool2d)) == len(layers(plain, nn.MaxPool2d)) == 3
    x = torch.randn(6, 1, 9, 9)
    torch.testing.assert_close(pooled.eval()(x), plain.eval()(x))
    assert not torch.allclose(pooled.train().features(x), plain.train().features(x))


@pytest.mark.parametrize("options, message", [
    ({"num_filters": [8, 16], "As": [1]}, "one entry per stage"),
    ({"num_filters": [8], "As": [1, 1, 1]}, "one entry per stage"),
    ({"dropout": 1.0}, "dropout"),
    ({"dropout": -0.1}, "dropout"),
    ({"num_filters": [8, 0], "As": [1, 1]}, "num_filters"),
    ({"hidden_dims": []}, "hidden_dims"),
    ({"init": "uniform"}, "init must be one of small, lecun, he, glorot"),
])
def test_vgg_refuses_bad_options_in_one_line(options, message):
    options = {"num_filters": [4], "As": [1], **options}
    with pytest.raises(StriateError, match=message) as error:
        create_model("vgg", (1, 28, 28), 10, **options)
    assert "\n" not in str(error.value) and "vgg" in str(error.value)


def test_fcnet_refuses_a_dropout_outside_0_1():
    with pytest.raises(StriateError, match="dropout"):
        create_model("fcnet", (1, 8, 8), 10, dropout=1.5)


def test_fans_of_affine_and_convolution_weights():
    assert fans(torch.empty(30, 20)) == (20, 30)
    assert fans(torch.empty(16, 8, 3, 5)) == (8 * 15, 16 * 15)


# fcnet on 20x20 inputs: fc1 is a (300, 400) weight, 120,000 draws, so its std is known to ~0.3%.
FAN_IN, FAN_OUT = 400, 300


def big_fcnet(init, **options):
    torch.manual_seed(0)
    return create_model("fcnet", (1, 20, 20), 10, hidden_dims=[FAN_OUT], init=init, **options)


@pytest.mark.parametrize("init, std", [("he", math.sqrt(2 / FAN_IN)),
                                       ("lecun", math.sqrt(1 / FAN_IN)),
                                       ("small", 0.003)])
def test_gaussian_init_schemes_have_their_standard_deviation(init, std):
    model = big_fcnet(init, weight_scale=0.003)
    weight = model.hidden.fc1.weight
    assert weight.mean().item() == pytest.approx(0, abs=0.02 * std)
    assert weight.std().item() == pytest.approx(std, rel=0.02)
    # The output layer is re-drawn too (by its own fan-in), not left at zero.
    out_std = {"he": math.sqrt(2 / FAN_OUT), "lecun": math.sqrt(1 / FAN_OUT), "small": 0.003}[init]
    assert model.output.weight.std().item() == pytest.approx(out_std, rel=0.1)


def test_glorot_init_is_uniform_up_to_its_bound():
    weight = big_fcnet("glorot").hidden.fc1.weight
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() > 0.999 * bound
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # U(-r, r)


@pytest.mark.parametrize("init, std", [("he", lambda fan_in, fan_out: math.sqrt(2 / fan_in)),
                                       ("lecun", lambda fan_in, fan_out: math.sqrt(1 / fan_in)),
                                       ("glorot", lambda fan_in, fan_out:
                                        math.sqrt(2 / (fan_in + fan_out))),
                                       ("small", lambda fan_in, fan_out: 0.05)])
def test_init_schemes_use_the_fans_of_convolutions(init, std):
    torch.manual_seed(0)
    model = create_model("vgg", (3, 16, 16), 10, num_filters=[32, 64], As=[1, 1],
                         hidden_dims=[16], init=init, weight_scale=0.05)
    conv = model.features.stage2.conv1[0].weight                  # (64, 32, 3, 3)
    fan_in, fan_out = 32 * 9, 64 * 9
    assert conv.std().item() == pytest.approx(std(fan_in, fan_out), rel=0.03)


def test_default_init_keeps_the_tutorial_initialisation():
    assert torch.count_nonzero(big_fcnet(None).output.weight) == 0
    he = big_fcnet(None).hidden.fc1.weight
    assert he.std().item() == pytest.approx(math.sqrt(2 / FAN_IN), rel=0.02)
    tanh = big_fcnet(None, activation="tanh").hidden.fc1.weight
    assert tanh.abs().max().item() <= math.sqrt(6 / (FAN_IN + FAN_OUT))


@pytest.mark.parametrize("init", ["small", "lecun", "he", "glorot"])
def test_set_init_zeroes_every_bias(init):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(8, 4))   # torch's biases are not zero
    assert all(torch.count_nonzero(m.bias) > 0 for m in model)
    set_init_(model, init, 0.01)
    assert all(torch.count_nonzero(m.bias) == 0 for m in model)
    for name, options in (("fcnet", {}), ("vgg", {"num_filters": [4], "As": [1]})):
        built = create_model(name, (1, 8, 8), 10, init=init, **options)
        biases = [m.bias for m in built.modules()
                  if isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is not None]
        assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


def test_dropout_zeroes_a_fraction_p_in_training_only():
    torch.manual_seed(0)
    model = create_model("fcnet", (1, 8, 8), 10, hidden_dims=[256, 256], dropout=0.3,
                         init="lecun")
    seen = {}
    model.hidden.drop1.register_forward_hook(lambda m, args, out: seen.update(x=args[0], y=out))
    x = torch.rand(64, 1, 8, 8)

    model.train()
    first, second = model(x), model(x)
    assert not torch.equal(first, second)
    kept = seen["x"] != 0
    zeroed = ((seen["y"] == 0) & kept).sum().item() / kept.sum().item()
    assert zeroed == pytest.approx(0.3, abs=0.03)      # p is the probability of zeroing
    survivors = seen["y"][seen["y"] != 0]
    torch.testing.assert_close(survivors, seen["x"][seen["y"] != 0] / 0.7)

    model.eval()
    evaluated = model(x)
    assert torch.equal(evaluated, model(x))
    no_dropout = create_model("fcnet", (1, 8, 8), 10, hidden_dims=[256, 256])
    no_dropout.load_state_dict(model.state_dict())
    torch.testing.assert_close(evaluated, no_dropout.eval()(x))


def test_vgg_dropout_is_off_in_eval_mode():
    torch.manual_seed(0)
    model = create_model("vgg", (1, 8, 8), 10, num_filters=[4], As=[1], hidden_dims=[64],
                         dropout=0.5, init="he")
    x = torch.rand(16, 1, 8, 8)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name, options", [
    ("fcnet", {"hidden_dims": [16], "batchnorm": True}),
    ("vgg", {"num_filters": [4, 8], "As": [1, 1], "hidden_dims": [16]}),
    ("resnet", {"width": 4, "residual": [1]}),
])
def test_batch_norm_statistics_move_in_training_only(name, options):
    torch.manual_seed(0)
    model = create_model(name, (1, 8, 8), 10, **options)
    norms = layers(model, nn.modules.batchnorm._BatchNorm)
    assert norms
    before = [n.running_mean.clone() for n in norms]
    x = torch.rand(32, 1, 8, 8) + 1
    model.eval()(x)
    assert all(torch.equal(n.running_mean, b) for n, b in zip(norms, before))
    model.train()(x)
    assert all(not torch.equal(n.running_mean, b) for n, b in zip(norms, before))
    assert [n.num_batches_tracked.item() for n in norms] == [1] * len(norms)  # one batch seen


@pytest.mark.parametrize("name, options", [
    ("fcnet", {"hidden_dims": [16], "batchnorm": True}),
    ("vgg", {"num_filters": [4, 8], "As": [1, 1], "hidden_dims": [16]}),
    ("resnet", {"width": 4, "residual": [1]}),
])
def test_a_new_model_has_seen_no_batch(name, options):
    """Building a model must not run its batch norms in training mode (e.g. to size a layer):
    that would leave running statistics from a fake batch in the untrained model."""
    model = create_model(name, (1, 8, 8), 10, **options)
    for norm in layers(model, nn.modules.batchnorm._BatchNorm):
        assert norm.num_batches_tracked.item() == 0
        assert torch.equal(norm.running_mean, torch.zeros_like(norm.running_mean))
        assert torch.equal(norm.running_var, torch.ones_like(norm.running_var))


def test_default_vgg_builds_for_8x8_images():
    """8-4-2-1-1: the rounding-up pools take any image down to 1x1 (digits are 8x8)."""
    model = create_model("vgg", (1, 8, 8), 10)
    assert model.hidden.fc1.in_features == 256
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("init", [None, "he"])
def test_resnet_logits_are_an_eighth_of_the_affine_layer(init):
    torch.manual_seed(0)
    model = create_model("resnet", (3, 32, 32), 10, width=8, residual=(1, 1, 1), init=init).eval()
    seen = {}
    model.features.register_forward_hook(lambda m, args, out: seen.update(features=out))
    model.output.register_forward_hook(lambda m, args, out: seen.update(output_input=args[0]))
    logits = model(torch.rand(6, 3, 32, 32))
    features = seen["features"].flatten(1)                     # (6, 64) after the global max pool
    assert features.shape == (6, 64) and features.abs().max() > 0
    torch.testing.assert_close(seen["output_input"], features / 8)
    torch.testing.assert_close(logits, features @ model.output.weight.T / 8)
