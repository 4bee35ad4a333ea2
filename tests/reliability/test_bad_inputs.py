"""The bad-input catalogue: every way of handing striate something wrong that we know of.

Each case builds one bad input (a data set file, an image folder, a config file, a flag, a
checkpoint) in its own folder and runs the real command line on it. Every case must end the same
way: exit status 2, one line `striate: error: ...` naming the problem and a fix, no traceback, no
warning, and every file that existed before (the inputs, the output directory, the shared run)
exactly as it was. docs/reliability.md lists the cases and the messages.
"""

import dataclasses
import io
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from data.conftest import Formats, accept, isolated_lookup  # noqa: F401 (fixtures)
from helpers import resave, train_run, tree_snapshot
from striate.checkpoint import (PREPROCESS_FILE, STATE_KEY, WEIGHTS_FILE, load_state,
                                load_weights, read_checkpoint, save_state)
from striate.data import load_dataset
from striate.data.sources import (CIFAR10_ARCHIVE, MNIST_PICKLE, TEST_LABELS, TRAIN_IMAGES,
                                  TRAIN_LABELS)
from striate.runs import TRAIN_STATE


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """One tiny finished run (logistic regression on digits, one epoch) for the checkpoint and
    resume cases; cases that change it change a copy."""
    return train_run("--dataset", "digits", "--model", "logreg", "--epochs", "1", "--progress",
                     "off", "--out-dir", tmp_path_factory.mktemp("runs"), "--name", "tiny")


@dataclasses.dataclass
class Workspace:
    inputs: Path                          # where a case writes its bad files
    run: Path                             # the shared run: read it, or change a copy_of_run()
    accept: Callable[[str, Path], None]   # accept(source, directory): trust these files' MD5s

    def copy_of_run(self) -> Path:
        return Path(shutil.copytree(self.run, self.inputs / "run"))


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Workspace], list]  # writes the bad input; returns the command's arguments
    problem: str                        # what the message must say is wrong
    fix: str                            # and what it must tell the user to do


# ---- data set files: MNIST's IDX files, mnist.pkl.gz, CIFAR-10's pickled batches

def train_on(dataset: str, data_dir: Path) -> list:
    return ["train", "--dataset", dataset, "--data-dir", data_dir, "--no-download"]


def mnist_idx(edit: Callable[[Path], None], trusted: bool = True):
    """MNIST's four gzipped IDX files with `edit(directory)` applied; trusted: their MD5s are
    accepted as the official ones, so the parser itself has to find the damage."""
    def build(ws: Workspace) -> list:
        directory = ws.inputs / "mnist"
        Formats.write_mnist_idx(directory)
        edit(directory)
        if trusted:
            ws.accept("mnist", directory)
        return train_on("mnist", directory)
    return build


def cut_in_half(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])


def garble(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[:20] + bytes(b ^ 0xFF for b in raw[20:60]) + raw[60:])


def images_with(magic: int | None = None, drop_bytes: int = 0) -> Callable[[Path], None]:
    """Rewrite the training images with another IDX magic, or without their last bytes."""
    def edit(directory: Path) -> None:
        images = np.zeros((30, 28, 28), np.uint8)
        raw = Formats.idx_bytes(images, magic)
        Formats.write_gz(directory / TRAIN_IMAGES, raw[:len(raw) - drop_bytes])
    return edit


def labels_with(labels: np.ndarray, name: str = TRAIN_LABELS) -> Callable[[Path], None]:
    return lambda directory: Formats.write_gz(directory / name, Formats.idx_bytes(labels))


def mnist_pickle(content, py2: bool = True, keep_bytes: int | None = None):
    """mnist.pkl.gz holding `content`, pickled as Python 2 did unless py2=False, cut to its
    first keep_bytes if given; its MD5 trusted."""
    def build(ws: Workspace) -> list:
        raw = Formats.py2_dumps(content) if py2 else pickle.dumps(content, protocol=2)
        path = Formats.write_gz(ws.inputs / "mnist" / MNIST_PICKLE, raw[:keep_bytes])
        ws.accept("mnist-pickle", path.parent)
        return train_on("mnist", path.parent)
    return build


