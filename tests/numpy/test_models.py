"""The NumPy models against two oracles: torch autograd on the same weights, and numerical
gradients. Plus the weights exchange with the torch engine's models of the same name."""

import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_matches_torch
from striate.errors import StriateError
from striate.numpy import init, optim
from striate.numpy.gradient_check import eval_numerical_gradient, rel_error
from striate.numpy.models import (MODELS, FullyConnectedNet, LeNet, LinearClassifier, LinearSVM,
                                  ThreeLayerConvNet, TwoLayerNet, VGGNet, create_model)
from striate.numpy.weights import load_arrays, to_checkpoint
from striate.registry import SPECS
from striate.torch.models import create_model as create_torch_model

NUM_CLASSES = 5
N = 6

# (name, input shape, options): tiny models that still exercise every code path -- odd map sizes,
# floor pooling with a leftover row, ceil-mode pooling, even filters, batch norm, dropout.
CASES = [
    ("logreg", (1, 4, 4), {}),
    ("svm", (1, 4, 4), {}),
    ("twolayer", (2, 3, 3), {"hidden_dim": 7}),
    ("fcnet", (2, 3, 3), {"hidden_dims": (6, 5)}),
    ("fcnet", (2, 3, 3), {"hidden_dims": (6, 5), "batchnorm": True}),
    ("fcnet", (2, 3, 3), {"hidden_dims": (6, 5), "batchnorm": True, "dropout": 0.4,
                          "activation": "tanh"}),
    ("mlp", (2, 3, 3), {"hidden": (6, 5), "activation": "tanh"}),
    ("mlp", (2, 3, 3), {"hidden": (6,), "activation": "sigmoid"}),
    ("mlp", (2, 3, 3), {"hidden": (6, 5), "activation": "relu"}),
    ("lenet", (1, 10, 10), {"nkerns": (2, 3), "filter_size": 3, "hidden": 7}),
    ("lenet", (2, 9, 9), {"nkerns": (3,), "filter_size": 2, "pool": 3, "hidden": 5,
                          "activation": "relu"}),
    ("convnet3", (2, 6, 6), {"num_filters": 3, "filter_size": 3, "hidden_dim": 7}),
    ("convnet3", (1, 7, 7), {"num_filters": 2, "filter_size": 4, "hidden_dim": 5}),
    ("vgg", (2, 6, 6), {"num_filters": (2, 3), "As": (1, 2), "hidden_dims": (5,)}),
    ("vgg", (1, 5, 5), {"num_filters": (2, 2, 2), "As": (1, 1, 1), "hidden_dims": (4, 3),
                        "dropout": 0.3}),
    ("vgg", (2, 7, 7), {"num_filters": (2, 3), "As": (2, 1), "hidden_dims": (4,),
                        "pool_first": True}),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def randomize(model, rng):
    """Non-trivial weights (the tutorials' zero output layers would make most gradients zero)."""
    for name, value in model.params.items():
        if name.startswith("W"):
            new = init.lecun(value.shape, rng, value.dtype)
        elif name.startswith("gamma"):
            new = 1 + 0.2 * rng.standard_normal(value.shape)
        else:
            new = 0.2 * rng.standard_normal(value.shape)
        model.params[name] = new.astype(value.dtype)


def build(name, shape, options, reg=0.0, seed=0):
    model = create_model(name, shape, NUM_CLASSES, dtype=np.float64, reg=reg, **options)
    rng = np.random.default_rng(seed)
    randomize(model, rng)
    X = rng.standard_normal((N, *shape))
    y = rng.integers(NUM_CLASSES, size=N)
    return model, X, y


def has_dropout(model):
    return getattr(model, "keep", 1.0) < 1


# ---- the torch oracle: each model's forward pass written with torch.nn.functional ------------

ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def batch_norm(h, model, i, t, train):
    bn_param = model.bn_params[i - 1]
    if train:
        return F.batch_norm(h, None, None, t[f"gamma{i}"], t[f"beta{i}"], training=True, eps=1e-5)
    return F.batch_norm(h, torch.tensor(bn_param["running_mean"]),
                        torch.tensor(bn_param["running_var"]), t[f"gamma{i}"], t[f"beta{i}"],
                        training=False, eps=1e-5)


def linear(h, t, i):
    out = h.flatten(1) @ t[f"W{i}"]
    return out + t[f"b{i}"] if f"b{i}" in t else out


def torch_scores(model, t, X, train):
    """Scores of `model` computed by torch from the tensors t (its params); dropout is left out,
    so with dropout only test mode (train=False) is the model's function."""
    if isinstance(model, LinearClassifier):
        return linear(X, t, 1)
    if isinstance(model, TwoLayerNet):
        return linear(torch.relu(linear(X, t, 1)), t, 2)
    if isinstance(model, FullyConnectedNet):
        h = X
        for i in range(1, model.num_layers):
            h = linear(h, t, i)
            if model.normalization:
                h = batch_norm(h, model, i, t, train)
            h = ACT[model.activation](h)
        return linear(h, t, model.num_layers)
    if isinstance(model, ThreeLayerConvNet):
        pad = (t["W1"].shape[2] - 1) // 2
        h = F.max_pool2d(torch.relu(F.conv2d(X, t["W1"], t["b1"], padding=pad)), 2)
        return linear(torch.relu(linear(h, t, 2)), t, 3)
    if isinstance(model, LeNet):
        h, pool, act = X, model.pool_param["pool_height"], ACT[model.activation]
        for i in range(1, model.num_stages + 1):
            h = act(F.max_pool2d(F.conv2d(h, t[f"W{i}"], t[f"b{i}"]), pool))
        k = model.num_stages
        return linear(act(linear(h, t, k + 1)), t, k + 2)
    if isinstance(model, VGGNet):
        h, i = X, 0
        pool = functools.partial(F.max_pool2d, kernel_size=2, ceil_mode=True)
        for repeats in model.stages:
            for repeat in range(1, repeats + 1):
                i += 1
                h = F.conv2d(h, t[f"W{i}"], padding=1)
                if model.pool_first and repeat == repeats:
                    h = pool(h)
                h = torch.relu(batch_norm(h, model, i, t, train))
            if not model.pool_first:
                h = pool(h)
        for i in range(model.num_convs + 1, model.num_layers):
            h = torch.relu(batch_norm(linear(h, t, i), model, i, t, train))
        return linear(h, t, model.num_layers)
    raise TypeError(type(model))


def torch_loss(model, t, X, y):
    scores = torch_scores(model, t, X, train=True)
    if isinstance(model, LinearSVM):     # svm_loss sums over classes where torch averages
        loss = scores.shape[1] * F.multi_margin_loss(scores, y)
    else:
        loss = F.cross_entropy(scores, y)
    # cs231n's L2: 0.5 * reg * sum(W ** 2)
    return loss + 0.5 * model.reg * sum((w ** 2).sum() for name, w in t.items()
                                        if name.startswith("W"))


@pytest.mark.parametrize("reg", [0.0, 0.3])
@pytest.mark.parametrize("name, shape, options", CASES, ids=IDS)
def test_loss_and_gradients_equal_torch_autograd(name, shape, options, reg):
    model, X, y = build(name, shape, options, reg=reg)
    X_t, y_t = torch.tensor(X), torch.tensor(y)
    if not has_dropout(model):
        assert_matches_torch(model.loss(X, y), lambda t: torch_loss(model, t, X_t, y_t),
                             model.params, rtol=1e-10, atol=0, grad_rtol=1e-7, grad_atol=1e-12)
    else:
        model.loss(X, y)    # a train step, so that batch norm's running statistics move
    # test mode: running statistics, no dropout
    assert_matches_torch((model.loss(X), None), lambda t: torch_scores(model, t, X_t, train=False),
                         model.params, rtol=1e-9, atol=1e-12)


# Centred differences in float64 agree with a correct backward pass to ~1e-9; 1e-6 leaves room for
# the rare element whose true gradient is tiny. ReLU and max-pool kinks would need a looser bound,
# but with these seeds no input lies within h = 1e-5 of a kink.
GRADIENT_TOLERANCE = 1e-6


@pytest.mark.parametrize("name, shape, options", CASES, ids=IDS)
def test_numerical_gradient_of_every_param(name, shape, options):
    model, X, y = build(name, shape, options, reg=0.1, seed=1)
    model.dropout_seed = 7        # the same dropout masks on every call, so loss is a function
    loss, grads = model.loss(X, y)
    for param, value in model.params.items():
        numerical = eval_numerical_gradient(lambda _: model.loss(X, y)[0], value)
        assert rel_error(numerical, grads[param]) < GRADIENT_TOLERANCE, param


def test_dropout_is_active_in_train_mode_only():
    model, X, y = build("fcnet", (2, 3, 3), {"hidden_dims": (50,), "dropout": 0.5})
    np.testing.assert_array_equal(model.loss(X), model.loss(X))          # test mode: identity
    losses = {model.loss(X, y)[0] for _ in range(3)}                      # fresh masks each call
    assert len(losses) == 3


def test_reg_penalises_weights_only_with_cs231ns_convention():
    plain, X, y = build("fcnet", (2, 3, 3), {"hidden_dims": (6,), "batchnorm": True})
    regularized, _, _ = build("fcnet", (2, 3, 3), {"hidden_dims": (6,), "batchnorm": True},
                              reg=0.25)
    loss, grads = plain.loss(X, y)
    loss_reg, grads_reg = regularized.loss(X, y)
    p = plain.params
    assert loss_reg - loss == pytest.approx(0.5 * 0.25 * ((p["W1"] ** 2).sum()
                                                          + (p["W2"] ** 2).sum()))
    for name in p:
        expected = grads[name] + 0.25 * p[name] if name.startswith("W") else grads[name]
        np.testing.assert_allclose(grads_reg[name], expected, err_msg=name)


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"svm"}))
def test_initial_loss_is_ln_num_classes(name):
    options = {"vgg": {"num_filters": (4, 4), "As": (1, 1), "hidden_dims": (8,)},
               "lenet": {"nkerns": (4, 6), "hidden": 20}}.get(name, {})
    model = create_model(name, (1, 28, 28), 10, **options)
    X = np.random.default_rng(0).standard_normal((20, 1, 28, 28)).astype(np.float32)
    loss, _ = model.loss(X, np.arange(20) % 10)
    assert loss == pytest.approx(math.log(10), rel=0.01)


