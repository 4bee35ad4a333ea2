"""Reading one image file into a (C, H, W) uint8 array with Pillow, whatever mode it is stored in.

Conversions, in order:
  * 16-bit gray ("I;16", "I": 16-bit PNGs) is scaled to 8 bits by 255/65535, not clipped, so a
    16-bit image looks the same as its 8-bit version instead of almost all white;
  * 32-bit float gray ("F": float TIFFs) is read as [0, 1] when every value lies there (times
    255), as 0..255 when they lie there, and refused otherwise: where white is cannot be told
    (Pillow's own conversion clips, so that a [0, 1] image turned black);
  * anything with transparency (RGBA, LA, palettes or gray with a transparent colour) is
    composited onto WHITE, the background image viewers and web pages show it on. A white drawing
    on a transparent background therefore disappears: flatten such images onto black yourself;
  * then Pillow's own conversion to "L" (1 channel, ITU-R 601-2 luma) or "RGB" (3 channels),
    which covers palettes, bilevel, CMYK and YCbCr;
  * finally a bilinear resize to (H, W); Pillow widens the filter when shrinking, which
    antialiases. The aspect ratio is not kept.
Only the first frame of an animated GIF or WebP is read, and EXIF orientation is ignored (pixels
are used as stored, as torchvision's ImageFolder does).
"""

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from striate.errors import StriateError

GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
SIXTEEN_BIT_MAX = 65535
WHITE = (255, 255, 255, 255)


@dataclass(frozen=True)
class ImageInfo:
    size: tuple[int, int]  # (H, W)
    grayscale: bool


def probe_image(path: str | Path) -> ImageInfo:
    """An image's size and whether it is gray, from its header (a palette image's pixels are
    decoded too, to read the palette), so size and channel policies are settled before any
    full decode."""
    with _decoding(path) as image:
        width, height = image.size
        return ImageInfo((height, width), _is_grayscale(image))


def load_image(path: str | Path, size: tuple[int, int], channels: int) -> np.ndarray:
    """The image at `path` as a (channels, H, W) uint8 array, `size` being (H, W).

    channels is 1 (gray) or 3 (RGB); see the module docstring for how each mode is converted.
    A file Pillow cannot open or decode raises a StriateError naming it.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels!r}")
    height, width = size
    with _decoding(path) as image:
        image = _eight_bit(image).convert("L" if channels == 1 else "RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.array(image, dtype=np.uint8)  # (H, W) or (H, W, 3)
    if channels == 1:
        return pixels[np.newaxis]                  # (1, H, W)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # (3, H, W)


@contextlib.contextmanager
def _decoding(path: str | Path):
    """Open `path` with Pillow; a failure to open or decode it becomes a StriateError naming it."""
    if Path(path).exists() and not Path(path).is_file():   # a FIFO would block open() for good
        raise StriateError(f"{path}: not a readable image (not a regular file); remove it or "
                           "give an image file")
    try:
        with warnings.catch_warnings():
            # Pillow warns of images over 89 million pixels (it refuses those over twice that,
            # below: they are resized anyway) and of damaged metadata it skips (EXIF, which
            # striate ignores): neither concerns the pixels, and a warning would be a second
            # line on stderr.
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                yield image
    except FileNotFoundError:
        raise StriateError(f"{path}: not a readable image (no such file); check the path") from None
    except Exception as error:
        # Pillow's decoders signal damaged data with many exception types (OSError, SyntaxError,
        # ValueError, struct.error, DecompressionBombError, ...); to the user they are all one.
        raise StriateError(f"{path}: not a readable image ({error or type(error).__name__}); "
                           "remove it or replace it with a PNG, JPEG, BMP, GIF or WebP "
                           "file") from None


def _is_grayscale(image: Image.Image) -> bool:
    if image.mode in ("P", "PA"):
        colors = np.array(image.getpalette() or [], dtype=np.uint8).reshape(-1, 3)  # (K, RGB)
        return bool((colors == colors[:, :1]).all())
    return image.mode in GRAY_MODES


def _eight_bit(image: Image.Image) -> Image.Image:
    """The image in a mode Pillow converts to "L"/"RGB" faithfully: 8-bit, no transparency."""
    if image.mode.startswith("I"):  # "I" or "I;16...": 16-bit gray
        return _scaled_sixteen_bit(image)
    if image.mode == "F":
        return _scaled_float(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:  # tRNS: a transparent colour
        return _on_white(image)
    return image


def _scaled_sixteen_bit(image: Image.Image) -> Image.Image:
    values = np.array(image).astype(np.float64)  # (H, W), 0..65535
    scaled = np.clip(values, 0, SIXTEEN_BIT_MAX) * (255 / SIXTEEN_BIT_MAX)
    return Image.fromarray(np.rint(scaled).astype(np.uint8))


def _scaled_float(image: Image.Image) -> Image.Image:
    values = np.array(image, dtype=np.float64)  # (H, W)
    low, high = (values.min(), values.max()) if values.size else (0.0, 0.0)
    if not (np.isfinite(values).all() and low >= 0 and high <= 255):
        raise ValueError(f"float pixels from {low:g} to {high:g}, neither [0, 1] nor 0..255, "
                         "so where white is cannot be told")
    scale = 255.0 if high <= 1.0 else 1.0
    return Image.fromarray(np.rint(values * scale).astype(np.uint8))


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
