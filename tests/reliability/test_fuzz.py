"""The file readers under property-based fuzzing (hypothesis): whatever bytes they are handed,
each either reads them or refuses them with one StriateError line, within a bound on time;
never another exception (a traceback on the command line), never a hang.

Readers: IDX image and label files, the tutorials' mnist.pkl.gz, CIFAR-10 batches, an image
in an image folder, a checkpoint (model.safetensors and preprocess.safetensors, loaded into a
predictor that then classifies a batch) and a training state. Each is given three kinds of
input: random bytes; a valid file with random edits (bytes overwritten, inserted, deleted, the
end cut); and, where a digest would refuse every edit, a forged file: a valid file rebuilt with
random structure and contents (pickled objects of any shape; checkpoint metadata and tensors
changed, then the digests recomputed as a forger would), so the checks behind the digests are
fuzzed too.

`make test` runs STRIATE_FUZZ_EXAMPLES (default 100) derandomized examples per reader, the same
ones every run; `make fuzz` runs 2,000 new ones each. docs/reliability.md has the counts.
"""

import contextlib
import dataclasses
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import signal
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from safetensors import SafetensorError

from data.conftest import Formats
from helpers import train_run
from striate.checkpoint import (META_KEY, PREPROCESS_FILE, STATE_KEY, WEIGHTS_FILE,
                                SavedPreprocess, load_state, save_preprocess, save_weights,
                                tensor_digest)
from striate.data import load_dataset
from striate.data.datafile import DataFile
from striate.data.digests import Digests
from striate.data.folder import read_folder
from striate.data.idx import read_idx_images, read_idx_labels
from striate.data.mnist import load_mnist_pickle
from striate.data.sources import CIFAR10_BATCHES_DIR, SOURCES
from striate.errors import StriateError
from striate.inference import load_predictor
from striate.runs import TRAIN_STATE

EXAMPLES = int(os.environ.get("STRIATE_FUZZ_EXAMPLES", "100"))
HANG_S = 20  # an input that keeps a reader busy this long counts as a hang, not slowness
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize="STRIATE_FUZZ_RANDOM" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])


class Hang(Exception):
    pass


@contextlib.contextmanager
def bounded_time():
    def stop(signum, frame):
        raise Hang(f"still reading after {HANG_S} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(HANG_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_or_refuse(read) -> object | None:
    """What read() returns, or None if it refused in one line; anything else fails the test,
    a warning included (it would be a second line on stderr)."""
    with bounded_time(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = read()
            event("read")
            return value
        except StriateError as error:
            message = str(error)
            assert message and "\n" not in message, f"a refusal of several lines: {message!r}"
            event("refused")
            return None
        finally:
            assert not caught, f"a warning: {caught[0].message}"


# ---- inputs

def apply_edits(seed: bytes, edits: list) -> bytes:
    data = bytearray(seed)
    for kind, where, chunk in edits:
        at = where % (len(data) + 1)
        if kind == "overwrite":
            data[at:at + len(chunk)] = chunk
        elif kind == "insert":
            data[at:at] = chunk
        elif kind == "delete":
            del data[at:at + len(chunk)]
        else:
            del data[at:]
    return bytes(data)


def edited(seed: bytes) -> st.SearchStrategy[bytes]:
    """`seed` with up to 6 random edits; all-ones and zero words come up often, as real
    corruption and hostile headers have them."""
    chunks = st.one_of(st.binary(min_size=1, max_size=16),
                       st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f",
                                        b"\x80\x00\x00\x00", b"\x00\x00\x00\x01"]))
    edit = st.tuples(st.sampled_from(["overwrite", "overwrite", "insert", "delete", "cut"]),
                     st.integers(0, 2**32 - 1), chunks)
    return st.lists(edit, min_size=1, max_size=6).map(lambda edits: apply_edits(seed, edits))


def any_bytes(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(edited(seed), st.binary(max_size=len(seed) + 64))


DTYPES = ["uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "float16", "float32",
          "float64", "bool", "complex64", ">f4", ">i8", "<U3", "S4"]


def arrays(max_side: int = 6) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(st.sampled_from(DTYPES).map(np.dtype),
                      hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=max_side))