def pickled_mnist_parts(edit: Callable[[list], None]) -> tuple:
    """mnist.pkl.gz's ((x, y), (x, y), (x, y)) after `edit` on its list of [x, y] lists."""
    parts = [list(part) for part in Formats.mnist_pickle_parts()]
    edit(parts)
    return tuple(tuple(part) for part in parts)


def cifar_archive(edit: Callable[[dict], None]):
    """cifar-10-python.tar.gz of tiny batches, `edit(batches)` applied first; MD5 trusted."""
    def build(ws: Workspace) -> list:
        batches = Formats.cifar_batches()
        edit(batches)
        path = Formats.write_cifar_archive(ws.inputs / CIFAR10_ARCHIVE, batches)
        ws.accept("cifar10", ws.inputs)
        return train_on("cifar10", path.parent)
    return build


def cut_archive(ws: Workspace) -> list:
    path = Formats.write_cifar_archive(ws.inputs / CIFAR10_ARCHIVE, Formats.cifar_batches())
    path.write_bytes(path.read_bytes()[:-200])
    ws.accept("cifar10", ws.inputs)
    return train_on("cifar10", ws.inputs)


def extracted_batch_changed(ws: Workspace) -> list:
    """Extracted batches taken for the official ones, then a label of one of them changed."""
    batches = Formats.cifar_batches()
    directory = Formats.write_cifar_extracted(ws.inputs, batches)
    ws.accept("cifar10-batches", ws.inputs)
    batches["data_batch_2"][b"labels"][0] = (batches["data_batch_2"][b"labels"][0] + 1) % 10
    (directory / "data_batch_2").write_bytes(Formats.cifar_pickle(batches["data_batch_2"]))
    return train_on("cifar10", ws.inputs)


# ---- image folders

def gray(value: int = 128, size: tuple[int, int] = (4, 4)) -> Image.Image:
    return Image.new("L", (size[1], size[0]), value)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


TWO_CLASSES = {"a/1.png": gray(10), "a/2.png": gray(20), "b/1.png": gray(30), "b/2.png": gray(40)}


FIFO = "fifo"  # in folder() and predict_file(): a named pipe, whose open() would block
FLOAT_TIFF = Image.fromarray(np.linspace(0, 1000, 16, dtype=np.float32).reshape(4, 4))


def folder(files: dict[str, object]):
    """An image folder: {relative path: PIL image, raw bytes, FIFO, or None for an empty
    folder}."""
    def build(ws: Workspace) -> list:
        root = ws.inputs / "images"
        root.mkdir()
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                path.mkdir()
            elif content is FIFO:
                os.mkfifo(path)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                content.save(path)
        return ["train", "--dataset", "folder", "--data-dir", root]
    return build


def predict_file(name: str, content: bytes | None):
    """`striate predict RUN FILE`, the file holding `content` (None: it does not exist)."""
    def build(ws: Workspace) -> list:
        path = ws.inputs / name
        if content is FIFO:
            os.mkfifo(path)
        elif content is not None:
            path.write_bytes(content)
        return ["predict", ws.run, path]
    return build


# ---- config files and flags

def config_file(text: str):
    def build(ws: Workspace) -> list:
        path = ws.inputs / "settings.yaml"
        path.write_text(text)
        return ["train", "--dataset", "digits", "--config", path]
    return build


def flags(*args):
    return lambda ws: ["train", "--dataset", "digits", *args]


# ---- checkpoints and training states

def tensor_bytes_flipped(path: Path, tensor: str) -> None:
    """Change the lowest bit of `tensor`'s first byte inside a safetensors file: the header
    stays valid, so only a checksum can tell."""
    raw = bytearray(path.read_bytes())
    header_size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_size])
    raw[8 + header_size + header[tensor]["data_offsets"][0]] ^= 0x01
    path.write_bytes(bytes(raw))


def tampered(tensor: str, file: str = WEIGHTS_FILE):
    """`striate evaluate` of a copy of the run whose `file` has one bit of `tensor` flipped."""
    def build(ws: Workspace) -> list:
        run = ws.copy_of_run()
        tensor_bytes_flipped(run / file, tensor)
        return ["evaluate", run]
    return build


def resaved(change: Callable[[dict, dict], None]):
    """The run's checkpoint written again by save_weights after `change(tensors, meta)`."""
    def build(ws: Workspace) -> list:
        return ["evaluate", resave(ws.run, ws.inputs / "changed.safetensors", change)]
    return build


