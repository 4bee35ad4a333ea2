"""The fast convolution and max pooling: equal to the naive loops (forward and backward), to
torch, and float32 in gives float32 out."""

import numpy as np
import pytest
import torch.nn.functional as F

from helpers import assert_matches_torch
from striate.numpy import fast_layers, layers
from striate.numpy.gradient_check import eval_numerical_gradient_array, rel_error


def assert_all_close(ours, theirs, rtol=1e-10, atol=1e-12):
    assert len(ours) == len(theirs)
    for mine, expected in zip(ours, theirs):
        assert mine.shape == expected.shape
        np.testing.assert_allclose(mine, expected, rtol=rtol, atol=atol)


def conv_inputs(x_shape, w_shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[0]).astype(dtype))


def pool_param(ph, pw, stride, ignore_border):
    return {"pool_height": ph, "pool_width": pw, "stride": stride, "ignore_border": ignore_border}


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("x_shape, w_shape", [((2, 3, 7, 9), (4, 3, 3, 2)),
                                              ((3, 2, 8, 6), (2, 2, 1, 4))])
def test_conv_fast_equals_naive(stride, pad, x_shape, w_shape):
    x, w, b = conv_inputs(x_shape, w_shape)
    conv_param = {"stride": stride, "pad": pad}
    naive_out, naive_cache = layers.conv_forward_naive(x, w, b, conv_param)
    fast_out, fast_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    dout = np.random.default_rng(1).standard_normal(naive_out.shape)
    assert_all_close([fast_out], [naive_out])
    assert_all_close(fast_layers.conv_backward_fast(dout, fast_cache),
                     layers.conv_backward_naive(dout, naive_cache))


POOLS = [(2, 2, 2), (3, 3, 2), (2, 3, 1), (3, 2, 3), (2, 2, 3), (1, 1, 2)]


@pytest.mark.parametrize("ph, pw, stride", POOLS)
@pytest.mark.parametrize("ignore_border", [True, False])
@pytest.mark.parametrize("size", [(8, 8), (7, 9)])
def test_max_pool_fast_equals_naive(ph, pw, stride, ignore_border, size):
    x = np.random.default_rng(2).standard_normal((2, 3, *size))
    param = pool_param(ph, pw, stride, ignore_border)
    naive_out, naive_cache = layers.max_pool_forward_naive(x, param)
    fast_out, fast_cache = fast_layers.max_pool_forward_fast(x, param)
    dout = np.random.default_rng(3).standard_normal(naive_out.shape)
    assert_all_close([fast_out], [naive_out])
    assert_all_close([fast_layers.max_pool_backward_fast(dout, fast_cache)],
                     [layers.max_pool_backward_naive(dout, naive_cache)])


@pytest.mark.parametrize("forward, backward", [
    (layers.max_pool_forward_naive, layers.max_pool_backward_naive),
    (fast_layers.max_pool_forward_fast, fast_layers.max_pool_backward_fast)])
def test_max_pool_ties_send_the_gradient_to_the_first_maximum(forward, backward):
    x = np.zeros((1, 1, 5, 5))
    param = pool_param(2, 2, 2, ignore_border=False)
    out, cache = forward(x, param)
    dx = backward(np.ones_like(out), cache)
    expected = np.zeros((5, 5))
    expected[::2, ::2] = 1     # the top-left pixel of every window, border windows included
    np.testing.assert_array_equal(dx[0, 0], expected)


@pytest.mark.parametrize("stride, pad", [(1, 1), (2, 0), (3, 2)])
def test_conv_fast_matches_torch_conv2d_and_autograd(stride, pad):
    x, w, b = conv_inputs((3, 2, 9, 8), (5, 2, 3, 4), seed=4)
    out, cache = fast_layers.conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    dout = np.random.default_rng(5).standard_normal(out.shape)
    assert_matches_torch((out, fast_layers.conv_backward_fast(dout, cache)),
                         lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad),
                         [x, w, b], upstream=dout, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ph, pw, stride", POOLS)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_fast_matches_torch_max_pool2d_and_autograd(ph, pw, stride, ceil_mode):
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 9))
    out, cache = fast_layers.max_pool_forward_fast(x, pool_param(ph, pw, stride,
                                                                 ignore_border=not ceil_mode))
    dout = np.random.default_rng(7).standard_normal(out.shape)
    assert_matches_torch((out, [fast_layers.max_pool_backward_fast(dout, cache)]),
                         lambda x: F.max_pool2d(x, (ph, pw), stride, ceil_mode=ceil_mode),
                         [x], upstream=dout, rtol=1e-10, atol=1e-12)


def test_conv_fast_matches_numerical_gradient():
    x, w, b = conv_inputs((2, 3, 6, 5), (3, 3, 3, 2), seed=8)
    conv_param = {"stride": 2, "pad": 1}
    out, cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    dout = np.random.default_rng(9).standard_normal(out.shape)
    for array, grad in zip((x, w, b), fast_layers.conv_backward_fast(dout, cache)):
        numeric = eval_numerical_gradient_array(
            lambda _: fast_layers.conv_forward_fast(x, w, b, conv_param)[0], array, dout)
        assert rel_error(grad, numeric) < 1e-7


def test_conv_fast_on_a_non_contiguous_input():
    x, w, b = conv_inputs((2, 3, 7, 8), (4, 3, 3, 3), seed=10)
    x_view = np.asfortranarray(x)[:, :, ::-1]    # neither C-contiguous nor forward strides
    conv_param = {"stride": 2, "pad": 1}
    expected, _ = layers.conv_forward_naive(np.ascontiguousarray(x_view), w, b, conv_param)
    assert_all_close([fast_layers.conv_forward_fast(x_view, w, b, conv_param)[0]], [expected])


def test_fast_layers_keep_float32():
    x, w, b = conv_inputs((2, 3, 8, 8), (4, 3, 3, 3), dtype=np.float32)
    out, cache = fast_layers.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    grads = fast_layers.conv_backward_fast(np.ones_like(out), cache)
    pooled, pool_cache = fast_layers.max_pool_forward_fast(out, pool_param(3, 3, 2, False))
    dx = fast_layers.max_pool_backward_fast(np.ones_like(pooled), pool_cache)
    assert [a.dtype for a in (out, *grads, pooled, dx)] == [np.float32] * 6
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    expected, _ = layers.conv_forward_naive(x64, w64, b64, {"stride": 1, "pad": 1})
    assert_all_close([out], [expected], rtol=1e-5, atol=1e-5)