def test_svm_initial_loss_is_num_classes_minus_one():
    # every wrong class violates the margin by delta = 1 while the scores are ~0
    model = create_model("svm", (1, 8, 8), 10)
    X = np.random.default_rng(0).standard_normal((20, 1, 8, 8)).astype(np.float32)
    assert model.loss(X, np.arange(20) % 10)[0] == pytest.approx(9, rel=0.01)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_of_params_scores_and_gradients(dtype):
    model = create_model("convnet3", (1, 8, 8), 3, dtype=dtype, num_filters=2, filter_size=3)
    X = np.random.default_rng(0).standard_normal((2, 1, 8, 8))     # float64 in: cast to dtype
    loss, grads = model.loss(X, np.array([0, 2]))
    assert model.loss(X).dtype == dtype and isinstance(loss, float)
    assert all(g.dtype == dtype for g in grads.values())


def test_flat_inputs_work_for_affine_models():
    model = create_model("twolayer", (1, 4, 4), 3, hidden_dim=5)
    X = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.loss(X), model.loss(X.reshape(2, 16)))


# ---- the same weights in both engines ---------------------------------------------------------
# Through the checkpoint's own mapping (striate.numpy.weights and the models' torch_names()):
# params, batch norm's running statistics and torch's count of train-mode batches.

