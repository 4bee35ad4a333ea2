"""Weight initialisation schemes of the tutorials, each with the reason it exists.

- Glorot/Xavier uniform, U(-r, r) with r = sqrt(6 / (fan_in + fan_out)): keeps activation and
  gradient variance roughly constant through tanh layers (the Deep Learning Tutorials' default);
  sigmoid needs r * 4 because its slope at 0 is 1/4 of tanh's.
- He, N(0, 2 / fan_in): ReLU zeroes half its inputs, so the variance is doubled to compensate.
- LeCun, N(0, 1 / fan_in): unit output variance for a linear unit, the oldest of the rules.
- small Gaussian, N(0, weight_scale^2): cs231n's weight_scale knob; too small a scale makes
  deep nets' activations (and gradients) vanish, which is why the rules above exist.
"""

import math

import torch
from torch import nn


def glorot_uniform_(weight: torch.Tensor, fan_in: float, fan_out: float, gain: float = 1.0):
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def he_normal_(weight: torch.Tensor, fan_in: float):
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(2.0 / fan_in))


def for_activation(weight: torch.Tensor, activation: str):
    """Initialise a (fan_out, fan_in) linear weight for the activation that follows it."""
    fan_out, fan_in = weight.shape
    if activation == "relu":
        return he_normal_(weight, fan_in)
    return glorot_uniform_(weight, fan_in, fan_out, gain=4.0 if activation == "sigmoid" else 1.0)


SCHEMES = ("small", "lecun", "he", "glorot")


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a (out, in) affine or (out, in, kh, kw) convolution weight."""
    receptive = weight[0, 0].numel()
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def by_scheme_(weight: torch.Tensor, scheme: str, weight_scale: float, activation: str = "relu"):
    """Initialise one weight by a named scheme (see the module docstring)."""
    fan_in, fan_out = fans(weight)
    with torch.no_grad():
        if scheme == "small":
            return weight.normal_(0.0, weight_scale)
        if scheme == "lecun":
            return weight.normal_(0.0, math.sqrt(1.0 / fan_in))
        if scheme == "he":
            return he_normal_(weight, fan_in)
        if scheme == "glorot":
            return glorot_uniform_(weight, fan_in, fan_out,
                                   gain=4.0 if activation == "sigmoid" else 1.0)
    raise ValueError(f"init must be one of {', '.join(SCHEMES)}, not {scheme!r}")


def small_gaussian_(model: nn.Module, weight_scale: float):
    """Every weight ~ N(0, weight_scale^2), every bias 0."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
            else:
                parameter.normal_(0.0, weight_scale)
