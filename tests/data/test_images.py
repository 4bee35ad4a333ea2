import numpy as np
import pytest
from PIL import Image

from striate.data import load_image
from striate.data.images import probe_image
from striate.errors import StriateError

RGB_PIXELS = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                       [[10, 20, 30], [200, 100, 50], [0, 0, 0]]], np.uint8)  # (H=2, W=3, RGB)


def mode_of(path):
    with Image.open(path) as image:
        return image.mode


def save(image, path, **options):
    image.save(path, **options)
    return path


@pytest.mark.parametrize("suffix, options", [(".png", {}), (".bmp", {}), (".gif", {}),
                                             (".webp", {"lossless": True})])
def test_lossless_formats_round_trip_as_channels_first(tmp_path, suffix, options):
    source = Image.fromarray(RGB_PIXELS)
    if suffix == ".gif":  # GIF stores a palette; these six colours fit it exactly
        source = source.quantize(colors=6, method=Image.Quantize.FASTOCTREE)
    path = save(source, tmp_path / f"image{suffix}", **options)
    pixels = load_image(path, (2, 3), 3)
    assert pixels.shape == (3, 2, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, RGB_PIXELS.transpose(2, 0, 1))


def test_rgb_to_gray_uses_luma(tmp_path):
    path = save(Image.fromarray(RGB_PIXELS), tmp_path / "rgb.png")
    pixels = load_image(path, (2, 3), 1)
    assert pixels.shape == (1, 2, 3)
    # ITU-R 601-2: L = 0.299 R + 0.587 G + 0.114 B
    assert pixels[0, 0].tolist() == [76, 150, 29]


def test_gray_to_rgb_repeats_the_channel(tmp_path):
    gray = np.array([[0, 128], [255, 7]], np.uint8)
    pixels = load_image(save(Image.fromarray(gray), tmp_path / "g.png"), (2, 2), 3)
    for channel in pixels:
        np.testing.assert_array_equal(channel, gray)


def test_palette_image(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 250, 100, 5] + [0] * 762)
    image.putdata([1, 0])
    pixels = load_image(save(image, tmp_path / "p.png"), (1, 2), 3)
    assert pixels[:, 0, 0].tolist() == [250, 100, 5] and pixels[:, 0, 1].tolist() == [0, 0, 0]


def test_alpha_is_composited_onto_white(tmp_path):
    rgba = np.array([[[200, 0, 0, 0], [200, 0, 0, 255], [0, 0, 0, 128]]], np.uint8)
    pixels = load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png"), (1, 3), 3)
    assert pixels[:, 0, 0].tolist() == [255, 255, 255]  # fully transparent: white
    assert pixels[:, 0, 1].tolist() == [200, 0, 0]      # opaque: unchanged
    assert pixels[:, 0, 2].tolist() == [127, 127, 127]  # half black over white


def test_gray_with_alpha_and_transparent_palette_entry(tmp_path):
    gray_alpha = Image.fromarray(np.array([[[0, 0], [0, 255]]], np.uint8), "LA")
    assert load_image(save(gray_alpha, tmp_path / "la.png"), (1, 2), 1).tolist() == [[[255, 0]]]
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 9, 9, 9] + [0] * 762)
    palette.putdata([0, 1])
    path = save(palette, tmp_path / "pt.png", transparency=0)
    assert load_image(path, (1, 2), 1).tolist() == [[[255, 9]]]


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 40000, 65535]], np.uint16)
    png = save(Image.fromarray(values), tmp_path / "deep.png")
    assert mode_of(png) == "I;16"
    expected = [[[0, 1, 156, 255]]]  # round(v * 255 / 65535)
    assert load_image(png, (1, 4), 1).tolist() == expected
    tiff = save(Image.fromarray(values.astype(np.int32)), tmp_path / "deep.tiff")
    assert mode_of(tiff) == "I"
    assert load_image(tiff, (1, 4), 1).tolist() == expected


@pytest.mark.parametrize("values, expected", [
    ([0.0, 0.25, 0.5, 1.0], [0, 64, 128, 255]),        # [0, 1]: times 255
    ([0.0, 2.0, 127.6, 255.0], [0, 2, 128, 255]),      # 0..255: as they are
])
def test_float_tiffs_keep_their_brightness(tmp_path, values, expected):
    """Pillow's own conversion of a 32-bit float image clips, which made [0, 1] images black."""
    tiff = save(Image.fromarray(np.array([values], np.float32)), tmp_path / "float.tif")
    assert mode_of(tiff) == "F"
    assert load_image(tiff, (1, 4), 1).tolist() == [[expected]]


@pytest.mark.parametrize("values", [[-1.0, 0.5], [0.0, 300.0], [0.0, np.nan]])
def test_float_tiffs_of_unknown_range_are_refused(tmp_path, values):
    tiff = save(Image.fromarray(np.array([values], np.float32)), tmp_path / "odd.tif")
    with pytest.raises(StriateError, match="float pixels from .* neither"):
        load_image(tiff, (1, 2), 1)


def test_a_large_image_warns_nothing(tmp_path, recwarn):
    """Pillow warns of images over 89 million pixels; striate resizes them, quietly."""
    big = save(Image.new("L", (10_000, 9_000)), tmp_path / "big.png")
    assert load_image(big, (4, 4), 1).shape == (1, 4, 4)
    assert not [warning for warning in recwarn if "pixels" in str(warning.message)]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    pixels = load_image(save(cmyk, tmp_path / "c.jpg", quality=100), (8, 8), 3)
    assert pixels.shape == (3, 8, 8)
    assert np.abs(pixels[:, 4, 4].astype(int) - [255, 0, 0]).max() <= 3


def test_resize_to_height_width_antialiased(tmp_path):
    stripes = np.zeros((8, 8), np.uint8)
    stripes[:, 1::2] = 255  # one-pixel vertical stripes
    pixels = load_image(save(Image.fromarray(stripes), tmp_path / "s.png"), (2, 4), 1)
    assert pixels.shape == (1, 2, 4)
    # Halving blends the stripes into gray (exactly mid-gray away from the borders); sampling
    # without an antialiasing filter would give 0 or 255.
    assert pixels[0, :, 1:3].tolist() == [[128, 128]] * 2
    assert 96 < pixels.min() and pixels.max() < 160


def test_probe_reads_size_and_grayness(tmp_path):
    gray_palette = Image.new("P", (5, 3))
    gray_palette.putpalette([value for gray in range(256) for value in (gray,) * 3])
    assert probe_image(save(gray_palette, tmp_path / "gp.png")).grayscale
    color = probe_image(save(Image.fromarray(RGB_PIXELS), tmp_path / "c.png"))
    assert color.size == (2, 3) and not color.grayscale
    assert probe_image(save(Image.new("I;16", (1, 1)), tmp_path / "i16.png")).grayscale


@pytest.mark.parametrize("content", [b"not an image at all", b""])
def test_unreadable_file_names_it(tmp_path, content):
    path = tmp_path / "notes.png"
    path.write_bytes(content)
    with pytest.raises(StriateError, match=rf"^{path}: not a readable image \(.*\); remove it"):
        load_image(path, (2, 2), 1)


def test_truncated_png_names_it(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = save(Image.fromarray(noise), tmp_path / "t.png")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(StriateError, match=f"{path}: not a readable image"):
        load_image(path, (64, 64), 3)