SHARED = [("logreg", (1, 6, 6), {}),
          ("mlp", (1, 6, 6), {"hidden": (8, 5), "activation": "sigmoid"}),
          ("lenet", (1, 12, 12), {"nkerns": (3, 4), "filter_size": 3, "hidden": 9}),
          ("convnet3", (3, 8, 8), {"num_filters": 4, "filter_size": 3, "hidden_dim": 9}),
          ("fcnet", (2, 3, 3), {"hidden_dims": (6, 5), "activation": "tanh"}),
          ("fcnet", (2, 3, 3), {"hidden_dims": (6, 5), "batchnorm": True, "dropout": 0.3}),
          # odd maps, which the pools round up: 5 -> 3 -> 2 -> 1
          ("vgg", (1, 5, 5), {"num_filters": (2, 3, 2), "As": (1, 2, 1), "hidden_dims": (4, 3),
                              "dropout": 0.2}),
          ("vgg", (3, 8, 8), {"num_filters": (4, 6), "As": (2, 1), "hidden_dims": (5,)}),
          ("vgg", (1, 7, 7), {"num_filters": (3, 4), "As": (2, 1), "hidden_dims": (5,),
                              "pool_first": True})]
SHARED_IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(SHARED)]
TRAIN_PASSES = 3


def numpy_state(model):
    return {"params": model.params, "bn_params": model.bn_params}