def python_values() -> st.SearchStrategy[object]:
    """Nested containers of what a pickle can hold without naming code."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                       st.binary(max_size=24), st.text(max_size=12), arrays())
    keys = st.one_of(st.binary(max_size=8), st.text(max_size=8), st.integers(-3, 3))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


def shared_references(depth: int) -> list:
    """A list whose two items are one list whose two items are one list...: `depth` levels,
    small as a pickle (memo references) and 2**depth leaves if copied out as a tree."""
    value: list = [np.zeros(2, np.uint8)]
    for _ in range(depth):
        value = [value, value]
    return value


def pickled(value: st.SearchStrategy[object]) -> st.SearchStrategy[bytes]:
    """`value` pickled as Python 3 (protocols 2 to 5) or as Python 2 wrote it."""
    def dump(value: object, protocol: int) -> bytes:
        if protocol == 0:
            with contextlib.suppress(Exception):  # py2 form holds only what Python 2 had
                return Formats.py2_dumps(value)
            protocol = 2
        return pickle.dumps(value, protocol=protocol)
    return st.builds(dump, value, st.sampled_from([0, 2, 3, 4, 5]))


# ---- IDX files

IDX_IMAGES = Formats.idx_bytes(np.arange(3 * 5 * 4, dtype=np.uint8).reshape(3, 5, 4))
IDX_LABELS = Formats.idx_bytes(np.array([0, 7, 9], np.uint8))


@FUZZ
@given(content=st.one_of(any_bytes(IDX_IMAGES), any_bytes(IDX_LABELS)),
       compress=st.booleans(), labels=st.booleans())
def test_idx_files(tmp_path_factory, content, compress, labels):
    path = tmp_path_factory.mktemp("idx") / ("t10k-labels-idx1-ubyte" if labels
                                              else "t10k-images-idx3-ubyte")
    path.write_bytes(gzip.compress(content) if compress else content)
    reader = read_idx_labels if labels else read_idx_images
    array = read_or_refuse(lambda: reader(DataFile(path, "mnist")))
    if array is not None:
        assert array.dtype == np.uint8 and array.ndim == (1 if labels else 4)


# ---- mnist.pkl.gz

def mnist_parts() -> st.SearchStrategy[object]:
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)), any part possibly wrong."""
    split = st.tuples(st.one_of(arrays(), python_values(),
                                hnp.arrays(np.float32, st.tuples(st.integers(0, 4),
                                                                 st.sampled_from([784, 783])))),
                      st.one_of(arrays(), python_values()))
    return st.one_of(st.tuples(split, split, split), python_values())


def shared_reference_pickles(place) -> st.SearchStrategy[bytes]:
    """Pickles of place(a structure of shared references): Python 3's pickler writes each
    shared list once (the test's Python 2 writer would write out every copy)."""
    dag = st.integers(1, 64).map(shared_references)
    return st.builds(lambda value: pickle.dumps(value, protocol=2), place(dag))


def mnist_dag(dag: st.SearchStrategy[list]) -> st.SearchStrategy[object]:
    images = hnp.arrays(np.float32, (2, 784), elements=st.floats(0, 1, width=32))
    split = st.tuples(images, hnp.arrays(np.int64, 2, elements=st.integers(0, 9)))
    return st.one_of(dag, st.tuples(st.tuples(dag, dag), split, split),
                     st.tuples(split, st.tuples(images, dag), split))


VALID_MNIST_PICKLE = gzip.compress(Formats.py2_dumps(Formats.mnist_pickle_parts()))


@FUZZ
@given(content=st.one_of(pickled(mnist_parts()), shared_reference_pickles(mnist_dag),
                         any_bytes(VALID_MNIST_PICKLE)))
