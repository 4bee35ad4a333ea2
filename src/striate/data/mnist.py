"""MNIST and Fashion-MNIST: four IDX files each, and for MNIST also the tutorials' mnist.pkl.gz.

Both data sets share one loader, parameterised by an IdxSpec; the files, checksums and mirrors
live in striate.data.sources under the spec's name.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from striate.data.datafile import DataFile, describe_value, open_maybe_gzip, reading
from striate.data.dataset import Dataset, Split, make_split
from striate.data.digests import find_form
from striate.data.download import fetch_source, find_files, find_source, locate, not_found
from striate.data.idx import read_idx_images, read_idx_labels
from striate.data.safe_pickle import load_pickle
from striate.data.sources import (MNIST_PICKLE, SOURCES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES,
                                  TRAIN_LABELS)
from striate.errors import StriateError

# mnist.pkl.gz's own validation split has 10,000 images; carving as many from the IDX training
# set keeps results comparable between the two forms.
VALID_SIZE = 10_000


@dataclass(frozen=True)
class IdxSpec:
    name: str                    # the data set's name and its key in SOURCES
    class_names: tuple[str, ...]


MNIST = IdxSpec("mnist", tuple("0123456789"))
FASHION_MNIST = IdxSpec("fashion-mnist", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"))


def load_idx_dataset(spec: IdxSpec, directory: Path) -> Dataset:
    """The data set from the four IDX files in `directory`, under any of their accepted names
    (digests.file_forms), each verified by its content digest as it is read."""
    train = _idx_split(spec, directory, TRAIN_IMAGES, TRAIN_LABELS)
    test = _idx_split(spec, directory, TEST_IMAGES, TEST_LABELS)
    return Dataset(spec.name, train, None, test, list(spec.class_names), pixel_max=255.0,
                   default_valid_size=VALID_SIZE, source=str(directory))


def _idx_split(spec: IdxSpec, directory: Path, images_name: str, labels_name: str) -> Split:
    files = SOURCES[spec.name].files
    images_from, labels_from = (DataFile(find_form(directory, name) or directory / name, spec.name)
                                for name in (images_name, labels_name))
    return make_split(read_idx_images(images_from, files[images_name]),
                      read_idx_labels(labels_from, files[labels_name]),
                      len(spec.class_names), images_from, labels_from)


def load_fashion_mnist(data_dir: str | Path | None, download: bool) -> Dataset:
    # The contents are verified as load_idx_dataset reads them, not twice.
    directory = locate(SOURCES["fashion-mnist"], data_dir, download, check_contents=False)
    return load_idx_dataset(FASHION_MNIST, directory)


def fetch_fashion_mnist(data_dir: str | Path | None) -> Path:
    return fetch_source(SOURCES["fashion-mnist"], data_dir)


def find_fashion_mnist(data_dir: str | Path | None) -> Path | None:
    return _find_unchecked("fashion-mnist", data_dir)


def load_mnist(data_dir: str | Path | None, download: bool) -> Dataset:
    key, directory = _locate_mnist(data_dir, download, check_contents=False)
    if key == "mnist":
        return load_idx_dataset(MNIST, directory)
    return load_mnist_pickle(directory / MNIST_PICKLE)


def fetch_mnist(data_dir: str | Path | None) -> Path:
    return _locate_mnist(data_dir, download=True)[1]


def find_mnist(data_dir: str | Path | None) -> Path | None:
    return _find_unchecked("mnist", data_dir) or _find_unchecked("mnist-pickle", data_dir)


def _find_unchecked(key: str, data_dir: str | Path | None) -> Path | None:
    """Where the source's files are, without reading them: cheap enough for a listing."""
    return find_files(SOURCES[key].dirname, list(SOURCES[key].files), data_dir)


def _locate_mnist(data_dir: str | Path | None, download: bool,
                  check_contents: bool = True) -> tuple[str, Path]:
    """(SOURCES key, directory) of MNIST's files: IDX preferred, mnist.pkl.gz as the fallback.

    Both forms are looked up before either is downloaded, so a local mnist.pkl.gz is used rather
    than a download of the IDX files. check_contents=False: the loader verifies the IDX files.
    """
    sources = [SOURCES["mnist"], SOURCES["mnist-pickle"]]
    for key in ("mnist", "mnist-pickle"):
        directory = find_source(SOURCES[key], data_dir, check_contents=check_contents)
        if directory is not None:
            return key, directory
    if not download:
        raise not_found("mnist", sources, data_dir)
    try:
        return "mnist", fetch_source(SOURCES["mnist"], data_dir)
    except StriateError as idx_failure:
        try:
            return "mnist-pickle", fetch_source(SOURCES["mnist-pickle"], data_dir)
        except StriateError as pickle_failure:
            raise StriateError(f"{idx_failure}; the mnist.pkl.gz fallback failed too: "
                               f"{pickle_failure}") from None


def load_mnist_pickle(path: Path) -> Dataset:
    """The Deep Learning Tutorials' mnist.pkl.gz: ((train_x, train_y), (valid_x, valid_y),
    (test_x, test_y)), each x (N, 784) float32 in [0, 1] and y (N,) int64."""
    datafile = DataFile(path, "mnist")
    with reading(datafile), open_maybe_gzip(path) as handle:
        content = load_pickle(handle, datafile)
    if not (isinstance(content, (tuple, list)) and len(content) == 3):
        raise datafile.corrupt("expected a pickled ((train_x, train_y), (valid_x, valid_y), "
                               f"(test_x, test_y)), got {describe_value(content)}")
    train, valid, test = (_pickled_split(part, datafile) for part in content)
    return Dataset("mnist", train, valid, test, list(MNIST.class_names), pixel_max=1.0,
                   default_valid_size=VALID_SIZE, source=str(path))


def _pickled_split(part: object, datafile: DataFile) -> Split:
    if not (isinstance(part, (tuple, list)) and len(part) == 2):
        raise datafile.corrupt(f"expected an (images, labels) pair, got {describe_value(part)}")
    images, labels = part
    if not (isinstance(images, np.ndarray) and images.dtype.kind == "f"
            and images.ndim == 2 and images.shape[1] == 28 * 28):
        raise datafile.corrupt(f"images must be an (N, 784) float array, got "
                               f"{describe_value(images)}")
    if not (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu" and labels.ndim == 1):
        raise datafile.corrupt(f"labels must be an (N,) integer array, got "
                               f"{describe_value(labels)}")
    images = images.reshape(-1, 1, 28, 28)  # (N, 1, 28, 28) float32
    return make_split(images, labels, len(MNIST.class_names), datafile, datafile)