def batches_seen(torch_model):
    return [norm.num_batches_tracked.item() for norm in torch_model.modules()
            if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("name, shape, options", SHARED, ids=SHARED_IDS)
def test_a_trained_state_gives_the_same_scores_in_the_other_engine(name, shape, options):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, *shape)).astype(np.float32)
    # train-mode passes move batch norm's running statistics away from 0 and 1
    batches = [rng.standard_normal((8, *shape)).astype(np.float32) + 0.5
               for _ in range(TRAIN_PASSES)]
    torch.manual_seed(0)
    torch_model = create_torch_model(name, shape, NUM_CLASSES, **options)
    with torch.no_grad():
        for parameter in torch_model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))    # the output layer starts at 0
        for batch in batches:
            torch_model(torch.from_numpy(batch))
    state = {key: value.numpy().copy() for key, value in torch_model.eval().state_dict().items()}
    model = create_model(name, shape, NUM_CLASSES, **options)
    load_arrays(model, state, "the torch state", name)
    assert_matches_torch((model.loss(X), None), torch_model, [X], rtol=1e-4, atol=1e-5)

    randomize(model, np.random.default_rng(1))                  # and numpy -> torch
    for batch in batches:
        model.loss(batch, np.arange(len(batch)) % NUM_CLASSES)
    loaded = create_torch_model(name, shape, NUM_CLASSES, **options).eval()
    loaded.load_state_dict({key: torch.from_numpy(array) for key, array
                            in to_checkpoint(model, numpy_state(model)).items()})  # strict
    assert_matches_torch((model.loss(X), None), loaded, [X], rtol=1e-4, atol=1e-5)
    assert batches_seen(loaded) == [2 * TRAIN_PASSES] * len(model.bn_params)


@pytest.mark.parametrize("name", sorted(name for name, spec in SPECS.items()
                                        if set(spec.engines) == {"torch", "numpy"}))
def test_shared_models_store_every_tensor_of_the_torch_state(name):
    options = {"fcnet": {"batchnorm": True}}.get(name, {})
    model = create_model(name, (1, 28, 28), 10, **options)
    state = create_torch_model(name, (1, 28, 28), 10, **options).state_dict()
    assert set(model.params) <= set(model.torch_names())
    stored = to_checkpoint(model, numpy_state(model))
    assert sorted(stored) == sorted(state)
    for key, array in stored.items():
        assert (array.shape, array.dtype) == (tuple(state[key].shape),
                                              state[key].numpy().dtype), key


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_vgg_defaults_fit_28_and_32_pixel_images(shape):
    model = create_model("vgg", shape, 10, num_filters=(2, 2, 2, 2), As=(1, 1, 1, 1))
    # 28 -> 14 -> 7 -> 4 -> 2 and 32 -> 16 -> 8 -> 4 -> 2 pixels: 2 * 2 * 2 inputs to the affine
    assert model.params["W5"].shape == (8, 64)
    X = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    assert model.loss(X).shape == (2, 10)


