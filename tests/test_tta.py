"""Test-time augmentation's views (striate.training.learner.TTA): which views, how an image is
moved, and how their probabilities are averaged; the same function serves NumPy and torch."""

import math

import numpy as np
import pytest
import torch

from striate.errors import StriateError
from striate.training.learner import TTA, as_tta, view, views_averaged


def test_the_views_asked_for():
    assert TTA().views == [(0, 0, False)] and not TTA()
    assert TTA(mirror=True).views == [(0, 0, False), (0, 0, True)]
    ten = TTA(mirror=True, shift=2).views
    assert len(ten) == len(set(ten)) == 10 and ten[0] == (0, 0, False)
    assert {(dy, dx) for dy, dx, _ in ten} == {(0, 0), (0, 2), (0, -2), (2, 0), (-2, 0)}
    assert as_tta(True) == TTA(mirror=True) and as_tta(False) == TTA()
    assert as_tta(TTA(shift=1)) == TTA(shift=1)


def test_a_shift_moves_the_content_and_repeats_the_border():
    image = np.arange(12.0).reshape(1, 1, 3, 4)          # rows 0-3, 4-7, 8-11
    right = view(image, 0, 1, False)[0, 0]
    np.testing.assert_array_equal(right, [[0, 0, 1, 2], [4, 4, 5, 6], [8, 8, 9, 10]])
    up = view(image, -1, 0, False)[0, 0]
    np.testing.assert_array_equal(up, [[4, 5, 6, 7], [8, 9, 10, 11], [8, 9, 10, 11]])
    np.testing.assert_array_equal(view(image, 0, 0, True), image[..., ::-1])
    np.testing.assert_array_equal(view(image, 0, 1, True)[0, 0], right[:, ::-1])
    assert view(image, 0, 0, False) is image              # the image itself: no copy


def test_numpy_and_torch_views_agree():
    images = np.random.default_rng(0).normal(size=(2, 3, 5, 7)).astype(np.float32)
    for v in TTA(mirror=True, shift=2).views:
        np.testing.assert_array_equal(view(images, *v), view(torch.from_numpy(images), *v).numpy())


def test_views_average_probabilities_not_log_probabilities():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 4, 5))                  # (views, N, classes)
    log_probas = [row - np.log(np.exp(row).sum(1, keepdims=True)) for row in logits]
    expected = np.log(np.mean([np.exp(lp) for lp in log_probas], axis=0))
    np.testing.assert_allclose(views_averaged(log_probas), expected, rtol=1e-12)
    np.testing.assert_allclose(views_averaged(log_probas[:2]),
                               np.logaddexp(*log_probas[:2]) - math.log(2), rtol=1e-12)
    assert views_averaged(log_probas[:1]) is log_probas[0]


@pytest.mark.parametrize("shift", [-1, 1.5, True])
def test_a_shift_that_is_not_a_whole_number_of_pixels_is_refused(shift):
    with pytest.raises(StriateError, match="whole number of pixels >= 0"):
        TTA(shift=shift)


def test_mirror_is_a_bool_and_numpy_integers_are_shifts():
    with pytest.raises(StriateError, match="mirror must be True or False"):
        TTA(mirror=1)
    assert TTA(shift=np.int64(1)).views == TTA(shift=1).views and TTA(shift=np.int64(1))