def test_mnist_pickle(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("pkl") / "mnist.pkl.gz"
    path.write_bytes(content if content[:2] == b"\x1f\x8b" else gzip.compress(content))
    dataset = read_or_refuse(lambda: load_mnist_pickle(path))
    if dataset is not None:
        assert dataset.train.images.ndim == 4 and dataset.train.images.dtype == np.float32


# ---- CIFAR-10 batches (an extracted cifar-10-batches-py/, its MD5s taken as the official)

BATCHES = {name: Formats.cifar_pickle(value)
           for name, value in Formats.cifar_batches(per_batch=3).items()}


def cifar_batch() -> st.SearchStrategy[object]:
    keys = st.sampled_from([b"data", b"labels", b"batch_label", b"filenames", "data", b"x"])
    near = st.dictionaries(keys, st.one_of(
        arrays(), python_values(),
        hnp.arrays(np.uint8, st.tuples(st.integers(0, 3), st.sampled_from([3072, 3071]))),
        st.lists(st.integers(-2, 12), max_size=4)), max_size=4)
    return st.one_of(near, python_values())


def cifar_dag(dag: st.SearchStrategy[list]) -> st.SearchStrategy[object]:
    data = hnp.arrays(np.uint8, (2, 3072))
    return st.one_of(st.fixed_dictionaries({b"data": dag, b"labels": dag}),
                     st.fixed_dictionaries({b"data": data, b"labels": dag}))


@FUZZ
@given(name=st.sampled_from(["data_batch_1", "test_batch", "batches.meta"]),
       content=st.one_of(pickled(cifar_batch()), shared_reference_pickles(cifar_dag),
                         any_bytes(BATCHES["data_batch_1"]),
                         any_bytes(BATCHES["batches.meta"])))
def test_cifar_batches(tmp_path_factory, name, content):
    root = tmp_path_factory.mktemp("cifar")
    directory = root / CIFAR10_BATCHES_DIR
    directory.mkdir()
    files = {**BATCHES, name: content}
    for file_name, file_bytes in files.items():
        (directory / file_name).write_bytes(file_bytes)
    official = {f"{CIFAR10_BATCHES_DIR}/{file_name}":
                Digests(frozenset({hashlib.md5(file_bytes).hexdigest()}))
                for file_name, file_bytes in files.items()}
    source = dataclasses.replace(SOURCES["cifar10-batches"], files=official)
    with mock.patch.dict(SOURCES, {"cifar10-batches": source}):
        dataset = read_or_refuse(lambda: load_dataset("cifar10", root, download=False))
    if dataset is not None:
        assert dataset.train.images.shape[1:] == (3, 32, 32)


# ---- an image in an image folder

def image_bytes(image: Image.Image, image_format: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format)
    return out.getvalue()


GRAY = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8))
SEED_IMAGES = {fmt: image_bytes(GRAY if fmt != "JPEG" else GRAY.convert("RGB"), fmt)
               for fmt in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")}
MODES = {"1": np.bool_, "L": np.uint8, "P": np.uint8, "RGB": np.uint8, "RGBA": np.uint8,
         "LA": np.uint8, "I;16": np.uint16, "I": np.int32, "F": np.float32, "CMYK": np.uint8}


@st.composite
def odd_images(draw) -> bytes:
    """A valid image of any mode Pillow writes, odd sizes and extreme pixel values included."""
    mode = draw(st.sampled_from(sorted(MODES)))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    bands = {"RGB": 3, "RGBA": 4, "LA": 2, "CMYK": 4}.get(mode)
    shape = (height, width, bands) if bands else (height, width)
    pixels = draw(hnp.arrays(MODES[mode], shape))
    image = (Image.fromarray(pixels.astype(np.uint8), "L").convert(mode) if mode in ("1", "P")
             else Image.frombytes(mode, (width, height), pixels.tobytes()))
    formats = {"F": ["TIFF"], "I": ["TIFF", "PNG"], "I;16": ["TIFF", "PNG"],
               "CMYK": ["TIFF", "JPEG"], "LA": ["PNG", "TIFF"]}.get(
        mode, ["PNG", "BMP", "TIFF", "GIF", "WEBP"])
    fmt = draw(st.sampled_from(formats))
    with contextlib.suppress(OSError, ValueError, KeyError):  # not every format takes every mode
        return image_bytes(image, fmt)
    return SEED_IMAGES["PNG"]


@FUZZ
@given(content=st.one_of(odd_images(), *(any_bytes(seed) for seed in SEED_IMAGES.values())),
       suffix=st.sampled_from([".png", ".jpg", ".tif", ".gif"]))
def test_an_image_in_an_image_folder(tmp_path_factory, content, suffix):
    root = tmp_path_factory.mktemp("folder")
    for name in ("a/1.png", "a/2.png", "b/1.png", "b/2.png"):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(SEED_IMAGES["PNG"])
    (root / "b" / f"fuzzed{suffix}").write_bytes(content)
    images = read_or_refuse(lambda: read_folder(root, image_size=(6, 8)))
    if images is not None:
        assert images.train.images.shape[1:] in ((1, 6, 8), (3, 6, 8))


# ---- checkpoints and training states

@pytest.fixture(scope="module")
def seed_run(tmp_path_factory) -> Path:
    """A finished run to take apart: an MLP on digits with PCA whitening, whose checkpoint
    holds every kind of tensor and metadata a reader must check."""
    return train_run("--dataset", "digits", "--model", "mlp", "--model-arg", "hidden=[8]",
                     "--preprocess", "pca-whiten", "--epochs", "1", "--progress", "off",
                     "--out-dir", tmp_path_factory.mktemp("runs"), "--name", "seed")


def safetensors_parts(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        return ({name: handle.get_tensor(name) for name in handle.keys()},
                json.loads(handle.metadata()[META_KEY]))


def json_values() -> st.SearchStrategy[object]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**64, 2**64),
                       st.floats(allow_nan=False), st.text(max_size=12),
                       st.sampled_from(["torch", "numpy", "mlp", "lenet", "pca-whiten", "zca",
                                        "standardize", "cuda", "../../x"]))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
        max_leaves=8)


