"""Sandwich layers: common chains of layers as one forward and one backward.

Each forward returns (out, cache); each backward takes (dout, cache) and returns the gradients
of the forward's array inputs, in order. The convolutions and pooling are the fast ones.
The layers are looked up as module attributes at call time, so a test (or a student) that
replaces one, say layers.affine_backward, changes every sandwich built on it.
"""

from striate.numpy import fast_layers, layers


def affine_relu_forward(x, w, b):
    """x: (N, d1, ..., dk); w: (D, M); b: (M,). Returns out: (N, M) and the cache."""
    a, affine_cache = layers.affine_forward(x, w, b)
    out, relu_cache = layers.relu_forward(a)
    return out, (affine_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """dout: (N, M). Returns dx: x's shape, dw: (D, M), db: (M,)."""
    affine_cache, relu_cache = cache
    return layers.affine_backward(layers.relu_backward(dout, relu_cache), affine_cache)


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """affine - batch norm - relu. x: (N, d1, ..., dk); w: (D, M); b, gamma, beta: (M,);
    bn_param: as layers.batchnorm_forward's. Returns out: (N, M) and the cache."""
    a, affine_cache = layers.affine_forward(x, w, b)
    a_norm, bn_cache = layers.batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = layers.relu_forward(a_norm)
    return out, (affine_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout, cache):
    """dout: (N, M). Returns dx: x's shape, dw: (D, M), db, dgamma, dbeta: (M,)."""
    affine_cache, bn_cache, relu_cache = cache
    da_norm = layers.relu_backward(dout, relu_cache)
    da, dgamma, dbeta = layers.batchnorm_backward(da_norm, bn_cache)
    dx, dw, db = layers.affine_backward(da, affine_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_forward(x, w, b, conv_param):
    """x: (N, C, H, W); w: (F, C, HH, WW); b: (F,). Returns out: (N, F, H', W') and the cache."""
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = layers.relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """dout: (N, F, H', W'). Returns dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,)."""
    conv_cache, relu_cache = cache
    return fast_layers.conv_backward_fast(layers.relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """conv - relu - max pool. x: (N, C, H, W); w: (F, C, HH, WW); b: (F,).
    Returns out: (N, F, H'', W''), the pooled size of the convolution's (H', W'), and the cache."""
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = layers.relu_forward(a)
    out, pool_cache = fast_layers.max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """dout: (N, F, H'', W''). Returns dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,)."""
    conv_cache, relu_cache, pool_cache = cache
    ds = fast_layers.max_pool_backward_fast(dout, pool_cache)
    da = layers.relu_backward(ds, relu_cache)
    return fast_layers.conv_backward_fast(da, conv_cache)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """conv - spatial batch norm - relu. x: (N, C, H, W); w: (F, C, HH, WW); b, gamma, beta:
    (F,); bn_param: as layers.batchnorm_forward's. Returns out: (N, F, H', W') and the cache."""
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    a_norm, bn_cache = layers.spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = layers.relu_forward(a_norm)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    """dout: (N, F, H', W'). Returns dx: (N, C, H, W), dw: (F, C, HH, WW), db, dgamma, dbeta:
    (F,)."""
    conv_cache, bn_cache, relu_cache = cache
    da_norm = layers.relu_backward(dout, relu_cache)
    da, dgamma, dbeta = layers.spatial_batchnorm_backward(da_norm, bn_cache)
    dx, dw, db = fast_layers.conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta


def conv_pool_bn_relu_forward(x, w, b, gamma, beta, conv_param, pool_param, bn_param):
    """conv - max pool - spatial batch norm - relu: conv_bn_relu_forward with the pool moved
    before the norm, which then normalises a quarter of the values. x: (N, C, H, W); w: (F, C,
    HH, WW); b, gamma, beta: (F,). Returns out: (N, F, H'', W''), the pooled size of the
    convolution's (H', W'), and the cache."""
    a, conv_cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
    pooled, pool_cache = fast_layers.max_pool_forward_fast(a, pool_param)
    p_norm, bn_cache = layers.spatial_batchnorm_forward(pooled, gamma, beta, bn_param)
    out, relu_cache = layers.relu_forward(p_norm)
    return out, (conv_cache, pool_cache, bn_cache, relu_cache)


def conv_pool_bn_relu_backward(dout, cache):
    """dout: (N, F, H'', W''). Returns dx: (N, C, H, W), dw: (F, C, HH, WW), db, dgamma, dbeta:
    (F,)."""
    conv_cache, pool_cache, bn_cache, relu_cache = cache
    dp_norm = layers.relu_backward(dout, relu_cache)
    dpooled, dgamma, dbeta = layers.spatial_batchnorm_backward(dp_norm, bn_cache)
    da = fast_layers.max_pool_backward_fast(dpooled, pool_cache)
    dx, dw, db = fast_layers.conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta
