"""A split's arrays, and carving one split out of another, reproducibly."""

import warnings
from dataclasses import dataclass

import numpy as np

from striate.errors import StriateError


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, C, H, W), uint8 as on disk, or float32 (mnist.pkl.gz, your arrays)
    labels: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

# Data sets without an official test split (digits, image folders) hold one out with this seed,
# whatever the run's seed: test numbers then measure the same images across runs and seeds.
HOLDOUT_SEED = 0
HOLDOUT_FRACTION = 0.2


def split_validation(train: Split, valid_size: int, seed: int,
                     last: bool = False) -> tuple[Split, Split]:
    """(train, valid): `valid_size` examples drawn at random by `seed` become the validation set,
    or with `last` the final `valid_size` examples (mnist.pkl.gz's split of MNIST, seed unused).

    The same seed always picks the same examples. Both parts keep the original order of the
    examples, so the split is a pure selection and the data are not shuffled as a side effect.
    """
    if not 1 <= valid_size < len(train):
        raise StriateError(f"validation size {valid_size} does not fit a training split of "
                           f"{len(train)} examples; choose a size from 1 to {len(train) - 1}")
    if last:
        return take(train, np.arange(len(train) - valid_size)), take(
            train, np.arange(len(train) - valid_size, len(train)))
    order = np.random.default_rng(seed).permutation(len(train))
    valid_indices, train_indices = np.sort(order[:valid_size]), np.sort(order[valid_size:])
    return take(train, train_indices), take(train, valid_indices)


def take(split: Split, indices: np.ndarray) -> Split:
    return Split(split.images[indices], split.labels[indices])


def stratified_holdout(labels: np.ndarray, fraction: float = HOLDOUT_FRACTION,
                       seed: int = HOLDOUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held_out) sorted index arrays: round(fraction * n) of each class's n examples,
    at least one, are held out, so every class with two or more examples is in both parts."""
    rng = np.random.default_rng(seed)
    held_out = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        held_out.append(rng.permutation(members)[:max(1, round(fraction * len(members)))])
    held_out = np.sort(np.concatenate(held_out))
    return np.setdiff1d(np.arange(len(labels)), held_out), held_out


def ten_percent(count: int) -> int:
    """The default validation size for data sets without a conventional one."""
    return max(1, round(count / 10))


def stratified_fold(labels: np.ndarray, folds: int, fold: int, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) sorted index arrays for fold `fold` (1-based) of `folds`: scikit-learn's
    StratifiedKFold, shuffled by `seed`.

    It deals the examples, sorted by class, round-robin into the folds to decide how many of each
    class each fold holds, then shuffles which of a class's examples go to which fold. So the
    folds partition the data, differ in size by at most one example, hold each class in the
    proportion of the whole (within one example), and the same seed deals the same folds."""
    from sklearn.model_selection import StratifiedKFold

    largest_class = np.unique(labels, return_counts=True)[1].max()
    if not 2 <= folds <= largest_class:
        raise StriateError(f"--folds {folds} does not fit data whose largest class has "
                           f"{largest_class} examples; choose 2 to {largest_class}")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A class with fewer examples than folds is missing from some validation folds, as it
        # must be; scikit-learn warns of it at every fold run.
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(np.zeros((len(labels), 1)), labels))
    return splits[fold - 1]