def without_metadata(ws: Workspace) -> list:
    from safetensors.numpy import save_file

    path = ws.inputs / "foreign.safetensors"
    save_file({"output.weight": np.zeros((10, 64), np.float32)}, str(path))
    return ["evaluate", path]


def checkpoint_bytes(make: Callable[[Workspace], bytes], name: str = "model.safetensors"):
    def build(ws: Workspace) -> list:
        path = ws.inputs / name
        path.write_bytes(make(ws))
        return ["evaluate", path]
    return build


def torch_saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def resume_with_state(make: Callable[[Workspace], bytes]):
    """`train --resume` of a copy of the run whose train state file holds `make(ws)`."""
    def build(ws: Workspace) -> list:
        run = ws.copy_of_run()
        (run / TRAIN_STATE).write_bytes(make(ws))
        return ["train", "--resume", run]
    return build


def cut_state(ws: Workspace) -> bytes:
    return (ws.run / TRAIN_STATE).read_bytes()[:300]


def safetensors_with(metadata: dict) -> Callable[[Workspace], bytes]:
    """A safetensors file of one tensor, named "0", and `metadata`."""
    from safetensors.numpy import save

    return lambda ws: save({"0": np.zeros(2, np.float32)}, metadata=metadata)


def saved_state(ws: Workspace, state: dict) -> bytes:
    """`state` as save_state writes it: well-formed, whatever it holds."""
    save_state(ws.inputs / "state", state)
    return (ws.inputs / "state").read_bytes()


def edited_state(edit: Callable[[dict], None]) -> Callable[[Workspace], bytes]:
    """The run's own train state with `edit(state)` applied."""
    def make(ws: Workspace) -> bytes:
        state = load_state(ws.run / TRAIN_STATE)
        edit(state)
        return saved_state(ws, state)
    return make


# ---- pickles that run code when unpickled: os.system("touch WS/pwned")

PWNED = "pwned"


def hostile(ws: Workspace) -> Formats.Malicious:
    return Formats.Malicious(ws.inputs / PWNED)


def hostile_mnist_pickle(ws: Workspace) -> list:
    return mnist_pickle(hostile(ws), py2=False)(ws)


def hostile_cifar_batch(ws: Workspace) -> list:
    return cifar_archive(lambda b: b["data_batch_4"].update({b"labels": hostile(ws)}))(ws)


def hostile_extracted_batch(ws: Workspace) -> list:
    """An extracted cifar-10-batches-py/ directory with a hostile batch, its MD5 trusted (as
    if the official one), so that the unpickler itself meets the payload."""
    batches = {**Formats.cifar_batches(), "test_batch": hostile(ws)}
    Formats.write_cifar_extracted(ws.inputs, batches)
    ws.accept("cifar10-batches", ws.inputs)
    return train_on("cifar10", ws.inputs)


# A torch.save file, as earlier versions of striate wrote train states: a pickle inside.
hostile_train_state = resume_with_state(lambda ws: torch_saved({"loop": hostile(ws)}))
hostile_model_file = checkpoint_bytes(lambda ws: pickle.dumps(hostile(ws), protocol=2))
HOSTILE = {"mnist.pkl.gz": hostile_mnist_pickle, "cifar-archive-batch": hostile_cifar_batch,
           "cifar-extracted-batch": hostile_extracted_batch, "train-state": hostile_train_state,
           "model.safetensors": hostile_model_file}


def data_dir_is_a_file(ws: Workspace) -> list:
    path = ws.inputs / "images.zip"
    path.write_bytes(b"PK")
    return ["train", "--dataset", "folder", "--data-dir", path]


def train_state_of_another_kind(ws: Workspace) -> bytes:
    return saved_state(ws, {"weights": np.zeros(3)})


def set_meta(**changes) -> Callable[[dict, dict], None]:
    return lambda tensors, meta: meta.update(changes)


