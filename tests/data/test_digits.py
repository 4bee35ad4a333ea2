import numpy as np
from sklearn.datasets import load_digits

from striate.data import load_dataset
from striate.data.splits import stratified_holdout


def test_digits_shapes_and_fixed_stratified_test_split():
    dataset = load_dataset("digits")
    assert dataset.train.images.shape == (1438, 1, 8, 8)
    assert dataset.test.images.shape == (359, 1, 8, 8)
    assert dataset.train.images.dtype == np.uint8 and dataset.train.labels.dtype == np.int64
    assert dataset.train.images.max() == 16 and dataset.pixel_max == 16
    assert dataset.default_valid_size == 144 and dataset.valid is None
    assert dataset.class_names == [str(digit) for digit in range(10)]
    # Every class contributes about a fifth of its images to the test split.
    counts = np.bincount(dataset.test.labels) / np.bincount(load_digits().target)
    assert np.all(np.abs(counts - 0.2) < 0.01)


def test_digits_split_is_the_same_every_time_and_keeps_image_label_pairs():
    first, second = load_dataset("digits"), load_dataset("digits")
    np.testing.assert_array_equal(first.test.images, second.test.images)
    bunch = load_digits()
    everything = {image.tobytes(): label for image, label in
                  zip(bunch.images.astype(np.uint8), bunch.target)}
    for image, label in zip(first.test.images[:, 0], first.test.labels):
        assert everything[image.tobytes()] == label


def test_digits_held_out_images_never_change():
    # Pinned: a different held-out set would silently make test errors incomparable with runs
    # made by earlier versions.
    held_out = stratified_holdout(load_digits().target)[1]
    assert held_out[:10].tolist() == [5, 9, 12, 14, 16, 17, 19, 23, 24, 34]
    assert int(held_out.sum()) == 324981
