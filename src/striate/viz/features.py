"""Feature maps: what chosen layers of a trained model output for one input image (the torch
engine catches them: striate.torch.hooks), drawn beside the image."""

import numpy as np

from striate.viz.figures import new_figure, scaled_to_unit, show_image, tile_images

MAX_MAPS = 64  # channels shown per layer: VGG's later stages have hundreds of 2x2 maps


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
