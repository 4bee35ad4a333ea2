"""Every layer of the NumPy engine, forward and backward, written to be read.

The contract (cs231n's):

    out, cache = name_forward(x, ...params)
    dx, dw, db = name_backward(dout, cache)    # dout = dL/dout, shaped like out

The convolution and max-pooling here are the naive loop versions; striate.numpy.fast_layers has
the same functions, with the same signatures, vectorised. Every function keeps the dtype of its
input: float32 in, float32 out.
"""

import numpy as np


def affine_forward(x, w, b):
    """A fully connected layer: out = x.reshape(N, D) @ w + b.

    x: (N, d1, ..., dk), flattened to (N, D) with D = d1 * ... * dk; w: (D, M); b: (M,).
    Returns out: (N, M) and the cache (x, w).
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    """dout: (N, M). Returns dx: x's own shape (N, d1, ..., dk), dw: (D, M), db: (M,)."""
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """out = max(0, x). x: any shape; out: x's shape; the cache is x."""
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """dout: the input's shape. Returns dx: the same shape (dout where x > 0, else 0)."""
    x = cache
    return dout * (x > 0)


def sigmoid_forward(x):
    """out = 1 / (1 + exp(-x)). x: any shape; out: x's shape; the cache is out."""
    # The same function as 1 / (1 + exp(-x)), but exp never overflows for large negative x.
    out = 0.5 * (1 + np.tanh(0.5 * x))
    return out, out


def sigmoid_backward(dout, cache):
    """dout: the input's shape. Returns dx: the same shape; sigmoid' = out * (1 - out)."""
    out = cache
    return dout * out * (1 - out)


