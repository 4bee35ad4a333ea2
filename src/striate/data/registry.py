"""The data sets by name: loading, fetching and listing them."""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from striate.data.cifar10 import fetch_cifar10, find_cifar10, load_cifar10
from striate.data.dataset import Dataset
from striate.data.digits import bundled_dir, load_digits
from striate.data.download import how_to_fetch
from striate.data.folder import LAYOUT_HINT
from striate.data.mnist import (fetch_fashion_mnist, fetch_mnist, find_fashion_mnist, find_mnist,
                                load_fashion_mnist, load_mnist)
from striate.data.npz import SAVE_HINT, load_npz
from striate.data.sources import SOURCES
from striate.errors import StriateError

DataDir = str | Path | None


@dataclass(frozen=True)
class Downloadable:
    load: Callable[[DataDir, bool], Dataset]
    fetch: Callable[[DataDir], Path]        # find (checksums verified) or download
    find: Callable[[DataDir], Path | None]  # where the files are, reading nothing
    sources: tuple[str, ...]                # its SOURCES keys, for how-to-get-it messages


DOWNLOADABLE = {
    "cifar10": Downloadable(load_cifar10, fetch_cifar10, find_cifar10, ("cifar10",)),
    "fashion-mnist": Downloadable(load_fashion_mnist, fetch_fashion_mnist, find_fashion_mnist,
                                  ("fashion-mnist",)),
    "mnist": Downloadable(load_mnist, fetch_mnist, find_mnist, ("mnist", "mnist-pickle")),
}
BUNDLED = "digits"  # ships inside scikit-learn
FOLDER = "folder"   # the user's own images
NPZ = "npz"         # the user's own arrays, in one .npz file


def dataset_names() -> list[str]:
    return sorted([*DOWNLOADABLE, BUNDLED, FOLDER, NPZ])


def load_dataset(name: str, data_dir: DataDir = None, download: bool = True, *,
                 image_size: tuple[int, int] | None = None, channels: str = "auto") -> Dataset:
    """Load a data set by name; for "folder", data_dir is the image folder's root, for "npz"
    the .npz file.

    image_size and channels apply to "folder" only, as the other sets have a fixed format.
    """
    _check_name(name)
    if name == FOLDER:
        return Dataset.from_folder(data_dir, image_size, channels)
    if image_size is not None or str(channels).lower() != "auto":
        raise StriateError(f"an image size and channels apply only to the folder data set, not "
                           f"{name}; drop --image-size and --channels")
    if name == BUNDLED:
        return load_digits()
    if name == NPZ:
        return load_npz(data_dir)
    return DOWNLOADABLE[name].load(data_dir, download)


def fetch_dataset(name: str, data_dir: DataDir = None) -> Path:
    """Make sure the data set's files are on this machine (downloading them, MD5-checked, if
    not); return the directory holding them."""
    _check_name(name)
    if name == FOLDER:
        raise StriateError(f"the folder data set is your own images, there is nothing to "
                           f"download; lay them out as {LAYOUT_HINT} and pass --data-dir ROOT")
    if name == NPZ:
        raise StriateError(f"the npz data set is your own arrays, there is nothing to "
                           f"download; write them with {SAVE_HINT} and pass --data-dir FILE.npz")
    if name == BUNDLED:
        return bundled_dir()
    return DOWNLOADABLE[name].fetch(data_dir)


def describe_datasets(data_dir: DataDir = None) -> list[dict]:
    """One row per data set: {"name", "available", "where", "how"}.

    Availability means the files are present; they are not read or checksummed (that happens
    when loading), and nothing is downloaded.
    """
    return [_describe(name, data_dir) for name in dataset_names()]


def _describe(name: str, data_dir: DataDir) -> dict:
    if name == BUNDLED:
        return _row(name, bundled_dir(), "bundled with scikit-learn")
    if name == FOLDER:
        root = Path(data_dir) if data_dir is not None and Path(data_dir).is_dir() else None
        return _row(name, root, f"your own images: pass --data-dir ROOT, laid out as "
                                f"{LAYOUT_HINT}")
    if name == NPZ:
        file = Path(data_dir) if data_dir is not None and Path(data_dir).is_file() else None
        return _row(name, file, f"your own arrays: pass --data-dir FILE.npz, written with "
                                f"{SAVE_HINT}")
    entry = DOWNLOADABLE[name]
    how_sources = [SOURCES[key] for key in entry.sources]
    if data_dir is not None and Path(data_dir).is_file():
        # An .npz file holds none of the downloadable sets (loading them from it is refused).
        return _row(name, None, how_to_fetch(name, how_sources, None))
    return _row(name, entry.find(data_dir), how_to_fetch(name, how_sources, data_dir))


def _row(name: str, where: Path | None, how: str) -> dict:
    return {"name": name, "available": where is not None,
            "where": None if where is None else str(where), "how": how}


def _check_name(name: str) -> None:
    if name not in dataset_names():
        raise StriateError(f"unknown data set {name!r}; choose one of "
                           f"{', '.join(dataset_names())}")