UNPARSEABLE = "not a readable safetensors checkpoint"
CASES = [
    # MNIST's IDX files
    Case("idx-truncated-gzip", mnist_idx(lambda d: cut_in_half(d / TRAIN_IMAGES)),
         "truncated or corrupt", "run `striate download mnist`"),
    Case("idx-corrupt-gzip", mnist_idx(lambda d: garble(d / TRAIN_LABELS)),
         "truncated or corrupt", "run `striate download mnist`"),
    Case("idx-neither-gzip-nor-idx",
         mnist_idx(lambda d: (d / TRAIN_IMAGES).write_bytes(b"<ht")),
         "too short for an IDX image file", "run `striate download mnist`"),
    Case("idx-wrong-magic", mnist_idx(images_with(magic=0x0D03)),
         "not an IDX file of unsigned bytes", "run `striate download mnist`"),
    Case("idx-wrong-dimension-count", mnist_idx(images_with(magic=0x0802)),
         "2 dimensions instead of 3", "run `striate download mnist`"),
    Case("idx-shorter-than-its-header-says", mnist_idx(images_with(drop_bytes=100)),
         "but its header (30, 28, 28) says", "run `striate download mnist`"),
    Case("idx-image-and-label-counts-differ",
         mnist_idx(labels_with(np.zeros(11, np.uint8), TEST_LABELS)),
         "holds 12 images but", "delete them and run `striate download mnist`"),
    Case("idx-label-outside-the-classes", mnist_idx(labels_with(np.full(30, 10, np.uint8))),
         "label 10 is outside 0..9", "run `striate download mnist`"),
    Case("idx-checksum-mismatch", mnist_idx(lambda d: None, trusted=False),
         "damaged or not the official file", "run `striate download mnist`"),
    Case("idx-file-missing", mnist_idx(lambda d: (d / TRAIN_LABELS).unlink(), trusted=False),
         "mnist not found", "run `striate download mnist`"),
    # mnist.pkl.gz
    Case("pickle-not-three-splits", mnist_pickle({b"x": 1}),
         "expected a pickled ((train_x, train_y)", "run `striate download mnist`"),
    Case("pickle-images-wrong-shape", mnist_pickle(pickled_mnist_parts(
        lambda parts: parts[0].__setitem__(0, np.zeros((50, 100), np.float32)))),
         "images must be an (N, 784) float array", "run `striate download mnist`"),
    Case("pickle-labels-not-integers", mnist_pickle(pickled_mnist_parts(
        lambda parts: parts[2].__setitem__(1, np.zeros(10, np.float32)))),
         "labels must be an (N,) integer array", "run `striate download mnist`"),
    Case("pickle-truncated",
         mnist_pickle(Formats.mnist_pickle_parts(), keep_bytes=500),
         "not a valid pickle", "run `striate download mnist`"),
    Case("pickle-runs-code", hostile_mnist_pickle,
         "refusing to unpickle posix.system", "run `striate download mnist`"),
    # CIFAR-10 batches
    Case("cifar-batch-wrong-keys", cifar_archive(lambda b: b["data_batch_1"].pop(b"data")),
         "needs the keys b'data' and b'labels'", "run `striate download cifar10`"),
    Case("cifar-batch-wrong-shape", cifar_archive(lambda b: b["data_batch_3"].update(
        {b"data": b["data_batch_3"][b"data"][:, :1024]})),
         "b'data' must be an (N, 3072) uint8 array", "run `striate download cifar10`"),
    Case("cifar-batch-float-pixels", cifar_archive(lambda b: b["test_batch"].update(
        {b"data": b["test_batch"][b"data"].astype(np.float32)})),
         "got a float32 array", "run `striate download cifar10`"),
    Case("cifar-labels-not-integers", cifar_archive(lambda b: b["data_batch_2"].update(
        {b"labels": ["cat"] * 20})),
         "b'labels' must be a list of integers", "run `striate download cifar10`"),
    Case("cifar-batch-not-a-dict", cifar_archive(lambda b: b.update({"test_batch": [1, 2]})),
         "expected a pickled dict, got a list", "run `striate download cifar10`"),
    Case("cifar-batch-missing", cifar_archive(lambda b: b.pop("data_batch_5")),
         "no cifar-10-batches-py/data_batch_5 in it", "run `striate download cifar10`"),
    Case("cifar-archive-truncated", cut_archive,
         "truncated or corrupt", "run `striate download cifar10`"),
    Case("cifar-batch-runs-code", hostile_cifar_batch,
         "refusing to unpickle posix.system", "run `striate download cifar10`"),
    Case("cifar-extracted-batch-runs-code", hostile_extracted_batch,
         "refusing to unpickle posix.system", "run `striate download cifar10`"),
    Case("cifar-extracted-batch-changed", extracted_batch_changed,
         "data_batch_2: MD5", "so it is damaged or not the official file"),
    # image folders and image files
    Case("folder-empty", folder({}), "no class folders in", "lay the images out as"),
    Case("folder-class-without-images", folder({**TWO_CLASSES, "c": None}),
         "has no images", "add some or remove the folder"),
    Case("folder-class-with-one-image", folder({**TWO_CLASSES, "c/1.png": gray(50)}),
         "has only one image", "add images"),
    Case("folder-non-image-file", folder({**TWO_CLASSES, "b/notes.txt": b"hello"}),
         "notes.txt: not a readable image", "remove it or replace it"),
    Case("folder-truncated-png", folder({**TWO_CLASSES, "a/3.png": png_bytes(gray())[:40]}),
         "3.png: not a readable image", "remove it or replace it"),
    Case("folder-fifo-named-png", folder({**TWO_CLASSES, "a/3.png": FIFO}),
         "3.png: not a readable image (not a regular file)", "remove it"),
    Case("predict-fifo", predict_file("pipe.png", FIFO),
         "pipe.png: not a readable image (not a regular file)", "give an image file"),
    Case("folder-float-image-out-of-range", folder({**TWO_CLASSES, "a/3.tif": FLOAT_TIFF}),
         "float pixels from 0 to 1000", "remove it or replace it"),
    Case("folder-mixed-sizes", folder({**TWO_CLASSES, "a/3.png": gray(size=(6, 4))}),
         "images differ in size", "pass --image-size HxW"),
    Case("folder-train-test-classes-differ",
         folder({"train/a/1.png": gray(), "train/b/1.png": gray(), "test/a/1.png": gray()}),
         "only in train: ['b']", "give both the same class folders"),
    Case("folder-does-not-exist",
         lambda ws: ["train", "--dataset", "folder", "--data-dir", ws.inputs / "nowhere"],
         "does not exist", "pass --data-dir ROOT"),
    Case("folder-is-a-file", data_dir_is_a_file, "is not a folder", "pass --data-dir ROOT"),
    Case("folder-without-data-dir", flags("--dataset", "folder"),
         "needs --data-dir", "ROOT/<class>/<image>"),
    Case("flag-image-size-for-a-fixed-data-set", flags("--image-size", "32x32"),
         "apply only to the folder data set", "drop --image-size"),
    Case("predict-non-image", predict_file("notes.png", b"not an image"),
         "notes.png: not a readable image", "remove it or replace it"),
    Case("predict-truncated-jpeg", predict_file("cut.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
         "cut.jpg: not a readable image", "remove it or replace it"),
    Case("predict-missing-image", predict_file("absent.png", None),
         "absent.png: not a readable image (no such file)", "check the path"),
    # config files
    Case("yaml-unknown-setting", config_file("optim: {lrate: 0.1}\n"),
         "unknown setting optim.lrate", "use one of optimizer, lr"),
    Case("yaml-unknown-section", config_file("training: {lr: 0.1}\n"),
         "unknown section 'training'", "use one of data, model"),
    Case("yaml-float-expected", config_file("optim: {lr: fast}\n"),
         "lr must be float, got 'fast'", "leave it out for the default (0.05)"),
    Case("yaml-int-expected", config_file("optim: {batch_size: 2.5}\n"),
         "batch_size must be int, got 2.5", "change it"),
    Case("yaml-bool-for-int", config_file("stop: {epochs: true}\n"),
         "epochs must be int, got True", "change it"),
    Case("yaml-not-a-choice", config_file("schedule: {schedule: linear}\n"),
         "schedule must be one of constant, inverse-time", "change it"),
    Case("yaml-not-finite", config_file("optim: {lr: .nan}\n"),
         "lr must be a finite number", "leave it out for the default"),
    Case("yaml-empty-value", config_file("optim: {lr: }\n"),
         "lr cannot be empty", "give it a value"),
    Case("yaml-list-at-top", config_file("- 1\n- 2\n"),
         "expected sections like `optim:`", "e.g. `optim: {lr: 0.1}`"),
    Case("yaml-section-not-a-mapping", config_file("optim: [1, 2]\n"),
         "section 'optim' must be a mapping", "write it as `optim: {setting: value}`"),
    Case("yaml-syntax-error", config_file("optim: {lr: 0.1\n"),
         "is not valid YAML at line", "fix the syntax"),
    Case("yaml-missing-file", lambda ws: ["train", "--config", ws.inputs / "absent.yaml"],
         "cannot read config", "check the path"),
    Case("yaml-duplicate-key", config_file("optim:\n  lr: 0.1\n  lr: 0.2\n"),
         "at line 3: 'lr' is given twice", "keep one of them"),
    Case("yaml-python-object", config_file("optim: !!python/object:os.system {}\n"),
         "could not determine a constructor for the tag", "remove the tag"),
    # flags: sizes and rates
    Case("flag-zero-learning-rate", flags("--lr", "0"), "--lr must be a positive number, got 0.0",
         "leave it out for the default (0.05)"),
    Case("flag-learning-rate-beyond-float32", flags("--lr", "1e39"),
         "--lr must be at most 3.4e+38, the largest float32, got 1e+39",
         "leave it out for the default (0.05)"),
    Case("flag-translate-wider-than-image", flags("--model", "logreg", "--translate", "100"),
         "--translate 100 must be smaller than the 8-pixel images it shifts", "try 2 to 4"),
    Case("flag-negative-batch-size", flags("--batch-size", "-5"),
         "--batch-size must be a positive number", "change it"),
    Case("flag-zero-epochs", flags("--epochs", "0"), "--epochs must be a positive number",
         "change it"),
    Case("flag-momentum-above-one", flags("--momentum", "1.5"), "--momentum must be in [0, 1)",
         "leave it out for the default (0.9)"),
    Case("flag-negative-weight-decay", flags("--weight-decay", "-1"),
         "--weight-decay must be >= 0", "change it"),
    Case("flag-zero-image-side", flags("--dataset", "folder", "--data-dir", ".",
                                       "--image-size", "0x32"),
         "--image-size sides must be between 1 and 4096", "change it"),
    Case("flag-zero-valid-size", flags("--valid-size", "0"),
         "--valid-size must be a positive number", "change it"),
    Case("flag-valid-size-too-large", flags("--valid-size", "5000", "--model", "logreg"),
         "validation size 5000 does not fit", "choose a size from 1 to"),
    Case("flag-one-fold", flags("--folds", "1"), "--folds must be at least 2", "leave it out"),
    Case("flag-not-a-number", flags("--lr", "fast"), "invalid float value: 'fast'",
         "see `striate train --help`"),
    Case("flag-unknown", flags("--frobnicate"), "unrecognized arguments: --frobnicate",
         "see `striate --help`"),
    Case("flag-unknown-model", flags("--model", "alexnet"), "unknown model 'alexnet'",
         "choose one of"),
    Case("flag-unknown-model-option", flags("--model", "mlp", "--model-arg", "depth=3"),
         "has no option 'depth'", "its options are"),
    Case("flag-unknown-data-set", flags("--dataset", "imagenet"), "imagenet", "choose one of"),
    Case("flag-crop-wider-than-image", flags("--model", "logreg", "--crop-padding", "8"),
         "--crop-padding 8 must be smaller than the 8-pixel images", "try 2 to 4"),
    Case("flag-run-name-leaves-out-dir", flags("--name", "../elsewhere"),
         "--name must be a plain directory name", "use --out-dir"),
    Case("flag-tta-on-digits", lambda ws: ["predict", "--tta", ws.run, ws.run / "x.png"],
         "mirroring digits images changes their class", "drop --tta"),
    # checkpoints and training states
    Case("checkpoint-missing", lambda ws: ["evaluate", ws.inputs / "nothing"],
         "no checkpoint at", "give a run directory or its model.safetensors"),
    Case("checkpoint-truncated",
         checkpoint_bytes(lambda ws: (ws.run / WEIGHTS_FILE).read_bytes()[:100]),
         UNPARSEABLE, "use another checkpoint"),
    Case("checkpoint-tampered-weight", tampered("output.weight"),
         "its model weights do not match the SHA-256 digest", "train the model again"),
    Case("checkpoint-tampered-preprocessing", tampered("mean", PREPROCESS_FILE),
         "its preprocessing tensors do not match the SHA-256 digest", "train the model again"),
    Case("checkpoint-of-another-model", resaved(set_meta(model="mlp")),
         "does not hold weights for this mlp model",
         "use a checkpoint trained with the same --model"),
    Case("checkpoint-without-striate-metadata", without_metadata,
         "has no striate metadata", "use a checkpoint written by `striate train`"),
    Case("checkpoint-of-another-format", resaved(set_meta(format=1)),
         "uses checkpoint format 1", "use a checkpoint of this version"),
    Case("checkpoint-forged-metadata", resaved(set_meta(input_shape=[1, 8])),
         "input_shape [1, 8] is not three positive sizes", "use a checkpoint written by"),
    Case("checkpoint-is-a-torch-file",
         checkpoint_bytes(lambda ws: torch_saved({"w": torch.zeros(2)}), "model.pt"),
         UNPARSEABLE, "use another checkpoint"),
    Case("checkpoint-is-a-pickle-that-runs-code", hostile_model_file,
         UNPARSEABLE, "use another checkpoint"),
    Case("resume-not-a-run", lambda ws: ["train", "--resume", ws.inputs],
         "is not a striate run directory", "give the directory `striate train` printed"),
    Case("resume-truncated-state", resume_with_state(cut_state),
         "cannot read training state", "start a new run"),
    Case("resume-state-of-another-kind", resume_with_state(train_state_of_another_kind),
         "does not match the run's config.yaml", "start a new run"),
    Case("resume-state-is-a-pickle-that-runs-code", hostile_train_state,
         "cannot read training state", "start a new run"),
    Case("resume-state-of-another-program", resume_with_state(safetensors_with({"format": "pt"})),
         "its metadata holds no striate state", "start a new run"),
    Case("resume-state-json-unparseable",
         resume_with_state(safetensors_with({STATE_KEY: "{'loop': 1}"})),
         "its metadata is not JSON", "start a new run"),
    Case("resume-state-json-nested-too-deeply",
         resume_with_state(safetensors_with({STATE_KEY: "[" * 100_000 + "]" * 100_000})),
         "nested too deeply", "start a new run"),
    Case("resume-state-refers-to-a-missing-array",
         resume_with_state(safetensors_with({STATE_KEY: '{"loop": {"$array": "7"}}'})),
         "a reference to an array it does not hold: '7'", "start a new run"),
    Case("resume-state-history-is-a-string",
         resume_with_state(edited_state(lambda state: state["loop"].update(history="abc"))),
         "does not match the run's config.yaml", "start a new run"),
    Case("resume-with-changed-settings", lambda ws: ["train", "--resume", ws.copy_of_run(),
                                                     "--model", "mlp"],
         "continues", "drop --model"),
]


@pytest.mark.filterwarnings("error")  # a warning is a second line on the user's terminal
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input(case, cli, tmp_path, monkeypatch, digits_run, accept):
    monkeypatch.chdir(tmp_path)  # whatever the command writes by default lands in sight
    inputs, out_dir = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir()
    out_dir.mkdir()
    args = case.build(Workspace(inputs, digits_run, accept))
    if args[0] == "train" and "--resume" not in args:
        args += ["--out-dir", out_dir]
    before = tree_snapshot(tmp_path), sorted(tmp_path.rglob("*")), tree_snapshot(digits_run)

    result = cli(*args)

    assert result.code == 2, result.out + result.err
    assert result.err.startswith("striate: error: ") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err and result.out == ""
    assert case.problem in result.err and case.fix in result.err, result.err
    assert (tree_snapshot(tmp_path), sorted(tmp_path.rglob("*")),
            tree_snapshot(digits_run)) == before




# ---- pickles that would run code

def test_the_payload_runs_when_unpickled_unsafely(tmp_path):
    """The control for the test below: plain pickle and torch.load(weights_only=False) run it."""
    ws = Workspace(tmp_path, tmp_path, accept=None)
    pickle.loads(pickle.dumps(hostile(ws), protocol=2))
    assert (tmp_path / PWNED).exists()
    (tmp_path / PWNED).unlink()
    torch.load(io.BytesIO(torch_saved({"loop": hostile(ws)})), weights_only=False)
    assert (tmp_path / PWNED).exists()


@pytest.mark.parametrize("where", HOSTILE)
def test_a_pickle_that_would_run_code_never_does(where, cli, tmp_path, digits_run, accept):
    ws = Workspace(tmp_path, digits_run, accept)
    result = cli(*HOSTILE[where](ws))
    assert result.code == 2 and result.err.startswith("striate: error: "), result.err
    assert not (tmp_path / PWNED).exists()


# ---- images that are converted, not refused

WHITE = (255, 255, 255)


def alpha_image() -> tuple[Image.Image, np.ndarray]:
    """Left column opaque red-ish, the rest fully transparent (which shows as white)."""
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:, 0] = (100, 0, 0, 255)
    expected = np.empty((4, 4, 3), np.uint8)
    expected[:], expected[:, 0] = WHITE, (100, 0, 0)
    return Image.fromarray(rgba, "RGBA"), expected


