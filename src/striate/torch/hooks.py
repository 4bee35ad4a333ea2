"""What the layers of a torch model output, caught with forward hooks while the unchanged model
runs: dead and saturated units (`striate check`) and feature maps (`striate plot`)."""

import numpy as np
import torch
from torch import nn

from striate.errors import StriateError
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


def conv_layer_names(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]


def check_layers(model: nn.Module, layers: list[str], model_name: str) -> None:
    known = dict(model.named_modules())
    unknown = [name for name in layers if name not in known or not name]
    if unknown:
        names = ", ".join(name for name in known if name)
        raise StriateError(f"{model_name} has no layer {unknown[0]!r}; --layers takes names "
                           f"from: {names}")


def feature_maps(model: nn.Module, layers: list[str], image: np.ndarray) -> dict[str, np.ndarray]:
    """{layer: its output} for one preprocessed (C, H, W) float32 image, each (K, h, w) for a
    convolutional output or (D,) for a flat one."""
    modules, outputs = dict(model.named_modules()), {}

    def keeper(name):
        def keep(module, inputs, output):
            # A copy: an in-place ReLU after the layer would otherwise change what was kept.
            outputs[name] = output.detach().clone()
        return keep

    hooks = [modules[name].register_forward_hook(keeper(name)) for name in layers]
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            model(torch.from_numpy(image[np.newaxis]).to(device))       # (1, C, H, W)
    finally:
        for hook in hooks:
            hook.remove()
    return {name: outputs[name][0].float().cpu().numpy() for name in layers}
