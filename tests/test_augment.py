"""Batch augmentation: random rotations, zooms, crops, shifts, flips and erasing, label
smoothing and test-time augmentation.

The crop and shift are checked against a per-image reference (F.pad, then slicing); rotations and
zooms by the moments of the shapes they move; the runs against themselves (the same seed gives the
same numbers) and against `striate evaluate`.
"""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import csv_column, interrupted_after_epochs, metrics_of, train_run, tree_snapshot
from PIL import Image

import striate
from striate.config import AugmentConfig
from striate.inference import evaluate
from striate.torch.augment import (BatchAugment, random_affine, random_erase, random_flip,
                                   random_shift)
from striate.training.learner import TTA

QUICK = ("--dataset", "digits", "--model", "mlp", "--model-arg", "hidden=32", "--epochs", "3",
         "--progress", "off")


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """QUICK without augmentation, to compare the augmented runs with."""
    return train_run(*QUICK, "--out-dir", tmp_path_factory.mktemp("plain"), "--name", "plain")


def shift_offset(image, shifted, max_shift, mode):
    """The (row, col) offset at which `shifted` is a window of the padded image, or None.

    The reference the batched gather is checked against: one image at a time, F.pad and a slice."""
    _, height, width = image.shape
    padded = F.pad(image[None], (max_shift,) * 4, mode=mode)[0]      # (C, H+2s, W+2s)
    matches = [(dy, dx) for dy, dx in itertools.product(range(2 * max_shift + 1), repeat=2)
               if torch.equal(padded[:, dy:dy + height, dx:dx + width], shifted)]
    assert len(matches) <= 1   # random pixels: two windows are never equal
    return matches[0] if matches else None


def augment(config, images, seed=0, epoch=0):
    batch = BatchAugment(config, seed, torch.device("cpu"))
    batch.start_epoch(epoch)
    return batch(images)


@pytest.mark.parametrize("max_shift", [1, 3])
@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_random_shift_crops_a_random_window_of_the_padded_image(max_shift, mode):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(80, 3, 7, 5) + 0.5                           # (N, C, H, W), H != W
    shifted = random_shift(images, max_shift, mode, generator)
    assert shifted.shape == images.shape and shifted.dtype == images.dtype
    offsets = [shift_offset(image, out, max_shift, mode) for image, out in zip(images, shifted)]
    assert None not in offsets
    rows, cols = {dy for dy, _ in offsets}, {dx for _, dx in offsets}
    assert rows == cols == set(range(2 * max_shift + 1))  # every shift occurs, both ways
    assert any(dy != dx for dy, dx in offsets)            # rows and columns drawn independently


def test_translate_fills_with_zeros_and_crop_padding_reflects():
    images = torch.rand(64, 1, 6, 6) + 0.5                            # no pixel is zero
    translated = augment(AugmentConfig(translate=2), images)
    cropped = augment(AugmentConfig(crop_padding=2), images)
    assert all(shift_offset(i, c, 2, "reflect") for i, c in zip(images, cropped))
    assert not (cropped == 0).any()
    for image, out in zip(images, translated):
        dy, dx = shift_offset(image, out, 2, "constant")
        # A shift by k pixels leaves k rows (or columns) of zeros behind.
        zero_rows = (out == 0).all(dim=2).all(dim=0).sum().item()
        zero_cols = (out == 0).all(dim=1).all(dim=0).sum().item()
        assert (zero_rows, zero_cols) == (abs(dy - 2), abs(dx - 2))
    assert (translated == 0).any()


def test_random_flip_mirrors_about_half_of_the_images():
    images = torch.rand(1000, 2, 4, 5)
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    mirrored = torch.tensor([torch.equal(f, i.flip(-1)) for f, i in zip(flipped, images)])
    same = torch.tensor([torch.equal(f, i) for f, i in zip(flipped, images)])
    assert bool((mirrored ^ same).all())                  # each is the image or its mirror
    assert 0.45 < mirrored.float().mean().item() < 0.55