def convertible_images() -> dict[str, tuple[Image.Image, np.ndarray]]:
    """train/<class>/<file> -> (image in a mode that needs converting, its (H, W, RGB) pixels)."""
    def uniform(rgb) -> np.ndarray:
        return np.broadcast_to(np.array(rgb, np.uint8), (4, 4, 3))

    palette = Image.new("P", (4, 4))
    palette.putpalette([10, 20, 30] + [0] * 765)
    sixteen_bit = Image.fromarray(np.full((4, 4), 128 * 257, np.uint16))  # 128/255 of full scale
    return {"color/1-rgb.png": (Image.new("RGB", (4, 4), (200, 100, 50)), uniform((200, 100, 50))),
            "color/2-palette.png": (palette, uniform((10, 20, 30))),
            "color/3-alpha.png": alpha_image(),
            "color/4-cmyk.tif": (Image.new("CMYK", (4, 4), (255, 0, 0, 0)), uniform((0, 255, 255))),
            "gray/1-gray.png": (gray(77), uniform((77, 77, 77))),
            "gray/2-sixteen-bit.png": (sixteen_bit, uniform((128, 128, 128)))}


def write_convertible(root: Path) -> np.ndarray:
    """The images under root/train/ (and one per class under root/test/); returns the expected
    (N, H, W, RGB) training pixels in the loader's order (class, then file name)."""
    images = convertible_images()
    for name, (image, _) in images.items():
        (root / "train" / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / "train" / name)
    for name in ("color", "gray"):
        (root / "test" / name).mkdir(parents=True)
        gray().save(root / "test" / name / "x.png")
    return np.stack([pixels for _, pixels in images.values()])