def tanh_forward(x):
    """out = tanh(x). x: any shape; out: x's shape; the cache is out."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """dout: the input's shape. Returns dx: the same shape; tanh' = 1 - out ** 2."""
    out = cache
    return dout * (1 - out ** 2)


def dropout_forward(x, dropout_param):
    """Inverted dropout.

    dropout_param["p"] is the probability of KEEPING a unit (cs231n's convention). torch's
    nn.Dropout(p) takes the probability of DROPPING one: ours p = 1 - torch's p.

    x: any shape. dropout_param: {"p": keep probability in (0, 1], "mode": "train" | "test",
    "seed": optional int, "rng": optional np.random.Generator}. In train mode each unit is kept
    with probability p and the kept ones are scaled by 1 / p, so the expected output equals x
    and test mode is the identity. A seed fixes the mask, the same on every call (what a gradient
    check needs) and the assignment's own; without one the mask is drawn from "rng" (striate's
    models pass one that follows from the run's seed), else from fresh entropy.
    Returns out: x's shape, and the cache (dropout_param, mask); mask: x's shape, or None in
    test mode.
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if not 0 < p <= 1:
        raise ValueError(f"dropout p is the keep probability and must be in (0, 1], got {p}")
    if mode == "test":
        return x, (dropout_param, None)
    mask = ((mask_generator(dropout_param).random(x.shape) < p) / p).astype(x.dtype)
    return x * mask, (dropout_param, mask)


def mask_generator(dropout_param):
    """Where dropout_forward draws its uniform numbers from."""
    if dropout_param.get("seed") is not None:
        # cs231n's np.random.seed(seed); np.random.rand(*x.shape), without reseeding NumPy's
        # global generator behind the caller's back: the same numbers, so the same masks.
        return np.random.RandomState(dropout_param["seed"])
    if dropout_param.get("rng") is not None:
        return dropout_param["rng"]
    return np.random.default_rng()


def dropout_backward(dout, cache):
    """dout: the input's shape. Returns dx: the same shape."""
    dropout_param, mask = cache
    if dropout_param["mode"] == "test":
        return dout
    return dout * mask


def conv_output_size(size, filter_size, stride, pad):
    """Positions of a filter sliding over size + 2 * pad pixels; a filter never hangs over the
    far edge, so rows that cannot fill a whole window are dropped (floor)."""
    return 1 + (size + 2 * pad - filter_size) // stride


def pad_images(x, pad):
    """x: (N, C, H, W) -> (N, C, H + 2 * pad, W + 2 * pad), zeros around each image."""
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def conv_forward_naive(x, w, b, conv_param):
    """Convolution (cross-correlation, as in torch), one output pixel at a time.

    x: (N, C, H, W); w: (F, C, HH, WW); b: (F,); conv_param: {"stride": s, "pad": p}, p zeros
    on every side. Returns out: (N, F, H', W') with H' = 1 + (H + 2p - HH) // s and
    W' = 1 + (W + 2p - WW) // s, and the cache (x, w, b, conv_param).
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = conv_output_size(H, HH, stride, pad)
    W_out = conv_output_size(W, WW, stride, pad)
    x_padded = pad_images(x, pad)
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_padded[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """dout: (N, F, H', W'). Returns dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,).

    Each output pixel was sum(window * w[f]) + b[f]; its gradient flows back to that window
    (through w[f]) and to w[f] (through the window).
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, F, H_out, W_out = dout.shape
    _, _, HH, WW = w.shape
    x_padded = pad_images(x, pad)
    dx_padded = np.zeros_like(x_padded)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dx_padded[n, :, rows, cols] += w[f] * dout[n, f, i, j]
                    dw[f] += x_padded[n, :, rows, cols] * dout[n, f, i, j]
    H, W = x.shape[2:]
    dx = dx_padded[:, :, pad:pad + H, pad:pad + W]
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def pool_output_size(size, pool_size, stride, ignore_border=True):
    """Number of pooling windows along one axis of `size` pixels.

    ignore_border=True drops a partial window at the far edge (floor). ignore_border=False keeps
    it (Theano's option), exactly as torch's max_pool2d(ceil_mode=True) counts: ceil, except that
    the last window must start inside the input.
    """
    if ignore_border:
        return 1 + (size - pool_size) // stride
    count = 1 + -(-(size - pool_size) // stride)   # -(-a // b) is ceil(a / b)
    if (count - 1) * stride >= size:
        count -= 1
    return count


def pool_geometry(x_shape, pool_param):
    """x_shape: (N, C, H, W). Returns (pool_height, pool_width, stride, H', W')."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    ignore_border = pool_param.get("ignore_border", True)
    H, W = x_shape[2:]
    return (ph, pw, stride, pool_output_size(H, ph, stride, ignore_border),
            pool_output_size(W, pw, stride, ignore_border))


def max_pool_forward_naive(x, pool_param):
    """Max pooling, one window at a time.

    x: (N, C, H, W); pool_param: {"pool_height", "pool_width", "stride", "ignore_border": True
    by default}; with ignore_border False a window that hangs over the bottom or right edge
    is kept and takes the max of its part inside the input. Returns out: (N, C, H', W') (sizes
    from pool_output_size) and the cache (x, pool_param).
    """
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_geometry(x.shape, pool_param)
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    # Slicing stops at the edge of x: a border window is cut to its inside part.
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    out[n, c, i, j] = window.max()
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """dout: (N, C, H', W'). Returns dx: (N, C, H, W).

    Each window's gradient goes to its maximum; on ties to the first one in row-major order
    (np.argmax's choice, which the fast version repeats).
    """
    x, pool_param = cache
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_geometry(x.shape, pool_param)
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + a, j * stride + b] += dout[n, c, i, j]
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization over the N examples, for each of the D features.

    x: (N, D); gamma, beta: (D,); bn_param: {"mode": "train" | "test", "eps": 1e-5,
    "momentum": 0.9, "running_mean": (D,), "running_var": (D,)}. The running statistics are
    cs231n's: both start at zeros on the first call and are replaced in bn_param by
    momentum * running + (1 - momentum) * batch after each train-mode call, from the batch's
    mean and its biased variance (the one the batch is normalized with); test mode normalizes
    with them. (torch starts running_var at ones and averages the unbiased variance: see
    docs/numpy-engine.md.) Returns out: (N, D), and the cache for batchnorm_backward.
    """
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if mode == "train":
        if N < 2:
            raise ValueError("batch normalization in train mode needs more than 1 value per "
                             "feature")
        mean, var = x.mean(axis=0), x.var(axis=0)                  # (D,), (D,): var biased
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        mean, var = running_mean, running_var
    else:
        raise ValueError(f'batch normalization mode must be "train" or "test", got {mode!r}')
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    return out, (x_hat, gamma, inv_std, mode)


def batchnorm_backward(dout, cache):
    """dout: (N, D). Returns dx: (N, D), dgamma: (D,), dbeta: (D,).

    In train mode the mean and variance depend on every example of the batch; carrying the chain
    rule through both collapses into one line (x_hat = (x - mean) * inv_std, dx_hat = dL/dx_hat):

        dx = inv_std / N * (N * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))

    In test mode they are constants, and the layer is an affine map of x.
    """
    x_hat, gamma, inv_std, mode = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    if mode == "test":
        return dx_hat * inv_std, dgamma, dbeta
    dx = inv_std / N * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """cs231n's simplified batch-norm backward: batchnorm_backward's signature and results.

    dout: (N, D). Returns dx: (N, D), dgamma: (D,), dbeta: (D,). The same closed form, written
    with the sums the parameters' gradients already hold, since sum(dout) = dbeta and
    sum(dout * x_hat) = dgamma:

        dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
    """
    x_hat, gamma, inv_std, mode = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    if mode == "test":
        return dout * gamma * inv_std, dgamma, dbeta
    dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalization: each example normalized over its own D features.

    x: (N, D); gamma, beta: (D,); ln_param: {"eps": 1e-5}. Batch norm's arithmetic along the
    other axis, with the biased variance, and no running statistics: train and test time are
    the same computation (torch's F.layer_norm(x, (D,), gamma, beta, eps)).
    Returns out: (N, D), and the cache for layernorm_backward.
    """
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=1, keepdims=True)                        # (N, 1)
    inv_std = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)   # (N, 1)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    return out, (x_hat, gamma, inv_std)


def layernorm_backward(dout, cache):
    """dout: (N, D). Returns dx: (N, D), dgamma: (D,), dbeta: (D,).

    batchnorm_backward's closed form, with the sums taken over each example's D features:

        dx = inv_std / D * (D * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))
    """
    x_hat, gamma, inv_std = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dx = inv_std / D * (D * dx_hat - dx_hat.sum(axis=1, keepdims=True)
                        - x_hat * (dx_hat * x_hat).sum(axis=1, keepdims=True))
    return dx, dgamma, dbeta


def channels_last(x):
    """(N, C, H, W) -> (N * H * W, C): every pixel becomes an example of C features."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def channels_first(rows, shape):
    """The inverse of channels_last: (N * H * W, C) -> shape (N, C, H, W)."""
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization per channel, over the batch and all pixels (torch's BatchNorm2d).

    x: (N, C, H, W); gamma, beta: (C,); bn_param: as batchnorm_forward's, with (C,) running
    statistics. Returns out: (N, C, H, W) and the cache.
    """
    out, cache = batchnorm_forward(channels_last(x), gamma, beta, bn_param)
    return channels_first(out, x.shape), (cache, x.shape)


def spatial_batchnorm_backward(dout, cache):
    """dout: (N, C, H, W). Returns dx: (N, C, H, W), dgamma: (C,), dbeta: (C,)."""
    cache, shape = cache
    dx, dgamma, dbeta = batchnorm_backward(channels_last(dout), cache)
    return channels_first(dx, shape), dgamma, dbeta