def bar_and_disc(n, size=29):
    """n copies of (a) a thin horizontal bar through the centre and (b) a centred disc of radius
    6, bright (1) on a dark background (-0.5), as standardized MNIST's digits are."""
    coords = torch.arange(size) - size // 2
    rows, cols = coords[:, None].float(), coords[None, :].float()
    bar = torch.where((rows.abs() <= 1) & (cols.abs() <= 10), 1.0, -0.5)
    disc = torch.where(rows ** 2 + cols ** 2 <= 36, 1.0, -0.5)
    return bar.expand(n, 1, size, size).clone(), disc.expand(n, 1, size, size).clone()


def orientation_degrees(images):
    """The angle of each image's principal axis, from the second moments of its bright pixels,
    counter-clockwise as seen with row 0 at the top."""
    weights = (images[:, 0] + 0.5).clamp(min=0)                          # (N, H, W)
    height, width = images.shape[-2:]
    y = -(torch.arange(height, dtype=torch.float32) - height // 2)[:, None]   # y up
    x = (torch.arange(width, dtype=torch.float32) - width // 2)[None, :]
    total = weights.sum((1, 2))
    mxx, myy = (weights * x * x).sum((1, 2)) / total, (weights * y * y).sum((1, 2)) / total
    mxy = (weights * x * y).sum((1, 2)) / total
    return torch.rad2deg(0.5 * torch.atan2(2 * mxy, mxx - myy))


def test_random_affine_rotates_by_up_to_the_angle_both_ways():
    bars, _ = bar_and_disc(400)
    rotated = random_affine(bars, 20, 0, torch.Generator().manual_seed(0))
    angles = orientation_degrees(rotated)
    assert orientation_degrees(bars).abs().max() < 1e-3
    assert angles.abs().max() < 20.5                       # never past the limit
    assert angles.min() < -17 and angles.max() > 17        # and close to it, both ways
    assert angles.std() > 9                                # spread, not piled at 0
    # Rotation alone keeps the bar's bright mass (up to the bilinear blur's rounding).
    mass = (rotated + 0.5).sum((1, 2, 3)) / (bars + 0.5).sum((1, 2, 3))
    assert ((mass - 1).abs() < 0.03).all()


def test_random_affine_rotates_pixels_of_wide_images_without_shearing():
    bars, _ = bar_and_disc(400)
    wide = F.pad(bars, (10, 10), value=-0.5)                             # (N, 1, 29, 49)
    angles = orientation_degrees(random_affine(wide, 20, 0, torch.Generator().manual_seed(0)))
    # In [-1, 1] coordinates without the aspect ratio, 20 degrees would tilt the bar by 33.
    assert angles.abs().max() < 20.5 and angles.abs().max() > 17


def test_random_affine_zooms_by_up_to_the_factor_both_ways():
    _, discs = bar_and_disc(400)
    zoomed = random_affine(discs, 0, 0.2, torch.Generator().manual_seed(1))
    # The disc's area grows with the square of the zoom factor.
    factor = ((zoomed + 0.5).sum((1, 2, 3)) / (discs + 0.5).sum((1, 2, 3))).sqrt()
    assert factor.min() > 0.78 and factor.max() < 1.22
    assert factor.min() < 0.84 and factor.max() > 1.16
    weights = (zoomed[:, 0] + 0.5).clamp(min=0)                          # (N, H, W)
    centre = torch.arange(29.0) - 14
    rows = (weights.sum(2) * centre).sum(1) / weights.sum((1, 2))
    cols = (weights.sum(1) * centre).sum(1) / weights.sum((1, 2))
    assert rows.abs().max() < 0.1 and cols.abs().max() < 0.1     # about the centre


def test_random_affine_fills_with_the_border_not_zeros():
    bars, _ = bar_and_disc(50)
    out = random_affine(bars, 45, 0.3, torch.Generator().manual_seed(2))
    # Corners rotated in from outside the image repeat the dark border, not a grey 0.
    corners = out[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert torch.allclose(corners, torch.tensor(-0.5))
    assert out.min() >= -0.5 - 1e-6 and out.max() <= 1 + 1e-6
    identity = random_affine(bars, 0, 0, torch.Generator())
    assert torch.allclose(identity, bars, atol=1e-5)


def test_random_erase_zeroes_one_rectangle_in_the_given_share_of_images():
    images = torch.rand(2000, 3, 28, 20) + 0.5                           # no pixel is zero
    erased = random_erase(images, 0.5, torch.Generator().manual_seed(3))
    zeros = erased == 0                                                  # (N, C, H, W)
    assert torch.equal(zeros.all(1), zeros.any(1))                      # every channel alike
    hit = zeros.any(1).flatten(1).any(1)
    assert 0.46 < hit.float().mean().item() < 0.54
    assert torch.equal(erased[~zeros], images[~zeros])                   # the rest untouched
    shares, aspects = [], []
    for mask in zeros[hit, 0]:                                           # (H, W)
        rows, cols = mask.any(1).nonzero()[:, 0], mask.any(0).nonzero()[:, 0]
        height, width = len(rows), len(cols)
        # One solid rectangle: contiguous rows and columns, all of it zero.
        assert rows[-1] - rows[0] + 1 == height and cols[-1] - cols[0] + 1 == width
        assert mask.sum().item() == height * width
        shares.append(height * width / (28 * 20))
        aspects.append(height / width)
    assert 0.01 < min(shares) < 0.05 and 0.3 < max(shares) < 0.5
    assert min(aspects) < 0.5 and max(aspects) > 2
    assert torch.equal(random_erase(images, 0, torch.Generator()), images)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_augmentation_keeps_shape_and_dtype_and_leaves_the_input_alone(dtype):
    images = torch.rand(16, 3, 8, 8, dtype=dtype)
    original = images.clone()
    out = augment(AugmentConfig(crop_padding=2, translate=1, rotate=10, scale=0.1, flip=True,
                                erase=0.5), images)
    assert out.shape == images.shape and out.dtype == dtype
    assert torch.equal(images, original) and not torch.equal(out, images)


def test_the_perturbations_follow_seed_and_epoch_not_the_global_rng():
    config = AugmentConfig(crop_padding=2, translate=1, rotate=10, scale=0.1, flip=True,
                           erase=0.5)
    images = torch.rand(32, 3, 8, 8)
    rng = torch.get_rng_state()
    first = augment(config, images, seed=5, epoch=3)
    assert torch.equal(torch.get_rng_state(), rng)
    torch.rand(10)                                        # the global stream moves on; no matter
    assert torch.equal(augment(config, images, seed=5, epoch=3), first)
    assert not torch.equal(augment(config, images, seed=5, epoch=4), first)
    assert not torch.equal(augment(config, images, seed=6, epoch=3), first)
    batch = BatchAugment(config, 5, torch.device("cpu"))
    batch.start_epoch(3)
    assert torch.equal(batch(images), first)
    assert not torch.equal(batch(images), first)          # the next minibatch gets new draws
    batch.start_epoch(3)                                  # a resumed epoch starts over
    assert torch.equal(batch(images), first)


def test_augmented_training_is_repeatable(tmp_path, plain_run):
    args = (*QUICK, "--crop-padding", "1", "--translate", "1", "--out-dir", tmp_path)
    first = train_run(*args, "--name", "first")
    second = train_run(*args, "--name", "second")
    plain = plain_run
    first_metrics = metrics_of(first)
    assert first_metrics == metrics_of(second)
    assert csv_column(first, "train_loss") == csv_column(second, "train_loss")
    assert csv_column(first, "train_loss") != csv_column(plain, "train_loss")
    assert first_metrics["test_accuracy"] > 0.6


def test_augmented_resume_equals_uninterrupted(cli, tmp_path):
    args = (*QUICK, "--crop-padding", "1", "--translate", "1", "--rotate", "10", "--scale", "0.1",
            "--erase", "0.5", "--epochs", "4")
    whole = train_run(*args, "--out-dir", tmp_path / "a", "--name", "run")

    with interrupted_after_epochs(2):
        assert cli("train", "--out-dir", tmp_path / "b", "--name", "run", *args).code == 130
    resumed = train_run("--resume", tmp_path / "b" / "run")
    assert metrics_of(resumed) == metrics_of(whole)


def test_label_smoothing_changes_the_loss_and_still_trains(tmp_path, plain_run):
    smoothed = train_run(*QUICK, "--label-smoothing", "0.2", "--out-dir", tmp_path,
                         "--name", "smooth")
    metrics = metrics_of(smoothed)
    plain = plain_run
    # The smoothed target (0.82 on the label, 0.02 elsewhere) has entropy H, and the
    # cross-entropy against it can never fall below H; the one-hot loss can go to 0.
    target = np.array([0.82] + [0.02] * 9)
    entropy = -(target * np.log(target)).sum()
    assert min(csv_column(smoothed, "train_loss")) >= entropy
    assert min(csv_column(plain, "train_loss")) < entropy
    assert metrics["test_accuracy"] > 0.6


def test_crop_padding_must_be_smaller_than_the_image(cli, tmp_path):
    result = cli("train", "--out-dir", tmp_path, *QUICK, "--crop-padding", "8")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--crop-padding 8 must be smaller than the 8-pixel images" in result.err
    assert tree_snapshot(tmp_path) == {}
    train_run(*QUICK, "--crop-padding", "7", "--epochs", "1", "--out-dir", tmp_path)  # it fits


@pytest.mark.parametrize("args, message", [
    (("--flip",), "mirroring digits images changes their class"),
    (("--tta",), "mirroring digits images changes their class"),
    (("--translate", "-1"), "--translate must be >= 0 pixels"),
    (("--crop-padding", "-2"), "--crop-padding must be >= 0 pixels"),
    (("--label-smoothing", "1"), "--label-smoothing must be in [0, 1)"),
    (("--rotate", "-5"), "--rotate must be in [0, 180] degrees"),
    (("--rotate", "200"), "--rotate must be in [0, 180] degrees"),
    (("--scale", "1"), "--scale must be in [0, 1)"),
    (("--erase", "1.5"), "--erase must be a probability in [0, 1]"),
    (("--tta-shift", "-1"), "--tta-shift must be >= 0 pixels"),
    (("--tta-shift", "8"), "--tta-shift 8 must be smaller than the 8-pixel images"),
])
def test_bad_augmentation_gets_one_line_exit_2(cli, tmp_path, args, message):
    result = cli("train", "--out-dir", tmp_path, *QUICK, *args)
    assert result.code == 2 and result.err.count("\n") == 1 and message in result.err
    assert tree_snapshot(tmp_path) == {}


@pytest.mark.parametrize("args, flag", [
    (("--translate", "1"), "--translate"),
    (("--crop-padding", "1"), "--crop-padding"),
    (("--rotate", "10"), "--rotate"),
    (("--erase", "0.5"), "--erase"),
    (("--tta-shift", "1"), "--tta-shift"),
    (("--label-smoothing", "0.1"), "--label-smoothing"),
    (("--precision", "bf16"), "--precision"),
    (("--no-channels-last",), "--channels-last"),
])
def test_numpy_engine_refuses_torch_only_settings(cli, tmp_path, args, flag):
    result = cli("train", "--out-dir", tmp_path, *QUICK, "--engine", "numpy", *args)
    assert result.code == 2 and result.err.count("\n") == 1
    assert flag in result.err and "torch engine only" in result.err
    assert tree_snapshot(tmp_path) == {}


@pytest.fixture(scope="module")
def stripes(tmp_path_factory):
    """A folder data set that mirroring does not change: 8x8 RGB noise, brighter at the top
    ("top") or the bottom ("bottom"), noisy enough that some test images are misclassified."""
    root = tmp_path_factory.mktemp("stripes")
    rng = np.random.default_rng(0)
    for split, count in (("train", 60), ("test", 40)):
        for label, name in enumerate(("bottom", "top")):
            (root / split / name).mkdir(parents=True)
            for k in range(count):
                pixels = rng.uniform(0, 200, (8, 8, 3))
                rows = slice(0, 4) if name == "top" else slice(4, 8)
                pixels[rows] += rng.uniform(0, 40)
                Image.fromarray(pixels.astype(np.uint8), mode="RGB").save(
                    root / split / name / f"{k}.png")
    return root


def test_flip_and_tta_on_a_mirror_symmetric_data_set(cli, tmp_path, stripes):
    args = ("--dataset", "folder", "--data-dir", stripes, "--model", "mlp", "--model-arg",
            "hidden=16", "--epochs", "4", "--batch-size", "16", "--progress", "off")
    mirrored = train_run(*args, "--flip", "--tta", "--out-dir", tmp_path, "--name", "mirrored")
    plain = train_run(*args, "--out-dir", tmp_path, "--name", "plain")
    metrics, plain_metrics = metrics_of(mirrored), metrics_of(plain)
    assert csv_column(mirrored, "train_loss") != csv_column(plain, "train_loss")

    # The run's test figures average each image with its mirror image, as `evaluate --tta` does.
    with_tta = evaluate(mirrored, tta=True, device="cpu")
    without_tta = evaluate(mirrored, device="cpu")
    assert with_tta["accuracy"] == metrics["test_accuracy"]
    assert with_tta["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)
    assert without_tta["loss"] != pytest.approx(metrics["test_loss"], rel=1e-3)
    assert evaluate(plain, device="cpu")["loss"] == pytest.approx(plain_metrics["test_loss"],
                                                                  rel=1e-5)
    result = cli("evaluate", mirrored, "--tta")
    assert result.code == 0 and f"accuracy {metrics['test_accuracy']:.2%}" in result.out


def test_tta_shift_in_training_is_what_evaluate_and_predict_average(cli, tmp_path, stripes):
    """--tta-shift 1 --tta: the run's test figures average ten views of each image, as
    `evaluate --tta --tta-shift 1` and the API's TTA do, and differ from the mirror alone."""
    args = ("--dataset", "folder", "--data-dir", stripes, "--model", "vgg", "--model-arg",
            "num_filters=4,8", "--model-arg", "As=1,1", "--model-arg", "hidden_dims=8",
            "--epochs", "3", "--batch-size", "16", "--progress", "off", "--flip")
    shifted = train_run(*args, "--tta", "--tta-shift", "1", "--out-dir", tmp_path, "--name", "s")
    metrics = metrics_of(shifted)
    ten = evaluate(shifted, tta=TTA(mirror=True, shift=1), device="cpu")
    assert ten["accuracy"] == metrics["test_accuracy"]
    assert ten["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)
    assert evaluate(shifted, tta=True, device="cpu")["loss"] != pytest.approx(ten["loss"],
                                                                              rel=1e-4)
    from_api = striate.load(shifted).evaluate(striate.Dataset.from_folder(stripes),
                                              tta=striate.TTA(mirror=True, shift=1))
    assert from_api["loss"] == pytest.approx(ten["loss"], rel=1e-5)
    result = cli("evaluate", shifted, "--tta", "--tta-shift", "1")
    assert result.code == 0 and f"accuracy {metrics['test_accuracy']:.2%}" in result.out
    for command in ("evaluate", "export"):
        for value, says in (("8", "--tta-shift 8 must be smaller than the 8-pixel images"),
                            ("-1", "--tta-shift must be >= 0 pixels, got -1")):
            result = cli(command, shifted, "--tta-shift", value)
            assert result.code == 2 and result.err.count("\n") == 1 and says in result.err
    assert not (shifted / "model.onnx").exists()
