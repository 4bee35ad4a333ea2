"""Fast convolution and max pooling: the same functions as the naive ones in layers.py, with the
same signatures and results, vectorised.

Convolution is im2col: every receptive field of the padded input becomes one column of a matrix
(read through a strided view, copied once), and the whole layer is one BLAS matrix product. Its
backward pass is two more products, plus col2im, which adds the columns' gradients back into
the image one kernel offset (di, dj) at a time: HH * WW vectorised additions, not a Python loop
over pixels.

Both keep the input's dtype: float32 in, float32 out.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from striate.numpy.layers import conv_output_size, pad_images, pool_geometry


def conv_forward_fast(x, w, b, conv_param):
    """Convolution by im2col and one matrix product.

    x: (N, C, H, W); w: (F, C, HH, WW); b: (F,); conv_param: {"stride": s, "pad": p}.
    Returns out: (N, F, H', W') with H' = 1 + (H + 2p - HH) // s, W' likewise, and the cache
    (x.shape, w, conv_param, cols); cols: (C * HH * WW, N * H' * W').
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = conv_output_size(H, HH, stride, pad)
    W_out = conv_output_size(W, WW, stride, pad)
    # A view, no copy: windows[n, c, i, j] is the (HH, WW) patch under output pixel (i, j).
    windows = sliding_window_view(pad_images(x, pad), (HH, WW), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride][:, :, :H_out, :W_out]   # (N, C, H', W', HH, WW)
    cols = windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * HH * WW, N * H_out * W_out)
    out = w.reshape(F, -1) @ cols + b[:, None]                            # (F, N * H' * W')
    out = out.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3)
    return out, (x.shape, w, conv_param, cols)


def conv_backward_fast(dout, cache):
    """dout: (N, F, H', W'). Returns dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,)."""
    x_shape, w, conv_param, cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x_shape
    F, _, HH, WW = w.shape
    H_out, W_out = dout.shape[2:]
    dout_rows = dout.transpose(1, 0, 2, 3).reshape(F, -1)                 # (F, N * H' * W')
    db = dout_rows.sum(axis=1)
    dw = (dout_rows @ cols.T).reshape(w.shape)
    dcols = (w.reshape(F, -1).T @ dout_rows).reshape(C, HH, WW, N, H_out, W_out)
    # col2im: the input pixel under kernel offset (di, dj) of output pixel (i, j) sits at
    # (i * stride + di, j * stride + dj); windows overlap, so the offsets accumulate.
    dx_padded = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for di in range(HH):
        for dj in range(WW):
            dx_padded[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride] += \
                dcols[:, di, dj].transpose(1, 0, 2, 3)
    dx = dx_padded[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def pool_windows(x, pool_param):
    """The pooling windows as one strided view.

    x: (N, C, H, W). Returns windows: (N, C, H', W', pool_height, pool_width). With
    ignore_border False the input is first padded at the bottom and right with -inf, which
    never wins a max, so a border window takes the max of its inside part.
    """
    ph, pw, stride, H_out, W_out = pool_geometry(x.shape, pool_param)
    H, W = x.shape[2:]
    pad_h = max(0, (H_out - 1) * stride + ph - H)
    pad_w = max(0, (W_out - 1) * stride + pw - W)
    if pad_h or pad_w:
        x = np.pad(x, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), constant_values=-np.inf)
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::stride, ::stride]
    # torch's rule that a last window must start inside the input can leave one window fewer.
    return windows[:, :, :H_out, :W_out]


def max_pool_forward_fast(x, pool_param):
    """Max pooling over strided windows (when windows tile the input this is the reshape trick).

    x: (N, C, H, W); pool_param: {"pool_height", "pool_width", "stride", "ignore_border": True
    by default}. Returns out: (N, C, H', W') and the cache (x.shape, pool_param, argmax);
    argmax: (N, C, H', W'), the row-major position of each window's maximum.
    """
    windows = pool_windows(x, pool_param)
    flat = windows.reshape(*windows.shape[:4], -1)                  # (N, C, H', W', ph * pw)
    argmax = flat.argmax(axis=-1)   # the first maximum on ties, as the naive version
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return out, (x.shape, pool_param, argmax)


def max_pool_backward_fast(dout, cache):
    """dout: (N, C, H', W'). Returns dx: (N, C, H, W); each window's gradient goes to its max."""
    x_shape, pool_param, argmax = cache
    N, C, H, W = x_shape
    ph, pw, stride, H_out, W_out = pool_geometry(x_shape, pool_param)
    dx = np.zeros((N, C, max(H, (H_out - 1) * stride + ph), max(W, (W_out - 1) * stride + pw)),
                  dtype=dout.dtype)
    # One vectorised addition per window offset; overlapping windows (stride < pool size) may
    # send several gradients to the same pixel, hence +=.
    for di in range(ph):
        for dj in range(pw):
            dx[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride] += \
                np.where(argmax == di * pw + dj, dout, 0)
    return dx[:, :, :H, :W]
