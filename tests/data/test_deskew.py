"""Deskewing: a slanted stroke comes out upright and centred, and a run that deskews applies the
same straightening when its checkpoint predicts."""

import numpy as np

from helpers import metrics_of, train_run
from striate.data.deskew import deskew
from striate.data.preprocess import Preprocess


def slanted_stroke(slope: float, size: int = 28) -> np.ndarray:
    """(1, 1, size, size) uint8: a one-pixel stroke whose column drifts `slope` per row."""
    image = np.zeros((1, 1, size, size), np.uint8)
    for row in range(4, size - 4):
        image[0, 0, row, int(round(8 + slope * (row - 4)))] = 255
    return image


def centre_and_slant(image: np.ndarray) -> tuple[float, float, float]:
    """(row centre, column centre, columns per row) of a (H, W) image's pixel mass."""
    rows, cols = np.mgrid[:image.shape[0], :image.shape[1]]
    mass = image / image.sum()
    centre_r, centre_c = (mass * rows).sum(), (mass * cols).sum()
    cov = (mass * (rows - centre_r) * (cols - centre_c)).sum()
    return centre_r, centre_c, cov / (mass * (rows - centre_r) ** 2).sum()


def test_a_slanted_stroke_comes_out_upright_and_centred():
    before = slanted_stroke(0.5)
    assert centre_and_slant(before[0, 0].astype(float))[2] > 0.45
    after = deskew(before)[0, 0]
    centre_r, centre_c, slant = centre_and_slant(after)
    assert abs(slant) < 0.02                       # upright
    assert abs(centre_r - 13.5) < 0.1 and abs(centre_c - 13.5) < 0.1
    assert abs(after.sum() / before.sum() - 1) < 0.01   # resampling keeps the ink


def test_upright_centred_images_and_blank_ones_are_left_alone():
    upright = np.zeros((1, 1, 9, 9), np.uint8)
    upright[0, 0, 2:7, 4] = 200                    # centred, vertical
    np.testing.assert_allclose(deskew(upright), upright, atol=1e-4)
    blank = np.zeros((2, 3, 8, 8), np.uint8)
    assert not deskew(blank).any()


def test_channels_share_one_straightening():
    gray = slanted_stroke(0.4)
    colour = np.repeat(gray, 3, axis=1)
    out = deskew(colour)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, channel], deskew(gray)[:, 0])


def test_the_checkpoint_remembers_to_deskew(tmp_path, cli):
    run = train_run("--dataset", "digits", "--model", "logreg", "--epochs", "3", "--deskew",
                    "--progress", "off", "--out-dir", tmp_path)
    images = np.random.default_rng(0).integers(0, 17, (5, 1, 8, 8)).astype(np.uint8)
    meta, tensors = Preprocess.fit("standardize", images, 16.0, deskew=True).to_checkpoint()
    assert meta["deskew"] is True
    again = Preprocess.from_checkpoint(meta, tensors, "test")
    np.testing.assert_array_equal(again.apply(images, 16.0),
                                  Preprocess.fit("standardize", images, 16.0,
                                                 deskew=True).apply(images, 16.0))
    # evaluate reads the preprocessing from the checkpoint: the run's own test error, recounted
    result = cli("evaluate", run)
    assert result.code == 0, result.err
    assert f"{metrics_of(run)['test_accuracy']:.2%}" in result.out
