"""What the layers of a torch model output, caught with forward hooks while the unchanged model
runs: the activations `striate check` judges, and feature maps (`striate plot`)."""

import numpy as np
import torch
from torch import nn

from striate.errors import StriateError
from striate.training.learner import LayerOutput

KINDS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


def activations(model: nn.Module, images: torch.Tensor) -> list[LayerOutput]:
    """The output of every activation layer for `images`, in training mode, as the optimizer
    sees the network (batch norm uses the batch's statistics); each is copied as it passes,
    before an in-place layer reuses it."""
    caught = []

    def keep(name):
        return lambda layer, inputs, output: caught.append(
            LayerOutput(name, KINDS[type(layer)], output.detach().float().cpu().numpy().copy()))

    hooks = [layer.register_forward_hook(keep(name)) for name, layer in model.named_modules()
             if type(layer) in KINDS]
    with torch.no_grad():
        model.train()(images)
    for hook in hooks:
        hook.remove()
    return caught


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
