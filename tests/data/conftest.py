"""Fixtures for the data layer: files in the exact on-disk formats, and an isolated lookup.

Every test runs with the lookup roots pointing into its own tmp_path and every mirror pointing at
a dead file:// URL, so no test reads the machine's real data or touches the network by accident.
"""

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from striate.data import download
from striate.data.digests import Digests
from striate.data.sources import SOURCES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS

DEAD_MIRROR = "file:///nonexistent/striate-test-mirror/{filename}"
BATCHES_DIR = "cifar-10-batches-py"
CIFAR_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
               b"ship", b"truck"]


@pytest.fixture(autouse=True)
def isolated_lookup(monkeypatch, tmp_path):
    monkeypatch.delenv("STRIATE_DATA", raising=False)
    cache = tmp_path / "user-cache"
    monkeypatch.setattr(download.platformdirs, "user_cache_dir", lambda app: str(cache / app))
    monkeypatch.setattr(download, "SYSTEM_ROOTS", ())
    for key, source in SOURCES.items():
        monkeypatch.setitem(SOURCES, key, dataclasses.replace(source, urls=(DEAD_MIRROR,)))


@pytest.fixture
def cache_dir(tmp_path):
    """The user cache root the loaders see (platformdirs.user_cache_dir("striate"))."""
    return tmp_path / "user-cache" / "striate"


@pytest.fixture
def accept(monkeypatch):
    """accept(key, directory[, urls]): make SOURCES[key] accept its files as found in `directory`
    (and download from `urls`), as if they were the official ones: their MD5s, and where the
    source verifies contents, their content SHA-256s."""
    def patch(key: str, directory: Path, urls: tuple[str, ...] | None = None) -> None:
        source = SOURCES[key]
        files = {name: Formats.digests(directory / name, digests.content_sha256 is not None)
                 for name, digests in source.files.items()}
        monkeypatch.setitem(SOURCES, key, dataclasses.replace(
            source, files=files, urls=source.urls if urls is None else urls))
    return patch


@pytest.fixture
def formats():
    return Formats


