"""What every plot shares: figures without pyplot's global state, PNG bytes, image tiles.

Figures are built from matplotlib.figure.Figure directly rather than pyplot, so nothing stays
registered after a plot is saved and many plots in one process never accumulate memory.
"""

import io

import numpy as np
from matplotlib.figure import Figure

DPI = 100  # pixels per inch of the saved PNGs: a 6 x 4 inch figure is 600 x 400 pixels
GAP = 1    # pixels between tiles, as in the Deep Learning Tutorials' tile_raster_images


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """An empty figure, `width` x `height` inches, laid out so labels never overlap."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def scaled_to_unit(images: np.ndarray) -> np.ndarray:
    """Each image of (N, ...) scaled to [0, 1] by its own min and max: a filter's pattern is what
    matters, not its scale, which varies a lot between filters. A constant image becomes 0."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    low = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - low
    return ((flat - low) / np.where(span > 0, span, 1.0)).reshape(images.shape)


def tile_images(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """(N, C, h, w) images, each scaled to [0, 1], as one raster of `columns` (default: a
    near-square grid) with GAP-pixel white lines between tiles: (H, W) for C = 1, else (H, W, C)."""
    count, channels, height, width = images.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    raster = np.ones((channels, rows * (height + GAP) - GAP, columns * (width + GAP) - GAP))
    for index, image in enumerate(scaled_to_unit(images)):
        top, left = (index // columns) * (height + GAP), (index % columns) * (width + GAP)
        raster[:, top:top + height, left:left + width] = image
    return raster[0] if channels == 1 else raster.transpose(1, 2, 0)


def show_image(axes, image: np.ndarray, title: str | None = None) -> None:
    """An (H, W) raster in gray, or (H, W, 3) in colour, without axes; pixels stay square."""
    axes.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    axes.set_axis_off()
    if title:
        axes.set_title(title, fontsize=9)


def display_image(pixels: np.ndarray) -> np.ndarray:
    """A (C, H, W) image as imshow wants it: (H, W) for gray, (H, W, 3) for colour, in [0, 1]."""
    scaled = scaled_to_unit(pixels[np.newaxis])[0]
    return scaled[0] if scaled.shape[0] == 1 else scaled.transpose(1, 2, 0)


def looks_log_spaced(values) -> bool:
    """Positive values spanning a factor of 10 or more read best on a log axis (learning rates,
    regularisation strengths); anything else on a linear one."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return bool(values.size) and values.min() > 0 and values.max() / values.min() >= 10
