"""Feature maps: what chosen layers of a trained model output for one input image, caught with
forward hooks while the unchanged model runs."""

import numpy as np
import torch
from torch import nn

from striate.errors import StriateError
from striate.viz.figures import new_figure, scaled_to_unit, show_image, tile_images

MAX_MAPS = 64  # channels shown per layer: VGG's later stages have hundreds of 2x2 maps


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


def features_figure(layer: str, maps: np.ndarray, picture: np.ndarray, caption: str):
    """The input `picture` ((H, W) or (H, W, 3)) beside the layer's output `maps`."""
    figure = new_figure(10, 5)
    left, right = figure.subplots(1, 2, width_ratios=(1, 2))
    show_image(left, picture, caption)
    if maps.ndim == 3:                                                  # (K, h, w)
        shown = maps[:MAX_MAPS]
        count = f"{len(maps)}" if len(shown) == len(maps) else f"first {MAX_MAPS} of {len(maps)}"
        show_image(right, tile_images(shown[:, np.newaxis]),
                   f"{layer}: {count} maps, {maps.shape[1]}x{maps.shape[2]}")
    else:
        show_image(right, square_raster(maps.reshape(-1)), f"{layer}: {maps.size} units")
    return figure


def square_raster(values: np.ndarray) -> np.ndarray:
    """A flat layer's (D,) activations, scaled to [0, 1], in a near-square (S, S) raster; the
    cells past D are nan, which imshow leaves blank."""
    side = int(np.ceil(np.sqrt(values.size)))
    raster = np.full(side * side, np.nan)
    raster[:values.size] = scaled_to_unit(values[np.newaxis])[0]
    return raster.reshape(side, side)
