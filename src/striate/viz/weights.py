"""Pictures of weights: a trained model's first-layer filters, and the Deep Learning Tutorials'
demonstration that even random 9x9 filters, convolved with a photo, respond to its edges."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from striate.data.images import load_image, probe_image
from striate.engines import filter_images
from striate.errors import StriateError
from striate.viz.figures import new_figure, show_image, tile_images

MAX_FILTERS = 100     # tiles in one picture: the tutorials show 100 of the MLP's 500 units
SAMPLE_PHOTO = "grace_hopper.jpg"  # ships with matplotlib (sample_data), so works offline


def layer_filters(name: str, weight: np.ndarray, input_shape) -> np.ndarray:
    """(K, C, h, w): engines.filter_images, refused in one line where the layer reads PCA
    scores."""
    filters = filter_images(weight, input_shape)
    if filters is None:
        raise StriateError(f"{name} reads {weight.shape[1]} PCA component scores, not image "
                           "pixels, so its weights are no pictures; plot a model trained "
                           "without --preprocess pca or pca-whiten")
    return filters


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


@dataclass(frozen=True)
class RandomFilterDemo:
    """The tutorials' random filters over a photo, convolved and then max-pooled."""
    photo: Path
    pixels: np.ndarray     # (3, H, W) uint8
    responses: np.ndarray  # (2, H - 8, W - 8): sigmoid(conv + b)
    pooled: np.ndarray     # (2, (H - 8) // 2, (W - 8) // 2): 2x2 max-pooling, border ignored

    def shapes(self) -> list[str]:
        """The shapes the tutorial prints, a minibatch of one photo: for its 639x516 photo,
        (1, 2, 631, 508) and (1, 2, 315, 254)."""
        return [f"convolution output: {(1, *self.responses.shape)}",
                f"max-pooled output: {(1, *self.pooled.shape)}"]


def random_filter_demo(image: str | None, seed: int) -> RandomFilterDemo:
    path = Path(image) if image else sample_photo()
    pixels = load_image(path, probe_image(path).size, channels=3)      # (3, H, W) uint8
    responses = random_filter_responses(pixels, seed)
    return RandomFilterDemo(path, pixels, responses, max_pool_2x2(responses))


def random_filters_figure(demo: RandomFilterDemo):
    """Two rows: the photo and the two filters' outputs, then those outputs max-pooled."""
    figure = new_figure(12, 8)
    panels = figure.subplots(2, 3)
    show_image(panels[0, 0], demo.pixels.transpose(1, 2, 0), f"original: {demo.photo.name}")
    panels[1, 0].axis("off")
    for index in range(2):
        response, pooled = demo.responses[index], demo.pooled[index]
        show_image(panels[0, index + 1], response, f"random 9x9 filter {index + 1}: "
                                                   f"{response.shape[0]}x{response.shape[1]}")
        show_image(panels[1, index + 1], pooled, f"max-pooled 2x2: "
                                                 f"{pooled.shape[0]}x{pooled.shape[1]}")
    return figure


def max_pool_2x2(maps: np.ndarray) -> np.ndarray:
    """(K, H, W) -> (K, H // 2, W // 2), a last odd row or column dropped (the tutorials'
    pool_2d with ignore_border=True)."""
    k, height, width = maps.shape[0], maps.shape[1] // 2, maps.shape[2] // 2
    blocks = maps[:, :2 * height, :2 * width].reshape(k, height, 2, width, 2)
    return blocks.max(axis=(2, 4))


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