def stored_modes(root: Path) -> list[str]:
    """The modes the files were saved in: the conversions are really exercised."""
    modes = []
    for path in sorted(root.rglob("*.*")):
        with Image.open(path) as image:
            modes.append(image.mode)
    return modes


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2, what a gray data set sees of a colour image."""
    return np.rint(rgb @ np.array([0.299, 0.587, 0.114]))


def test_convertible_images_are_converted_not_refused(tmp_path, cli, digits_run):
    expected = write_convertible(tmp_path)                       # (N, H, W, RGB)
    assert stored_modes(tmp_path / "train") == ["RGB", "P", "RGBA", "CMYK", "L", "I;16"]
    color = load_dataset("folder", tmp_path).train.images       # (N, 3, H, W): one is colour
    np.testing.assert_array_equal(color.transpose(0, 2, 3, 1), expected)
    gray_only = load_dataset("folder", tmp_path, channels="1").train.images  # (N, 1, H, W)
    np.testing.assert_allclose(gray_only[:, 0], luma(expected.astype(float)), atol=1)

    result = cli("predict", digits_run, *sorted((tmp_path / "train").rglob("*.*")))
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == len(expected)


def test_checkpoints_from_before_the_digest_still_load(tmp_path, cli, digits_run):
    """Format 2 without digests: the preprocessing inside the weights file, "preprocess."
    before its tensors' names."""
    from safetensors.numpy import save_file

    tensors, meta = load_weights(digits_run)
    tensors.update({"preprocess." + name: tensor for name, tensor in
                    read_checkpoint(digits_run, preprocessing=True)[0].items()})
    meta = {**meta, "format": 2}
    del meta["sha256"], meta["preprocess_file"]
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata={"striate": json.dumps(meta)})
    assert cli("evaluate", old).out == cli("evaluate", digits_run).out != ""
