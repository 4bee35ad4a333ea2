"""The NumPy layers, sandwiches and losses against two oracles: centred-difference gradients in
float64, and torch.nn.functional (values, running statistics and autograd gradients)."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_matches_torch
from striate.numpy import layer_utils, layers, losses
from striate.numpy.gradient_check import (eval_numerical_gradient,
                                          eval_numerical_gradient_array, rel_error)

# Centred differences with h = 1e-5 in float64 agree with a correct gradient to about 1e-9.
SMOOTH = 1e-7


def away_from_zero(rng, shape):
    """Values with |v| >= 0.1, so that no relu sits within h of its kink."""
    return rng.choice([-1.0, 1.0], shape) * (0.1 + rng.random(shape))


def distinct(rng, shape):
    """Values at least 0.01 apart, so that no max-pool window has two maxima within h."""
    return rng.permutation(np.prod(shape)).reshape(shape) / 100.0


def check_gradients(forward, backward, arrays, *options, seed=0, tolerance=SMOOTH):
    """Every analytic gradient of backward against centred differences of forward.

    arrays: forward's array inputs, in the order backward returns their gradients; options:
    forward's remaining arguments (conv_param, bn_param, ...).
    """
    out, cache = forward(*arrays, *options)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(arrays)
    for array, grad in zip(arrays, grads):
        assert grad.shape == array.shape
        numeric = eval_numerical_gradient_array(lambda _: forward(*arrays, *options)[0], array,
                                                dout)
        if np.abs(numeric).max() < 1e-9:
            # A gradient that is zero in exact arithmetic (a bias before batch norm): both sides
            # are rounding noise, whose relative error means nothing.
            assert np.abs(grad).max() < 1e-9
        else:
            assert rel_error(grad, numeric) < tolerance


def gradient_cases():
    """name -> (forward, backward, arrays, options): every layer and sandwich, in float64.

    The inputs of relu and max-pool stay away from their kinks; in the sandwiches the relu and
    pool inputs are those a fixed seed gives, none of which lies within h = 1e-5 of a kink.
    """
    rng = np.random.default_rng(1)
    conv_param, pool_param = {"stride": 2, "pad": 1}, {"pool_height": 2, "pool_width": 2,
                                                       "stride": 2}
    image, kernel = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    fc, fc_w = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5))
    gamma, beta = 1 + rng.random(5), rng.standard_normal(5)
    train_bn = {"mode": "train"}
    test_bn = {"mode": "test", "running_mean": rng.standard_normal(5),
               "running_var": 1 + rng.random(5)}
    # The normalization cases added later draw from their own generator, so that the other
    # cases keep the inputs rng gives them, none within h of a kink.
    norm_rng = np.random.default_rng(15)
    return {
        "affine": (layers.affine_forward, layers.affine_backward,
                   (fc, fc_w, rng.standard_normal(5)), ()),
        "relu": (layers.relu_forward, layers.relu_backward, (away_from_zero(rng, (4, 5)),), ()),
        "sigmoid": (layers.sigmoid_forward, layers.sigmoid_backward,
                    (rng.standard_normal((4, 5)),), ()),
        "tanh": (layers.tanh_forward, layers.tanh_backward, (rng.standard_normal((4, 5)),), ()),
        "dropout": (layers.dropout_forward, layers.dropout_backward,
                    (rng.standard_normal((4, 5)),), ({"p": 0.6, "mode": "train", "seed": 3},)),
        "conv_naive": (layers.conv_forward_naive, layers.conv_backward_naive,
                       (image, kernel, rng.standard_normal(4)), (conv_param,)),
        "max_pool_naive": (layers.max_pool_forward_naive, layers.max_pool_backward_naive,
                           (distinct(rng, (2, 3, 4, 6)),), (pool_param,)),
        "max_pool_naive_border": (layers.max_pool_forward_naive, layers.max_pool_backward_naive,
                                  (distinct(rng, (2, 2, 5, 6)),),
                                  ({"pool_height": 3, "pool_width": 2, "stride": 2,
                                    "ignore_border": False},)),
        "batchnorm_train": (layers.batchnorm_forward, layers.batchnorm_backward,
                            (rng.standard_normal((6, 5)) * 3 + 1, gamma, beta), (train_bn,)),
        "batchnorm_test": (layers.batchnorm_forward, layers.batchnorm_backward,
                           (rng.standard_normal((6, 5)), gamma, beta), (test_bn,)),
        "batchnorm_alt_train": (layers.batchnorm_forward, layers.batchnorm_backward_alt,
                                (norm_rng.standard_normal((6, 5)) * 3 + 1, gamma, beta),
                                (train_bn,)),
        "batchnorm_alt_test": (layers.batchnorm_forward, layers.batchnorm_backward_alt,
                               (norm_rng.standard_normal((6, 5)), gamma, beta), (test_bn,)),
        "layernorm": (layers.layernorm_forward, layers.layernorm_backward,
                      (norm_rng.standard_normal((4, 5)) * 3 + 1, gamma, beta), ({},)),
        "spatial_batchnorm": (layers.spatial_batchnorm_forward,
                              layers.spatial_batchnorm_backward,
                              (rng.standard_normal((2, 5, 3, 2)) + 2, gamma, beta),
                              ({"mode": "train"},)),
        "affine_relu": (layer_utils.affine_relu_forward, layer_utils.affine_relu_backward,
                        (fc, fc_w, rng.standard_normal(5)), ()),
        "affine_bn_relu": (layer_utils.affine_bn_relu_forward,
                           layer_utils.affine_bn_relu_backward,
                           (fc, fc_w, rng.standard_normal(5), gamma, beta), ({"mode": "train"},)),
        "conv_relu": (layer_utils.conv_relu_forward, layer_utils.conv_relu_backward,
                      (image, kernel, rng.standard_normal(4)), (conv_param,)),
        "conv_relu_pool": (layer_utils.conv_relu_pool_forward,
                           layer_utils.conv_relu_pool_backward,
                           (rng.standard_normal((2, 3, 8, 7)), kernel, rng.standard_normal(4)),
                           ({"stride": 1, "pad": 1}, pool_param)),
        "conv_bn_relu": (layer_utils.conv_bn_relu_forward, layer_utils.conv_bn_relu_backward,
                         (image, kernel, rng.standard_normal(4), 1 + rng.random(4),
                          rng.standard_normal(4)), (conv_param, {"mode": "train"})),
    }


@pytest.mark.parametrize("name", gradient_cases())
def test_backward_matches_numerical_gradient(name):
    forward, backward, arrays, options = gradient_cases()[name]
    check_gradients(forward, backward, arrays, *options)


def test_gradient_check_catches_a_wrong_backward():
    def wrong_backward(dout, cache):
        dx, dw, db = layers.affine_backward(dout, cache)
        return dx, dw * 1.01, db

    forward, _, arrays, options = gradient_cases()["affine"]
    with pytest.raises(AssertionError):
        check_gradients(forward, wrong_backward, arrays, *options)


@pytest.mark.parametrize("loss", [losses.softmax_loss, losses.svm_loss,
                                  losses.squared_hinge_loss])
def test_loss_gradients_match_numerical_gradient(loss):
    rng = np.random.default_rng(2)
    scores, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    margins = scores - scores[np.arange(6), y][:, None] + 1.0
    margins[np.arange(6), y] = 1.0
    assert np.abs(margins).min() > 1e-3     # no hinge within h = 1e-5 of its kink
    _, dscores = loss(scores, y)
    numeric = eval_numerical_gradient(lambda s: loss(s, y)[0], scores)
    assert rel_error(dscores, numeric) < SMOOTH


# Against torch.nn.functional in float64: the same arithmetic in another order.
TORCH = {"rtol": 1e-9, "atol": 1e-10}


@pytest.mark.parametrize("ours, theirs", [
    ((layers.relu_forward, layers.relu_backward), F.relu),
    ((layers.sigmoid_forward, layers.sigmoid_backward), torch.sigmoid),
    ((layers.tanh_forward, layers.tanh_backward), torch.tanh)])
def test_activations_match_torch(ours, theirs):
    rng = np.random.default_rng(3)
    x, dout = rng.standard_normal((2, 3, 4)) * 5, rng.standard_normal((2, 3, 4))
    forward, backward = ours
    out, cache = forward(x)
    assert_matches_torch((out, [backward(dout, cache)]), theirs, [x], upstream=dout, **TORCH)


def test_sigmoid_does_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # exp(1000) would warn of an overflow
        out, _ = layers.sigmoid_forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(out, [0.0, 0.5, 1.0])


def test_affine_matches_torch_linear():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((3, 2, 5)), rng.standard_normal((10, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((3, 4))
    out, cache = layers.affine_forward(x, w, b)
    # torch's Linear keeps its weight as (out, in), the transpose of ours.
    assert_matches_torch((out, layers.affine_backward(dout, cache)),
                         lambda x, w, b: F.linear(x.reshape(3, -1), w.T, b), [x, w, b],
                         upstream=dout, **TORCH)


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (3, 2)])
def test_conv_naive_matches_torch_conv2d(stride, pad):
    rng = np.random.default_rng(5)
    x, w, b = (rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((4, 3, 3, 2)),
               rng.standard_normal(4))
    out, cache = layers.conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    assert_matches_torch((out, layers.conv_backward_naive(dout, cache)),
                         lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad),
                         [x, w, b], upstream=dout, **TORCH)


def test_conv_output_size_floors_when_the_stride_does_not_divide():
    x, w = np.ones((1, 1, 6, 6)), np.ones((1, 1, 3, 3))
    out, _ = layers.conv_forward_naive(x, w, np.zeros(1), {"stride": 2, "pad": 0})
    assert out.shape == (1, 1, 2, 2)     # 1 + (6 - 3) // 2; the last row and column are unused
    np.testing.assert_array_equal(out, 9.0)


@pytest.mark.parametrize("size, pool, stride", [((7, 8), (2, 2), 2), ((7, 6), (3, 2), 2),
                                                ((6, 7), (2, 2), 3), ((5, 5), (3, 3), 1)])
@pytest.mark.parametrize("ignore_border", [True, False])
def test_max_pool_naive_matches_torch(size, pool, stride, ignore_border):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, *size))
    pool_param = {"pool_height": pool[0], "pool_width": pool[1], "stride": stride,
                  "ignore_border": ignore_border}
    out, cache = layers.max_pool_forward_naive(x, pool_param)
    dout = rng.standard_normal(out.shape)
    # ignore_border=False keeps the partial border windows: torch's ceil_mode=True.
    assert_matches_torch((out, [layers.max_pool_backward_naive(dout, cache)]),
                         lambda x: F.max_pool2d(x, pool, stride, ceil_mode=not ignore_border),
                         [x], upstream=dout, **TORCH)


def test_partial_border_windows_and_torchs_last_window_rule():
    pool = {"pool_height": 2, "pool_width": 2, "stride": 3}
    # 7 pixels: windows start at 0, 3 and 6; the last one holds pixel 6 alone.
    assert layers.pool_output_size(7, 2, 3, ignore_border=False) == 3
    assert layers.pool_output_size(7, 2, 3, ignore_border=True) == 2
    # 6 pixels: ceil((6 - 2) / 3) + 1 = 3, but the third window would start at 6, outside.
    assert layers.pool_output_size(6, 2, 3, ignore_border=False) == 2
    x = np.arange(49.0).reshape(1, 1, 7, 7)
    out, _ = layers.max_pool_forward_naive(x, {**pool, "ignore_border": False})
    np.testing.assert_array_equal(out[0, 0], [[8, 11, 13], [29, 32, 34], [43, 46, 48]])


def batchnorm_pair(x, gamma, beta, steps, mode, shape_2d=True):
    """Runs our batchnorm and torch's F.batch_norm for `steps` calls on the same data.

    Returns (ours, theirs), each (out, running_mean, running_var) after the last call. Theirs
    are torch's, except running_var: torch averages the unbiased batch variance and cs231n, as
    we do, the biased one, so the expected running_var is cs231n's average, computed here
    (test_cs231n_batchnorm.py pins the difference to torch's).
    """
    forward = layers.batchnorm_forward if shape_2d else layers.spatial_batchnorm_forward
    channels = x.shape[1]
    bn_param = {"mode": mode, "momentum": 0.8, "eps": 1e-3,
                "running_mean": np.linspace(-1, 1, channels), "running_var": np.ones(channels)}
    running_mean = torch.tensor(bn_param["running_mean"])
    running_var = torch.tensor(bn_param["running_var"])
    cs231n_var = bn_param["running_var"].copy()                      # (C,)
    channel_axes = 0 if shape_2d else (0, 2, 3)
    for step in range(steps):
        batch = x + step     # a different batch each step
        out, _ = forward(batch, gamma, beta, bn_param)
        # torch's momentum weighs the new batch: 1 - ours.
        expected = F.batch_norm(torch.tensor(batch), running_mean, running_var,
                                torch.tensor(gamma), torch.tensor(beta),
                                training=mode == "train", momentum=0.2, eps=1e-3)
        if mode == "train":
            cs231n_var = 0.8 * cs231n_var + 0.2 * batch.var(axis=channel_axes)
    return ((out, bn_param["running_mean"], bn_param["running_var"]),
            (expected.numpy(), running_mean.numpy(), cs231n_var))


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("shape", [(8, 5), (4, 5, 3, 2)])
def test_batchnorm_matches_torch_including_running_statistics(mode, shape):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape) * 2 + 3
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    ours, theirs = batchnorm_pair(x, gamma, beta, steps=3, mode=mode, shape_2d=len(shape) == 2)
    for mine, expected in zip(ours, theirs):
        np.testing.assert_allclose(mine, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(8, 5), (4, 5, 3, 2)])
def test_batchnorm_train_gradients_match_torch_autograd(shape):
    rng = np.random.default_rng(8)
    x, gamma, beta = rng.standard_normal(shape), rng.standard_normal(5), rng.standard_normal(5)
    dout = rng.standard_normal(shape)
    forward, backward = ((layers.batchnorm_forward, layers.batchnorm_backward) if len(shape) == 2
                         else (layers.spatial_batchnorm_forward,
                               layers.spatial_batchnorm_backward))
    out, cache = forward(x, gamma, beta, {"mode": "train"})
    assert_matches_torch((out, backward(dout, cache)),
                         lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5),
                         [x, gamma, beta], upstream=dout, **TORCH)


def test_batchnorm_starts_running_statistics_like_cs231n():
    bn_param = {"mode": "train"}
    x = np.array([[1.0], [3.0]])     # batch mean 2, biased variance 1 (unbiased 2)
    layers.batchnorm_forward(x, np.ones(1), np.zeros(1), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], [0.9 * 0 + 0.1 * 2])
    np.testing.assert_allclose(bn_param["running_var"], [0.9 * 0 + 0.1 * 1])


@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_backward_alt_equals_batchnorm_backward(mode):
    # cs231n's notebook compares the two: "dx difference", "dgamma difference", "dbeta
    # difference", all at the limit of float64.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((100, 500)) * 5 + 12
    gamma, beta = rng.standard_normal(500), rng.standard_normal(500)
    bn_param = {"mode": mode, "running_mean": np.full(500, 12.0), "running_var": np.full(500, 25.0)}
    out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    dx_alt, dgamma_alt, dbeta_alt = layers.batchnorm_backward_alt(dout, cache)
    assert rel_error(dx, dx_alt) < 1e-12
    np.testing.assert_array_equal(dgamma_alt, dgamma)
    np.testing.assert_array_equal(dbeta_alt, dbeta)


def test_layernorm_matches_torch_layer_norm():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 7)) * 2 + 3
    gamma, beta, dout = rng.standard_normal(7), rng.standard_normal(7), rng.standard_normal((6, 7))
    out, cache = layers.layernorm_forward(x, gamma, beta, {"eps": 1e-3})
    assert_matches_torch((out, layers.layernorm_backward(dout, cache)),
                         lambda x, g, b: F.layer_norm(x, (7,), g, b, eps=1e-3),
                         [x, gamma, beta], upstream=dout, **TORCH)


def test_layernorm_eps_defaults_to_1e_5():
    x = np.array([[1.0, 3.0]])     # mean 2, biased variance 1
    out, _ = layers.layernorm_forward(x, np.ones(2), np.zeros(2), {})
    np.testing.assert_allclose(out, [[-1 / np.sqrt(1 + 1e-5), 1 / np.sqrt(1 + 1e-5)]],
                               rtol=1e-15)


def test_layernorm_normalizes_each_example_as_in_cs231n_notebook():
    # The notebook's check: a two-layer net's activations, then per example means ~0 and stds
    # ~1 with gamma = 1, beta = 0, and means beta, stds gamma with gamma = 3, beta = 5.
    rng = np.random.default_rng(13)
    N, D1, D2, D3 = 4, 50, 60, 3
    X, W1, W2 = (rng.standard_normal((N, D1)), rng.standard_normal((D1, D2)),
                 rng.standard_normal((D2, D3)))
    a = np.maximum(0, X @ W1) @ W2
    assert np.abs(a.mean(axis=1)).max() > 1     # not normalized before
    # Each example's features vary by far more than eps = 1e-5: the stds are 1 to 1e-8.
    assert a.var(axis=1).min() > 100
    for gamma, beta in [(np.ones(D3), np.zeros(D3)), (np.full(D3, 3.0), np.full(D3, 5.0))]:
        out, _ = layers.layernorm_forward(a, gamma, beta, {})
        np.testing.assert_allclose(out.mean(axis=1), beta[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(out.std(axis=1), gamma[0], rtol=1e-7)


def test_layernorm_does_not_mix_examples():
    rng = np.random.default_rng(14)
    x, gamma, beta = rng.standard_normal((5, 4)), rng.standard_normal(4), rng.standard_normal(4)
    out, _ = layers.layernorm_forward(x, gamma, beta, {})
    alone, _ = layers.layernorm_forward(x[2:3], gamma, beta, {})    # a batch of one works
    np.testing.assert_allclose(alone, out[2:3], rtol=1e-14, atol=1e-15)


def test_dropout_test_mode_is_the_identity():
    x = np.random.default_rng(9).standard_normal((5, 6))
    out, cache = layers.dropout_forward(x, {"p": 0.3, "mode": "test"})
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(layers.dropout_backward(x, cache), x)


@pytest.mark.parametrize("p", [0.25, 0.9])
def test_dropout_keeps_a_fraction_p_scaled_by_one_over_p(p):
    x = np.full((200, 500), 2.0)
    out, cache = layers.dropout_forward(x, {"p": p, "mode": "train", "seed": 0})
    kept = out != 0
    # 100,000 units: the kept fraction's standard deviation is below 0.0016.
    assert abs(kept.mean() - p) < 0.01
    np.testing.assert_allclose(out[kept], 2.0 / p)
    assert abs(out.mean() - 2.0) < 0.05      # inverted dropout keeps the expectation
    np.testing.assert_array_equal(layers.dropout_backward(np.ones_like(x), cache) != 0, kept)


def test_seeded_dropout_is_reproducible():
    x = np.ones((20, 30))
    first, _ = layers.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 42})
    again, _ = layers.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 42})
    other, _ = layers.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 43})
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_dropout_rejects_a_keep_probability_of_zero():
    with pytest.raises(ValueError, match="keep probability"):
        layers.dropout_forward(np.ones(3), {"p": 0.0, "mode": "train"})


def loss_inputs(seed=10):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((7, 5)) * 3, rng.integers(0, 5, 7)


def test_softmax_loss_matches_torch_cross_entropy():
    scores, y = loss_inputs()
    loss, dscores = losses.softmax_loss(scores, y)
    assert_matches_torch((loss, [dscores]), lambda s: F.cross_entropy(s, torch.tensor(y)),
                         [scores], rtol=1e-12, atol=0, grad_rtol=1e-10, grad_atol=1e-14)


def test_softmax_loss_is_stable_for_huge_scores():
    scores, y = loss_inputs()
    loss, dscores = losses.softmax_loss(scores, y)
    shifted_loss, shifted_dscores = losses.softmax_loss(scores + 1e4, y)
    assert shifted_loss == pytest.approx(loss, rel=1e-9)
    np.testing.assert_allclose(shifted_dscores, dscores, atol=1e-9)


def test_softmax_loss_of_uniform_scores_is_log_classes():
    loss, _ = losses.softmax_loss(np.zeros((4, 10)), np.arange(4))
    assert loss == pytest.approx(math.log(10))


@pytest.mark.parametrize("loss_function, p", [(losses.svm_loss, 1),
                                              (losses.squared_hinge_loss, 2)])
@pytest.mark.parametrize("delta", [1.0, 0.5])
def test_hinge_losses_are_classes_times_torch_multi_margin_loss(loss_function, p, delta):
    scores, y = loss_inputs()
    classes = scores.shape[1]
    loss, dscores = loss_function(scores, y, delta=delta)
    # torch averages over the classes as well as the examples: ours = C * theirs.
    assert_matches_torch((loss, [dscores]),
                         lambda s: classes * F.multi_margin_loss(s, torch.tensor(y), p=p,
                                                                 margin=delta),
                         [scores], rtol=1e-12, atol=0, grad_rtol=1e-10, grad_atol=1e-14)


def test_svm_loss_by_hand():
    scores = np.array([[3.0, 1.0, 2.5], [0.0, 2.0, 1.0]])
    y = np.array([0, 2])
    # Example 0: margins max(0, 1 - 3 + 1) = 0 and max(0, 2.5 - 3 + 1) = 0.5.
    # Example 1: max(0, 0 - 1 + 1) = 0 and max(0, 2 - 1 + 1) = 2.
    loss, dscores = losses.svm_loss(scores, y)
    assert loss == pytest.approx((0.5 + 2) / 2)
    np.testing.assert_allclose(dscores, [[-0.5, 0, 0.5], [0, 0.5, -0.5]])


def float32_cases():
    """name -> (forward, backward, arrays, options), every array float32."""
    def to_float32(value):
        if isinstance(value, dict):    # conv_param, bn_param: their running statistics
            return {k: to_float32(v) for k, v in value.items()}
        return value.astype(np.float32) if isinstance(value, np.ndarray) else value

    return {name: (forward, backward, [to_float32(a) for a in arrays],
                   [to_float32(o) for o in options])
            for name, (forward, backward, arrays, options) in gradient_cases().items()}


@pytest.mark.parametrize("name", float32_cases())
def test_float32_in_float32_out(name):
    forward, backward, arrays, options = float32_cases()[name]
    out, cache = forward(*arrays, *options)
    grads = backward(np.ones_like(out), cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert out.dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * len(grads)
    for option in options:   # batchnorm's running statistics too
        assert all(v.dtype == np.float32 for v in option.values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("loss", [losses.softmax_loss, losses.svm_loss,
                                  losses.squared_hinge_loss])
def test_losses_keep_float32(loss):
    scores, y = loss_inputs()
    _, dscores = loss(scores.astype(np.float32), y)
    assert dscores.dtype == np.float32


def test_batchnorm_refuses_what_torch_refuses():
    gamma, beta = np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match="more than 1 value"):     # no variance to normalize by
        layers.batchnorm_forward(np.ones((1, 3)), gamma, beta, {"mode": "train"})
    with pytest.raises(ValueError, match="mode"):
        layers.batchnorm_forward(np.ones((2, 3)), gamma, beta, {"mode": "eval"})
