"""Pictures of weights: a trained model's first-layer filters, and the Deep Learning Tutorials'
demonstration that even random 9x9 filters, convolved with a photo, respond to its edges."""

from pathlib import Path

import numpy as np

from striate.data.images import load_image, probe_image
from striate.errors import StriateError
from striate.viz.figures import new_figure, show_image, tile_images

MAX_FILTERS = 100     # tiles in one picture: the tutorials show 100 of the MLP's 500 units
SAMPLE_PHOTO = "grace_hopper.jpg"  # ships with matplotlib (sample_data), so works offline


def layer_filters(name: str, weight: np.ndarray, input_shape) -> np.ndarray:
    """(K, C, h, w): a convolution's kernels, or an affine layer's rows (one per unit, weight
    (units, D)) reshaped to the (C, H, W) input image, which is the pattern the unit responds
    to most."""
    if weight.ndim == 4:
        return weight                                 # (K, C, f, f)
    if weight.shape[1] != int(np.prod(input_shape)):
        raise StriateError(f"{name} reads {weight.shape[1]} PCA component scores, not image "
                           "pixels, so its weights are no pictures; plot a model trained "
                           "without --preprocess pca or pca-whiten")
    return weight.reshape(len(weight), *input_shape)  # (units, C, H, W)


def filters_figure(first_layer: tuple[str, np.ndarray], input_shape):
    """first_layer: (name, weight) as an engine's first_layer gives it."""
    name, weight = first_layer
    filters = layer_filters(name, weight, input_shape)
    shown = filters[:MAX_FILTERS]
    what = "filters" if weight.ndim == 4 else "units' weights"
    count = f"{len(filters)}" if len(shown) == len(filters) else \
        f"first {len(shown)} of {len(filters)}"
    size = "x".join(str(n) for n in filters.shape[2:])
    figure = new_figure(6, 6.4)
    show_image(figure.add_subplot(), tile_images(shown), f"{name}: {count} {what}, {size}")
    return figure


def random_filters_figure(image: str | None, seed: int):
    """The tutorials' LeNet introduction: two random 9x9x3 filters and a sigmoid over a photo."""
    path = Path(image) if image else sample_photo()
    pixels = load_image(path, probe_image(path).size, channels=3)      # (3, H, W) uint8
    outputs = random_filter_responses(pixels, seed)                      # (2, H - 8, W - 8)
    figure = new_figure(12, 4)
    panels = figure.subplots(1, 3)
    show_image(panels[0], pixels.transpose(1, 2, 0), f"original: {path.name}")
    for index, (axes, output) in enumerate(zip(panels[1:], outputs)):
        show_image(axes, output, f"random 9x9 filter {index + 1}")
    return figure


def random_filter_responses(pixels: np.ndarray, seed: int) -> np.ndarray:
    """sigmoid(conv(image, W) + b) for the tutorials' W, b: (3, H, W) uint8 -> (2, H', W').

    RandomState, not default_rng, and the draws in the tutorials' order, so that seed 23455
    gives their exact filters."""
    rng = np.random.RandomState(seed)
    bound = 1.0 / np.sqrt(3 * 9 * 9)                         # 1 / sqrt(fan-in)
    weights = rng.uniform(-bound, bound, size=(2, 3, 9, 9))  # (filters, channels, 9, 9)
    biases = rng.uniform(-0.5, 0.5, size=2)
    # Theano's conv2d is a true convolution: it flips the kernel, a ConvNet layer's does not.
    kernel = weights[:, :, ::-1, ::-1]
    image = pixels / 256.0                                   # (3, H, W), the tutorials' scale
    height, width = image.shape[1] - 8, image.shape[2] - 8
    out = np.zeros((2, height, width)) + biases[:, None, None]      # (2, H', W')
    # One kernel offset at a time: memory stays that of the output, however large the photo
    # (im2col would hold 243 values per output pixel).
    for i, j in np.ndindex(9, 9):
        out += np.einsum("fc,chw->fhw", kernel[:, :, i, j], image[:, i:i + height, j:j + width])
    return 1.0 / (1.0 + np.exp(-out))


def sample_photo() -> Path:
    from matplotlib import cbook

    return Path(cbook.get_sample_data(SAMPLE_PHOTO, asfileobj=False))
