from pathlib import Path

import numpy as np
import pytest

from striate.data import download, load_dataset
from striate.data.mnist import load_mnist_pickle
from striate.data.sources import (MNIST_PICKLE, SOURCES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES,
                                  TRAIN_LABELS)
from striate.errors import StriateError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def mnist_dir(tmp_path, formats, accept):
    """A data dir holding MNIST's four IDX files, checksums accepted; returns (dir, arrays)."""
    data_dir = tmp_path / "given"
    arrays = formats.write_mnist_idx(data_dir / "mnist")
    accept("mnist", data_dir / "mnist")
    return data_dir, arrays


def test_mnist_idx_round_trip(mnist_dir):
    data_dir, arrays = mnist_dir
    dataset = load_dataset("mnist", data_dir, download=False)
    assert dataset.name == "mnist" and dataset.source == str(data_dir / "mnist")
    assert dataset.train.images.shape == (30, 1, 28, 28) and dataset.train.images.dtype == np.uint8
    assert dataset.test.images.shape == (12, 1, 28, 28)
    np.testing.assert_array_equal(dataset.train.images[:, 0], arrays[TRAIN_IMAGES])
    np.testing.assert_array_equal(dataset.test.images[:, 0], arrays[TEST_IMAGES])
    np.testing.assert_array_equal(dataset.train.labels, arrays[TRAIN_LABELS])
    np.testing.assert_array_equal(dataset.test.labels, arrays[TEST_LABELS])
    assert dataset.train.labels.dtype == np.int64 and dataset.test.labels.dtype == np.int64
    assert dataset.valid is None and dataset.default_valid_size == 10_000
    assert dataset.pixel_max == 255 and dataset.class_names == list("0123456789")
    assert dataset.input_shape == (1, 28, 28) and dataset.num_classes == 10


def test_fashion_mnist_class_names(tmp_path, formats, accept):
    formats.write_mnist_idx(tmp_path)
    accept("fashion-mnist", tmp_path)
    dataset = load_dataset("fashion-mnist", tmp_path, download=False)
    assert dataset.class_names == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert len(dataset.train) == 30


def test_image_and_label_counts_must_match(tmp_path, formats, accept):
    arrays = formats.mnist_arrays()
    arrays[TEST_LABELS] = arrays[TEST_LABELS][:-1]
    formats.write_mnist_idx(tmp_path, arrays)
    accept("mnist", tmp_path)
    with pytest.raises(StriateError) as error:
        load_dataset("mnist", tmp_path)
    assert str(error.value) == (
        f"{tmp_path / TEST_IMAGES} holds 12 images but {tmp_path / TEST_LABELS} holds 11 labels; "
        "the files do not belong together — delete them and run `striate download mnist`")


