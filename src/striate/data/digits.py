"""scikit-learn's 8x8 handwritten digits: 1,797 images bundled with scikit-learn, so always there.

The set has no official test split, so a stratified 20% (359 images) is held out with a fixed
seed (splits.HOLDOUT_SEED), not the run's seed: every run, whatever its seed, is tested on the
same images, and test errors compare across runs. That leaves 1,438 training images, of which
the default validation split takes 10% (144).
"""

from importlib.util import find_spec
from pathlib import Path

import numpy as np

from striate.data.dataset import Dataset, Split
from striate.data.splits import stratified_holdout, take, ten_percent

# Each pixel counts the set cells of a 4x4 block of a 32x32 bitmap, so white is 16, not 255.
PIXEL_MAX = 16.0


def load_digits() -> Dataset:
    # Imported here: scikit-learn takes over a second to import and only this data set needs it.
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = bunch.images.astype(np.uint8)[:, np.newaxis]  # (1797, 1, 8, 8) uint8, 0..16
    everything = Split(images, bunch.target.astype(np.int64))
    kept, held_out = stratified_holdout(everything.labels)
    train = take(everything, kept)
    return Dataset("digits", train, None, take(everything, held_out),
                   [str(digit) for digit in range(10)], pixel_max=PIXEL_MAX,
                   default_valid_size=ten_percent(len(train)), source=str(bundled_dir()))


def bundled_dir() -> Path:
    """scikit-learn's directory holding the digits file, found without importing scikit-learn."""
    return Path(find_spec("sklearn").origin).parent / "datasets" / "data"
