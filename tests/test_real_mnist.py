"""A real training run on the real MNIST, from ../shared/data/mnist beside the repository.

The folder holds the four IDX files gzip-compressed by hand, so their archive MD5s are not the
official ones: loading them at all shows the content digests at work. Where the folder is absent
(a checkout without ../shared) the test skips; where it is present, any problem with it fails.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import train_run
from striate.data import load_dataset

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
# The published class counts of the 60,000 training and 10,000 test digits.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
# One epoch of logistic regression measured 92.05%, 92.06%, 92.08% test accuracy (seeds 0-2);
# a loader that mixed up images and labels would score about 10%.
MIN_TEST_ACCURACY = 0.91

pytestmark = pytest.mark.skipif(
    not MNIST_DIR.is_dir(),
    reason=f"the real MNIST is not at {MNIST_DIR} (../shared/data/mnist beside the repository)")


def test_real_mnist_loads_by_content_with_its_published_sizes():
    dataset = load_dataset("mnist", MNIST_DIR.parent, download=False)
    assert dataset.source == str(MNIST_DIR)
    assert dataset.train.images.shape == (60_000, 1, 28, 28)
    assert dataset.test.images.shape == (10_000, 1, 28, 28)
    assert dataset.train.images.dtype == np.uint8 and dataset.valid is None
    assert np.bincount(dataset.train.labels).tolist() == TRAIN_COUNTS
    assert np.bincount(dataset.test.labels).tolist() == TEST_COUNTS


def test_one_epoch_of_logistic_regression_on_the_real_mnist(tmp_path, capsys):
    run = train_run("--dataset", "mnist", "--data-dir", MNIST_DIR, "--no-download",
                    "--model", "logreg", "--epochs", 1, "--batch-size", 128, "--seed", 0,
                    "--device", "cpu", "--out-dir", tmp_path, "--progress", "off")
    out = capsys.readouterr().out
    assert "training logreg on mnist (50000/10000/10000 train/valid/test)" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["iterations"] == 391  # ceil(50,000 / 128)
    assert metrics["test_accuracy"] > MIN_TEST_ACCURACY