def test_label_outside_the_classes(tmp_path, formats, accept):
    arrays = formats.mnist_arrays()
    arrays[TRAIN_LABELS][3] = 10
    formats.write_mnist_idx(tmp_path, arrays)
    accept("mnist", tmp_path)
    with pytest.raises(StriateError, match=rf"{TRAIN_LABELS}: label 10 is outside 0\.\.9"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("py2", [True, False], ids=["python2-pickle", "python3-pickle"])
def test_mnist_pickle_round_trip_keeps_its_validation_split(tmp_path, formats, accept, py2):
    parts = formats.mnist_pickle_parts()
    formats.write_mnist_pickle(tmp_path / MNIST_PICKLE, parts, py2=py2)
    accept("mnist-pickle", tmp_path)
    dataset = load_dataset("mnist", tmp_path, download=False)
    for split, (images, labels) in zip((dataset.train, dataset.valid, dataset.test), parts):
        assert split.images.dtype == np.float32 and split.images.shape == (len(labels), 1, 28, 28)
        np.testing.assert_array_equal(split.images.reshape(len(labels), 784), images)
        np.testing.assert_array_equal(split.labels, labels)
        assert split.labels.dtype == np.int64
    assert dataset.pixel_max == 1.0 and dataset.source == str(tmp_path / MNIST_PICKLE)


def test_idx_files_are_preferred_to_the_pickle(mnist_dir, formats, accept):
    data_dir, arrays = mnist_dir
    formats.write_mnist_pickle(data_dir / "mnist" / MNIST_PICKLE, formats.mnist_pickle_parts())
    accept("mnist-pickle", data_dir / "mnist")
    dataset = load_dataset("mnist", data_dir)
    assert dataset.valid is None and dataset.train.images.dtype == np.uint8


def test_pickle_is_downloaded_when_idx_mirrors_fail(tmp_path, cache_dir, formats, accept):
    mirror = tmp_path / "mirror"
    parts = formats.mnist_pickle_parts()
    formats.write_mnist_pickle(mirror / MNIST_PICKLE, parts)
    accept("mnist-pickle", mirror, urls=(f"file://{mirror}/{MNIST_PICKLE}",))
    dataset = load_dataset("mnist")  # the IDX mirrors are dead (conftest)
    assert (cache_dir / "mnist" / MNIST_PICKLE).is_file()
    np.testing.assert_array_equal(dataset.valid.labels, parts[1][1])


def test_both_mnist_forms_failing_reports_both(tmp_path):
    with pytest.raises(StriateError) as error:
        load_dataset("mnist", tmp_path)
    message = str(error.value)
    assert f"could not download {TRAIN_IMAGES}" in message
    assert f"the mnist.pkl.gz fallback failed too: could not download {MNIST_PICKLE}" in message


def test_malicious_mnist_pickle_is_refused(tmp_path, formats, accept):
    target = tmp_path / "pwned"
    formats.write_mnist_pickle(tmp_path / MNIST_PICKLE, (formats.Malicious(target),), py2=False)
    accept("mnist-pickle", tmp_path)
    with pytest.raises(StriateError, match=r"refusing to unpickle posix\.system from .*mnist\.pkl"
                                           r"\.gz: only numpy arrays are accepted"):
        load_dataset("mnist", tmp_path)
    assert not target.exists()


@pytest.mark.parametrize("content, problem", [
    ({"train": 1}, r"expected a pickled \(\(train_x, train_y\), .*got a dict"),
    ((1, 2, 3), r"expected an \(images, labels\) pair, got an int"),
    (((np.zeros((2, 784), np.uint8), np.zeros(2, np.int64)),) * 3,
     r"images must be an \(N, 784\) float array, got a uint8 array of shape \(2, 784\)"),
    (((np.zeros((2, 784), np.float32), np.zeros(3, np.int64)),) * 3, "2 images but 3 labels"),
])
def test_unexpected_pickle_contents(tmp_path, formats, content, problem):
    path = formats.write_mnist_pickle(tmp_path / MNIST_PICKLE, content, py2=False)
    with pytest.raises(StriateError, match=problem):
        load_mnist_pickle(path)


def test_truncated_pickle_gzip(tmp_path, formats):
    path = formats.write_mnist_pickle(tmp_path / MNIST_PICKLE, formats.mnist_pickle_parts())
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(StriateError, match=f"{MNIST_PICKLE}: truncated or corrupt .*; delete "):
        load_mnist_pickle(path)


def test_real_fashion_mnist_from_the_debian_package(monkeypatch):
    if not all((DEBIAN_FASHION_MNIST / name).is_file() for name in SOURCES["fashion-mnist"].files):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    monkeypatch.setattr(download, "SYSTEM_ROOTS", (DEBIAN_FASHION_MNIST.parent,))
    dataset = load_dataset("fashion-mnist", download=False)
    assert dataset.source == str(DEBIAN_FASHION_MNIST)
    assert dataset.train.images.shape == (60000, 1, 28, 28)
    assert dataset.test.images.shape == (10000, 1, 28, 28)
    assert dataset.input_shape == (1, 28, 28) and dataset.train.images.dtype == np.uint8
    assert dataset.num_classes == 10
    # The published set is balanced: 6,000 training and 1,000 test images per class.
    assert np.bincount(dataset.train.labels).tolist() == [6000] * 10
    assert np.bincount(dataset.test.labels).tolist() == [1000] * 10
    assert dataset.train.images.max() == 255 and dataset.train.images.min() == 0
