"""The data as a run sees it: load -> split -> fold -> fit preprocessing -> arrays.

Training, checks, lr-find, evaluation of a checkpoint, the benchmark and the tests all get their
data here, so a data set is split and preprocessed the same way wherever it is used.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from striate.checkpoint import read_checkpoint
from striate.config import DataConfig, parse_image_size
from striate.data.dataset import Dataset, Split
from striate.data.preprocess import Preprocess
from striate.data.registry import load_dataset
from striate.data.splits import split_validation, stratified_fold, take
from striate.errors import StriateError

SPLITS = ("train", "valid", "test")


def load_data(config: DataConfig) -> Dataset:
    return load_dataset(config.dataset, config.data_dir, config.download,
                        image_size=parse_image_size(config.image_size), channels=config.channels)


def split(dataset: Dataset, config: DataConfig, seed: int) -> dict[str, Split]:
    """train/valid/test as stored; the validation split is carved from training by the seed
    unless the data set defines its own (mnist.pkl.gz's 50k/10k/10k)."""
    if config.folds:
        return {**cross_validation_fold(dataset, config, seed), "test": dataset.test}
    if dataset.valid is not None and config.valid_size is None:
        return {"train": dataset.train, "valid": dataset.valid, "test": dataset.test}
    valid_size = config.valid_size or dataset.default_valid_size
    train, valid = split_validation(dataset.train, valid_size, seed,
                                    last=config.valid_split == "last")
    return {"train": train, "valid": valid, "test": dataset.test}


def cross_validation_fold(dataset: Dataset, config: DataConfig, seed: int) -> dict[str, Split]:
    """Fold --fold of --folds over every labelled example outside the test set (a data set's
    own validation split included)."""
    pool = training_pool(dataset)
    train, valid = stratified_fold(pool.labels, config.folds, config.fold, seed)
    return {"train": take(pool, train), "valid": take(pool, valid)}


def training_pool(dataset: Dataset) -> Split:
    """Every labelled image outside the test set, in stored order: the training split and the
    data set's own validation split, where it has one."""
    if dataset.valid is None:
        return dataset.train
    return Split(np.concatenate([dataset.train.images, dataset.valid.images]),
                 np.concatenate([dataset.train.labels, dataset.valid.labels]))


def fit_preprocess(config: DataConfig, dataset: Dataset, train: Split) -> Preprocess:
    return Preprocess.fit(config.preprocess, train.images, dataset.pixel_max,
                          config.pca_components, config.whiten_eps, config.deskew)


@dataclass(frozen=True)
class RunData:
    """A data set as one run sees it: its splits as stored and the preprocessing fitted on the
    training split."""
    dataset: Dataset
    splits: dict[str, Split]
    preprocess: Preprocess

    def inputs(self, names=SPLITS) -> dict[str, Split]:
        """The named splits as the float32 inputs the engines take:
        (N, *preprocess.output_shape) images."""
        return {name: Split(self.preprocess.apply(self.splits[name].images,
                                                  self.dataset.pixel_max),
                            self.splits[name].labels) for name in names}

    def fingerprint(self) -> dict[str, dict]:
        """Each split's size and the SHA-256 of its images and labels as stored: what a resumed
        run must find unchanged (images added to a folder would re-split the data and refit
        the preprocessing, mixing two test sets in one run)."""
        return {name: {"examples": len(split), "sha256": split_digest(split)}
                for name, split in self.splits.items()}

    def sample(self, count: int) -> Split:
        """The first `count` training examples, preprocessed (what the sanity checks use)."""
        train = self.splits["train"]
        return Split(self.preprocess.apply(train.images[:count], self.dataset.pixel_max),
                     train.labels[:count])


def split_digest(split: Split) -> str:
    digest = hashlib.sha256()
    for array in (split.images, split.labels):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def prepare(config: DataConfig, seed: int, dataset: Dataset | None = None) -> RunData:
    """Load (unless the data set is given, e.g. arrays in memory), split (and fold) by `seed`,
    and fit the preprocessing on the training split."""
    dataset = load_data(config) if dataset is None else dataset
    splits = split(dataset, config, seed)
    return RunData(dataset, splits, fit_preprocess(config, dataset, splits["train"]))


def load_preprocess(path) -> tuple[Preprocess, dict]:
    """(preprocessing, metadata) of a checkpoint, the preprocessing checked against the metadata;
    it reads no model weights."""
    tensors, meta = read_checkpoint(path, preprocessing=True)
    preprocess = Preprocess.from_checkpoint(meta["preprocess"], tensors, str(path))
    if list(preprocess.input_shape) != meta["input_shape"]:
        raise StriateError(f"{path} holds preprocessing for {preprocess.input_shape} images but "
                           f"a model for {tuple(meta['input_shape'])}; use a checkpoint written "
                           "by `striate train`")
    return preprocess, meta
