"""Weight initialisation schemes of the tutorials, each with the reason it exists.

- Glorot/Xavier uniform, U(-r, r) with r = sqrt(6 / (fan_in + fan_out)): keeps activation and
  gradient variance roughly constant through tanh layers (the Deep Learning Tutorials' default);
  sigmoid needs r * 4 because its slope at 0 is 1/4 of tanh's.
- He, N(0, 2 / fan_in): ReLU zeroes half its inputs, so the variance is doubled to compensate.
- small Gaussian, N(0, weight_scale^2): cs231n's weight_scale knob.
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


def small_gaussian_(model: nn.Module, weight_scale: float):
    """Every weight ~ N(0, weight_scale^2), every bias 0."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
            else:
                parameter.normal_(0.0, weight_scale)
