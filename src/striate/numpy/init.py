"""Weight initialisation schemes, the same ones as striate.torch.init, drawn with NumPy.

- small Gaussian, N(0, weight_scale^2): cs231n's weight_scale knob; fine for shallow nets, but
  the signal shrinks layer by layer in deep ones.
- LeCun, N(0, 1 / fan_in): keeps the variance of a weighted sum equal to its inputs' variance.
- He, N(0, 2 / fan_in): ReLU zeroes half its inputs, so the variance is doubled to compensate.
- Glorot/Xavier uniform, U(-r, r) with r = gain * sqrt(6 / (fan_in + fan_out)): keeps activation
  and gradient variance roughly constant through tanh layers (the Deep Learning Tutorials'
  default); sigmoid needs gain 4 because its slope at 0 is 1/4 of tanh's.

Fans: an affine weight (D, M) has fan_in D and fan_out M; a convolution filter bank
(F, C, HH, WW) has fan_in C * HH * WW (the inputs of one output pixel) and fan_out F * HH * WW,
which the LeNet tutorial divides by the pooling area that follows.

Biases start at zero, batch-norm gamma at one and beta at zero (see `zeros`, `ones`).
"""

import math

import numpy as np

SCHEMES = ("gaussian", "lecun", "he", "glorot", "auto", "zeros")


def fans(shape, pool=1) -> tuple[float, float]:
    """(fan_in, fan_out) of an affine weight (D, M) or a filter bank (F, C, HH, WW); pool is the
    pooling area (pool x pool) after a convolution, which divides its fan-out."""
    if len(shape) == 2:
        fan_in, fan_out = shape
        return float(fan_in), float(fan_out)
    if len(shape) == 4:
        F, C, HH, WW = shape
        return float(C * HH * WW), F * HH * WW / pool ** 2
    raise ValueError(f"weights are (D, M) or (F, C, HH, WW), not {tuple(shape)}")


def gain_for(activation: str) -> float:
    """Glorot's gain for the activation that follows the layer."""
    return 4.0 if activation == "sigmoid" else 1.0


def small_gaussian(shape, weight_scale, rng, dtype=np.float32) -> np.ndarray:
    """N(0, weight_scale^2) of the given shape."""
    return (weight_scale * rng.standard_normal(shape)).astype(dtype)


def lecun(shape, rng, dtype=np.float32) -> np.ndarray:
    """N(0, 1 / fan_in)."""
    fan_in, _ = fans(shape)
    return small_gaussian(shape, math.sqrt(1.0 / fan_in), rng, dtype)


def he(shape, rng, dtype=np.float32) -> np.ndarray:
    """N(0, 2 / fan_in), for a layer followed by a ReLU."""
    fan_in, _ = fans(shape)
    return small_gaussian(shape, math.sqrt(2.0 / fan_in), rng, dtype)


def glorot(shape, rng, dtype=np.float32, gain=1.0, pool=1) -> np.ndarray:
    """U(-r, r), r = gain * sqrt(6 / (fan_in + fan_out)); fan_out divided by the pool area."""
    fan_in, fan_out = fans(shape, pool)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def init_weight(scheme: str, shape, rng, dtype=np.float32, weight_scale=1e-3,
                activation="tanh", pool=1) -> np.ndarray:
    """One weight array by scheme name.

    scheme: one of SCHEMES; "gaussian" uses weight_scale, "glorot" the activation's gain and the
    pool area, and "auto" is striate.torch.init.for_activation's choice: He before a ReLU,
    Glorot (gain 4 for sigmoid) otherwise. shape: (D, M) or (F, C, HH, WW).
    """
    if scheme == "gaussian":
        return small_gaussian(shape, weight_scale, rng, dtype)
    if scheme == "lecun":
        return lecun(shape, rng, dtype)
    if scheme == "he" or (scheme == "auto" and activation == "relu"):
        return he(shape, rng, dtype)
    if scheme in ("glorot", "auto"):
        return glorot(shape, rng, dtype, gain=gain_for(activation), pool=pool)
    if scheme == "zeros":
        return zeros(shape, dtype)
    raise ValueError(f"weight init must be one of {', '.join(SCHEMES)}, not {scheme!r}")


def zeros(shape, dtype=np.float32) -> np.ndarray:
    """Biases and batch-norm beta."""
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype=np.float32) -> np.ndarray:
    """Batch-norm gamma: the layer starts as a plain normalization."""
    return np.ones(shape, dtype=dtype)