class Malicious:
    """Unpickling this runs `touch target`: what a hostile dataset file would do."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


class Formats:
    """Writers for each on-disk format, byte for byte as the real files are laid out."""

    Malicious = Malicious

    @staticmethod
    def md5(path: Path) -> str:
        return hashlib.md5(Path(path).read_bytes()).hexdigest()

    @staticmethod
    def content(path: Path) -> bytes:
        """The bytes a reader sees: gunzipped when gzipped, else as they are."""
        raw = Path(path).read_bytes()
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):  # not gzip, or damaged on purpose
            return raw

    @classmethod
    def digests(cls, path: Path, by_content: bool = True) -> Digests:
        """What SOURCES would say of `path` were it the official file."""
        content_sha256 = hashlib.sha256(cls.content(path)).hexdigest() if by_content else None
        return Digests(frozenset({cls.md5(path)}), content_sha256)

    @staticmethod
    def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
        """IDX: big-endian magic (0, 0, 0x08 = uint8, ndim), big-endian dims, then the bytes."""
        magic = 0x0800 | array.ndim if magic is None else magic
        return (struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
                + array.astype(np.uint8).tobytes())

    @staticmethod
    def write_gz(path: Path, content: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(content))
        return path

    @staticmethod
    def mnist_arrays(train: int = 30, test: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {TRAIN_IMAGES: rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
                TRAIN_LABELS: np.arange(train, dtype=np.uint8) % 10,
                TEST_IMAGES: rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
                TEST_LABELS: rng.integers(0, 10, test, dtype=np.uint8)}

    @classmethod
    def write_mnist_idx(cls, directory: Path, arrays: dict[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        """The four gzipped IDX files into `directory`; returns what they hold."""
        arrays = cls.mnist_arrays() if arrays is None else arrays
        for name, array in arrays.items():
            cls.write_gz(directory / name, cls.idx_bytes(array))
        return arrays

    @staticmethod
    def py2_dumps(value) -> bytes:
        """A protocol-2 pickle as Python 2's cPickle wrote it: bytes are Python 2 str objects
        (BINSTRING), arrays name numpy.core.multiarray. Covers what the real files hold."""
        def emit(value) -> bytes:
            if isinstance(value, bool):
                return b"\x88" if value else b"\x89"
            if value is None:
                return b"N"
            if isinstance(value, int) and 0 <= value < 256:
                return b"K" + bytes([value])
            if isinstance(value, int):
                return b"J" + struct.pack("<i", value)
            if isinstance(value, bytes):
                return b"T" + struct.pack("<i", len(value)) + value
            if isinstance(value, tuple):
                return b"(" + b"".join(map(emit, value)) + b"t"
            if isinstance(value, list):
                return b"](" + b"".join(map(emit, value)) + b"e"
            if isinstance(value, dict):
                return b"}(" + b"".join(emit(k) + emit(v) for k, v in value.items()) + b"u"
            if isinstance(value, np.ndarray):
                dtype = value.dtype.str  # e.g. "|u1", "<f4"
                dtype_pickle = (b"cnumpy\ndtype\n" + emit((dtype[1:].encode(), 0, 1)) + b"R"
                                + emit((3, dtype[0].encode(), None, None, None, -1, -1, 0)) + b"b")
                return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                        + emit((0,)) + emit(b"b") + b"\x87R"
                        + b"(K\x01" + emit(value.shape) + dtype_pickle + emit(False)
                        + emit(value.tobytes()) + b"tb")
            raise TypeError(type(value))
        return b"\x80\x02" + emit(value) + b"."

    @staticmethod
    def mnist_pickle_parts(seed: int = 0) -> tuple:
        """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) shaped like the real one."""
        rng = np.random.default_rng(seed)
        return tuple((rng.random((count, 784), dtype=np.float32),
                      rng.integers(0, 10, count).astype(np.int64))
                     for count in (50, 10, 10))

    @classmethod
    def write_mnist_pickle(cls, path: Path, content, py2: bool = True) -> Path:
        raw = cls.py2_dumps(content) if py2 else pickle.dumps(content, protocol=2)
        return cls.write_gz(path, raw)

    @staticmethod
    def cifar_batches(per_batch: int = 20, seed: int = 0) -> dict[str, dict]:
        """Batch name -> the dict its pickle holds, bytes keys as Python 3 readers see them."""
        rng = np.random.default_rng(seed)
        names = [f"data_batch_{n}" for n in range(1, 6)] + ["test_batch"]
        batches = {name: {b"batch_label": name.encode(),
                          b"labels": [int(label) for label in rng.integers(0, 10, per_batch)],
                          b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                          b"filenames": [b"x.png"] * per_batch}
                   for name in names}
        batches["batches.meta"] = {b"label_names": CIFAR_NAMES, b"num_vis": 3072}
        return batches

    @staticmethod
    def cifar_pickle(value, py2: bool = False) -> bytes:
        return Formats.py2_dumps(value) if py2 else pickle.dumps(value, protocol=2)

    @classmethod
    def write_cifar_archive(cls, path: Path, batches: dict[str, object], py2: bool = False,
                            extra: dict[str, bytes] | None = None) -> Path:
        """cifar-10-python.tar.gz with members cifar-10-batches-py/<name>; `extra` adds members
        with arbitrary names and raw contents."""
        path.parent.mkdir(parents=True, exist_ok=True)
        members = {f"{BATCHES_DIR}/{name}": cls.cifar_pickle(value, py2)
                   for name, value in batches.items()}
        with tarfile.open(path, "w:gz") as tar:
            for name, content in {**(extra or {}), **members}.items():
                cls.add_member(tar, name, content)
        return path

    @classmethod
    def write_cifar_extracted(cls, root: Path, batches: dict[str, object]) -> Path:
        """An extracted root/cifar-10-batches-py/ directory holding `batches`."""
        directory = root / BATCHES_DIR
        directory.mkdir(parents=True)
        for name, value in batches.items():
            (directory / name).write_bytes(cls.cifar_pickle(value))
        return directory

    @staticmethod
    def add_member(tar: tarfile.TarFile, name: str, content: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))

    @staticmethod
    def cifar_images(batch: dict) -> np.ndarray:
        return batch[b"data"].reshape(-1, 3, 32, 32)