def replace_at(value: object, path: list[int], new: object) -> object:
    """`value` with the node that `path` (indices into each container's items) leads to
    replaced by `new`."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return new
    if isinstance(value, dict):
        key = sorted(value)[path[0] % len(value)]
        return {**value, key: replace_at(value[key], path[1:], new)}
    index = path[0] % len(value)
    return [*value[:index], replace_at(value[index], path[1:], new), *value[index + 1:]]


@st.composite
def forgeries(draw) -> dict:
    """Edits a forger would make: metadata values and tensors replaced, then digests redone."""
    return {"meta": draw(st.lists(st.tuples(st.lists(st.integers(0, 99), max_size=4),
                                            json_values()), max_size=3)),
            "tensors": draw(st.lists(st.tuples(st.integers(0, 99), arrays(max_side=12)),
                                     max_size=2)),
            "preprocess": draw(st.booleans())}


def forge(run: Path, forgery: dict) -> None:
    """Rewrite the run's weights (or its preprocessing) with the forgery's edits, with every
    digest recomputed so that the file passes them."""
    target = run / (PREPROCESS_FILE if forgery["preprocess"] else WEIGHTS_FILE)
    tensors, meta = safetensors_parts(target)
    for path, value in forgery["meta"]:
        meta = replace_at(meta, path, value)
    meta = meta if isinstance(meta, dict) else {"forged": meta}
    for index, array in forgery["tensors"]:
        names = sorted(tensors)
        tensors[names[index % len(names)] if names else "x"] = array
    weights, weights_meta = safetensors_parts(run / WEIGHTS_FILE)
    if forgery["preprocess"]:
        try:
            saved = save_preprocess(target, tensors, meta)
        except (ValueError, TypeError, SafetensorError):
            return
        tensors, meta = weights, weights_meta
    else:
        preprocess_tensors, _ = safetensors_parts(run / PREPROCESS_FILE)
        saved = SavedPreprocess(run / PREPROCESS_FILE, tensor_digest(preprocess_tensors))
    meta = {key: value for key, value in meta.items() if key not in ("preprocess_file", "sha256")}
    with contextlib.suppress(ValueError, TypeError, SafetensorError):  # a dtype it won't write
        save_weights(run / WEIGHTS_FILE, tensors, meta, saved)


def use_checkpoint(run: Path) -> None:
    """Load the run's checkpoint as `striate predict` does and classify a batch with it."""
    log_proba, meta, preprocess = load_predictor(run, None, "cpu")
    images = np.zeros((2, 1, 8, 8), np.uint8)
    scores = log_proba(preprocess.apply(images, 16.0))
    assert scores.shape[0] == 2


@FUZZ
@given(target=st.sampled_from([WEIGHTS_FILE, PREPROCESS_FILE]), data=st.data())
def test_a_checkpoint_edited(tmp_path_factory, seed_run, target, data):
    run = tmp_path_factory.mktemp("edited") / "run"
    shutil.copytree(seed_run, run)
    (run / target).write_bytes(data.draw(any_bytes((seed_run / target).read_bytes())))
    read_or_refuse(lambda: use_checkpoint(run))


@FUZZ
@given(forgery=forgeries())
def test_a_checkpoint_forged(tmp_path_factory, seed_run, forgery):
    run = tmp_path_factory.mktemp("forged") / "run"
    shutil.copytree(seed_run, run)
    forge(run, forgery)
    read_or_refuse(lambda: use_checkpoint(run))


@FUZZ
@given(data=st.data())
def test_a_training_state(tmp_path_factory, seed_run, data):
    """Edited bytes, or the state's JSON forged: any node replaced, references to arrays
    among the replacements, the arrays kept."""
    from safetensors import safe_open
    from safetensors.numpy import save

    seed = (seed_run / TRAIN_STATE).read_bytes()
    with safe_open(str(seed_run / TRAIN_STATE), framework="np") as handle:
        arrays = {name: handle.get_tensor(name) for name in handle.keys()}
        state = json.loads(handle.metadata()[STATE_KEY])
    references = st.sampled_from([{"$array": name} for name in sorted(arrays)] +
                                 [{"$array": "missing"}, {"$tuple": 3}, {"$items": [[1]]}])
    for path, value in data.draw(st.lists(st.tuples(
            st.lists(st.integers(0, 99), max_size=5),
            st.one_of(json_values(), references)), max_size=3)):
        state = replace_at(state, path, value)
    content = data.draw(st.one_of(any_bytes(seed), st.just(
        save(arrays, metadata={STATE_KEY: json.dumps(state)}))))
    path = tmp_path_factory.mktemp("state") / TRAIN_STATE
    path.write_bytes(content)
    read_or_refuse(lambda: load_state(path))


def test_a_message_quoting_several_lines_stays_one_line():
    """Found by the pickle fuzzing: Python's UnpicklingError for a persistent id spans two
    lines, and was quoted as it stood."""
    quoted = "A load persistent id instruction was encountered,\nbut no persistent_load"
    assert str(StriateError(f"x.pkl: not a valid pickle ({quoted}); delete it")) == (
        "x.pkl: not a valid pickle (A load persistent id instruction was encountered, but no "
        "persistent_load); delete it")
