"""Dead and saturated units of a torch model, measured with forward hooks (for `striate check`)."""

import torch
from torch import nn

from striate.training.learner import UnitHealth

# A tanh unit with |tanh| > 0.99 passes back under 2% of the gradient (1 - tanh^2 < 0.02); a
# unit that does so for most inputs has stopped learning, as has a ReLU that is never positive.
SATURATED = 0.99          # |tanh(z)|, and |2 sigmoid(z) - 1| = |tanh(z / 2)| on the same scale
MOST_INPUTS = 0.5


def measure_units(model: nn.Module, images: torch.Tensor) -> list[UnitHealth]:
    """One report per activation layer, on `images`.

    In training mode, as the optimizer sees the network (batch norm uses the batch's
    statistics); each layer is judged as its output passes, before an in-place layer reuses it."""
    reports = []

    def judge(name):
        return lambda layer, inputs, output: reports.append(unit_report(name, layer, output))

    hooks = [layer.register_forward_hook(judge(name)) for name, layer in model.named_modules()
             if isinstance(layer, (nn.ReLU, nn.Tanh, nn.Sigmoid))]
    with torch.no_grad():
        model.train()(images)
    for hook in hooks:
        hook.remove()
    return reports


def unit_report(name: str, layer: nn.Module, output: torch.Tensor) -> UnitHealth:
    """output: (N, units) or (N, units, H, W); a convolution's unit is a channel."""
    by_unit = output.transpose(0, 1).flatten(1).float()            # (units, N * H * W)
    if isinstance(layer, nn.ReLU):
        bad, what = ~(by_unit > 0).any(dim=1), "dead"
    else:
        centred = by_unit if isinstance(layer, nn.Tanh) else 2 * by_unit - 1   # in [-1, 1]
        bad, what = (centred.abs() > SATURATED).float().mean(dim=1) > MOST_INPUTS, "saturated"
    return UnitHealth(name, what, int(bad.sum()), len(bad))