# ---- training -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, options", [
    ("twolayer", {"hidden_dim": 50, "weight_scale": 1e-2}),
    ("convnet3", {"num_filters": 8, "filter_size": 3, "hidden_dim": 32, "weight_scale": 1e-2})])
def test_overfits_50_examples_with_adam(name, options):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 1, 8, 8)).astype(np.float32)
    y = rng.integers(10, size=50)
    model = create_model(name, (1, 8, 8), 10, **options)
    configs = {param: {"learning_rate": 1e-2} for param in model.params}
    for step in range(300):
        _, grads = model.loss(X, y)
        for param in model.params:
            model.params[param], configs[param] = optim.adam(model.params[param], grads[param],
                                                             configs[param])
        if step % 10 == 9 and np.all(model.loss(X).argmax(axis=1) == y):
            break
    assert np.all(model.loss(X).argmax(axis=1) == y)


# ---- the registry -------------------------------------------------------------------------

def test_registry_errors_name_the_valid_choices():
    with pytest.raises(StriateError, match="choose one of convnet3, fcnet, lenet, logreg, mlp, "
                                           "svm, twolayer, vgg"):
        create_model("alexnet", (1, 28, 28), 10)
    with pytest.raises(StriateError, match="no option 'width'.*hidden, activation"):
        create_model("mlp", (1, 28, 28), 10, width=3)
    with pytest.raises(StriateError, match="activation must be one of tanh, sigmoid, relu"):
        create_model("mlp", (1, 28, 28), 10, activation="swish")
    with pytest.raises(StriateError, match="stage 2 of 5x5 filters and 2x2 pooling leaves no "
                                           "pixels of 8x8"):
        create_model("lenet", (1, 8, 8), 10)
    with pytest.raises(StriateError, match="no option 'normalization'; its options are "
                                           "hidden_dims, activation, batchnorm, dropout, init"):
        create_model("fcnet", (1, 8, 8), 10, normalization="batchnorm")   # cs231n's name
    with pytest.raises(StriateError, match="one entry per stage"):
        create_model("vgg", (1, 8, 8), 10, num_filters=(4, 4), As=(1,))
    with pytest.raises(StriateError, match="resnet runs on the torch engine only"):
        create_model("resnet", (1, 8, 8), 10)
    for name in MODELS:
        with pytest.raises(StriateError) as error:
            create_model(name, (1, 8, 8), 10, bogus=1)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("name, options, message", [
    ("fcnet", {"dropout": 1.0}, "dropout is the probability of zeroing a unit"),
    ("fcnet", {"dropout": -0.1}, "dropout is the probability of zeroing a unit"),
    ("fcnet", {"hidden_dims": []}, "hidden_dims must be one or more positive integers"),
    ("fcnet", {"activation": "swish"}, "activation must be one of tanh, sigmoid, relu"),
    ("fcnet", {"init": "uniform"}, "init must be one of small, lecun, he, glorot"),
    ("vgg", {"dropout": 1.5}, "dropout is the probability of zeroing a unit"),
    ("vgg", {"num_filters": (4, 0), "As": (1, 1)}, "num_filters must be one or more positive"),
    ("vgg", {"hidden_dims": []}, "hidden_dims must be one or more positive integers"),
    ("vgg", {"init": "uniform"}, "init must be one of small, lecun, he, glorot"),
])
def test_both_engines_refuse_the_same_option_values(name, options, message):
    for create in (create_model, create_torch_model):
        with pytest.raises(StriateError, match=message) as error:
            create(name, (1, 8, 8), 10, **options)
        assert "\n" not in str(error.value)
