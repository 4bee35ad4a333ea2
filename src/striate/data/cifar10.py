"""CIFAR-10, python version: pickled batches read straight out of cifar-10-python.tar.gz.

Nothing is extracted to disk, and only members with the exact expected names are read, so an
archive with odd member paths (../, absolute, links) has no effect beyond a "missing" error. An
already-extracted cifar-10-batches-py/ directory works too; each of its files must have the MD5
of the batch in the official archive before it is unpickled, as the archive must.
"""

import contextlib
import tarfile
from pathlib import Path

import numpy as np

from striate.data.datafile import DataFile, describe_value, reading
from striate.data.dataset import Dataset, Split, make_split
from striate.data.digests import check_file
from striate.data.download import find_files, find_source, locate
from striate.data.safe_pickle import load_pickle
from striate.data.sources import CIFAR10_ARCHIVE, CIFAR10_BATCHES_DIR, SOURCES

TRAIN_BATCHES = tuple(f"data_batch_{number}" for number in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
EXTRACTED = [f"{CIFAR10_BATCHES_DIR}/{name}" for name in (*TRAIN_BATCHES, TEST_BATCH)]
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")
VALID_SIZE = 1_000  # cs231n's 49,000 / 1,000 / 10,000 split
ROW_PIXELS = 3 * 32 * 32  # a row is the red plane, then green, then blue, each 32x32 row-major

Contents = dict[str, tuple[DataFile, object]]  # batch name -> (where it was read, unpickled value)


def load_cifar10(data_dir: str | Path | None, download: bool) -> Dataset:
    path = _locate(data_dir, download)
    contents = _read_extracted(path) if path.is_dir() else _read_archive(path)
    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if name not in contents]
    if missing:
        raise DataFile(path, "cifar10").corrupt(f"no {CIFAR10_BATCHES_DIR}/{missing[0]} in it")
    batches = [_batch_split(*contents[name]) for name in TRAIN_BATCHES]
    train = Split(np.concatenate([batch.images for batch in batches]),
                  np.concatenate([batch.labels for batch in batches]))
    return Dataset("cifar10", train, None, _batch_split(*contents[TEST_BATCH]),
                   _class_names(contents.get(META)), pixel_max=255.0,
                   default_valid_size=VALID_SIZE, source=str(path))


def fetch_cifar10(data_dir: str | Path | None) -> Path:
    return _locate(data_dir, download=True).parent


def find_cifar10(data_dir: str | Path | None) -> Path | None:
    """Where the archive or the extracted batches are, without reading them."""
    dirname = SOURCES["cifar10"].dirname
    archive_dir = find_files(dirname, [CIFAR10_ARCHIVE], data_dir)
    return archive_dir or find_files(dirname, EXTRACTED, data_dir)


def _locate(data_dir: str | Path | None, download: bool) -> Path:
    """The checksummed archive, else an extracted batches directory, else a downloaded archive."""
    source = SOURCES["cifar10"]
    archive_dir = find_source(source, data_dir)
    if archive_dir is not None:
        return archive_dir / CIFAR10_ARCHIVE
    extracted_dir = find_files(source.dirname, EXTRACTED, data_dir)
    if extracted_dir is not None:
        return extracted_dir / CIFAR10_BATCHES_DIR
    return locate(source, data_dir, download) / CIFAR10_ARCHIVE


def _read_archive(archive: Path) -> Contents:
    datafile = DataFile(archive, "cifar10")
    wanted = {f"{CIFAR10_BATCHES_DIR}/{name}": name for name in (*TRAIN_BATCHES, TEST_BATCH, META)}
    contents = {}
    # One pass in archive order: a gzip stream cannot seek backwards without decompressing
    # again from the start.
    with reading(datafile), tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                member_file = datafile.within(member.name)
                contents[wanted[member.name]] = (member_file,
                                                 load_pickle(tar.extractfile(member), member_file))
    return contents


def _read_extracted(directory: Path) -> Contents:
    official = SOURCES["cifar10-batches"].files
    contents = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH, META):
        datafile = DataFile(directory / name, "cifar10")
        if datafile.path.is_file():
            check_file(datafile.path, official[f"{CIFAR10_BATCHES_DIR}/{name}"], "cifar10")
            with reading(datafile), open(datafile.path, "rb") as handle:
                contents[name] = (datafile, load_pickle(handle, datafile))
    return contents


def _batch_split(datafile: DataFile, content: object) -> Split:
    """A batch dict {b'data': (N, 3072) uint8, b'labels': N ints in 0..9} as a Split."""
    batch = _text_keys(content, datafile)
    if "data" not in batch or "labels" not in batch:
        raise datafile.corrupt(f"a CIFAR-10 batch needs the keys b'data' and b'labels', found "
                               f"{sorted(batch)}")
    data = batch["data"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == ROW_PIXELS):
        raise datafile.corrupt(f"b'data' must be an (N, {ROW_PIXELS}) uint8 array, got "
                               f"{describe_value(data)}")
    images = data.reshape(-1, 3, 32, 32)  # (N, 3, 32, 32) uint8
    return make_split(images, _label_array(batch["labels"], datafile), len(CLASS_NAMES),
                      datafile, datafile)


def _text_keys(content: object, datafile: DataFile) -> dict[str, object]:
    """The dict with bytes keys decoded: Python 3 readers see b'data', latin-1 readers 'data'."""
    if not isinstance(content, dict):
        raise datafile.corrupt(f"expected a pickled dict, got {describe_value(content)}")
    return {key.decode("latin1") if isinstance(key, bytes) else str(key): value
            for key, value in content.items()}


def _label_array(labels: object, datafile: DataFile) -> np.ndarray:
    """The labels as (N,) int64: a flat list of ints, as the real batches hold, or a 1-D
    integer array. Flatness is checked first: np.asarray would walk nested lists that share
    references (a few bytes of pickle) as a tree, 2**depth items."""
    array = None
    if isinstance(labels, np.ndarray):
        array = labels
    elif isinstance(labels, (list, tuple)) and all(type(label) is int for label in labels):
        with contextlib.suppress(OverflowError):  # an int beyond 64 bits
            array = np.array(labels, dtype=np.int64)
    if array is None or array.ndim != 1 or array.dtype.kind not in "iu":
        raise datafile.corrupt(f"b'labels' must be a list of integers, got "
                               f"{describe_value(labels)}")
    return array.astype(np.int64)


def _class_names(meta: tuple[DataFile, object] | None) -> list[str]:
    """batches.meta's label_names when it has ten of them, else the standard names."""
    datafile, content = meta or (None, None)
    if isinstance(content, dict):
        names = _text_keys(content, datafile).get("label_names")
        if isinstance(names, list) and len(names) == len(CLASS_NAMES):
            return [name.decode("latin1") if isinstance(name, bytes) else str(name)
                    for name in names]
    return list(CLASS_NAMES)
