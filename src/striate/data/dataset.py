"""The engine-independent shape of a loaded data set: numpy arrays plus what the engine needs.

Built-in data sets are loaded by name (registry.load_dataset); your own come in through
Dataset.from_arrays (arrays in memory, numpy or torch) and Dataset.from_folder (image files).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from striate.data.arrays import checked_arrays
from striate.data.datafile import DataFile
from striate.data.folder import read_folder
from striate.data.splits import Split, stratified_holdout, take, ten_percent
from striate.errors import StriateError

__all__ = ["Dataset", "Split", "make_split"]  # Split lives in splits.py; it is imported from here


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    valid: Split | None      # only when the source defines one (mnist.pkl.gz, x_valid); else carve
    test: Split
    class_names: list[str]
    pixel_max: float         # the value of a white pixel; the engine divides by it
    default_valid_size: int  # validation examples to carve from train when valid is None
    source: str              # where it was loaded from, for messages

    @property
    def input_shape(self) -> tuple[int, int, int]:
        channels, height, width = self.train.images.shape[1:]
        return channels, height, width

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def from_arrays(cls, x_train, y_train, x_test=None, y_test=None, *, x_valid=None,
                    y_valid=None, class_names=None, name: str = "arrays",
                    pixel_max: float | None = None) -> "Dataset":
        """A Dataset of your own arrays: numpy arrays, torch tensors (any device) or lists.

        x_*: images, (N, H, W), (N, C, H, W) or (N, H, W, C) (channels-last when the last axis
            is shorter than the second); uint8 is kept, anything else becomes float32.
        y_*: (N,) (or Keras's (N, 1)) whole class numbers 0..K-1.
        x_test, y_test: without them, a stratified 20% of the training examples is held out as
            the test split with a fixed seed (splits.HOLDOUT_SEED), the same in every run.
        x_valid, y_valid: a validation split of your own; without it each run carves 10% of the
            training split by its seed (--valid-size to change).
        class_names: one string per class; default "0".."K-1" for the largest label K-1.
        pixel_max: the value of a white pixel; default 255 for uint8, else 1.0 if the training
            images lie in [0, 1] and 255.0 if they lie in [0, 255]. Negative pixels, NaN and
            infinities are refused. See data/arrays.py for the reasons.
        """
        if not isinstance(name, str) or not name:
            raise StriateError(f"name is {name!r}; give the data set a non-empty name string")
        checked = checked_arrays({"train": (x_train, y_train), "valid": (x_valid, y_valid),
                                  "test": (x_test, y_test)}, class_names, pixel_max)
        train, valid = checked.splits["train"], checked.splits.get("valid")
        test = checked.splits.get("test")
        if test is None:
            train, test = held_out_test(train, checked.class_names)
        return cls(name, train, valid, test, checked.class_names, checked.pixel_max,
                   default_valid_size=len(valid) if valid is not None else ten_percent(len(train)),
                   source="<memory>")

    @classmethod
    def from_folder(cls, root: str | Path, image_size: tuple[int, int] | None = None,
                    channels: str = "auto") -> "Dataset":
        """A Dataset of your own images, ROOT/<class>/<image> or ROOT/train/<class>/... plus
        ROOT/test/<class>/... (see data/folder.py): exactly what `--dataset folder` loads.

        image_size: (H, W) to resize every image to; without it all must share one size.
        channels: "auto" (1 when every image is gray, else 3), "1"/"gray" or "3"/"rgb".
        """
        folder = read_folder(root, image_size, channels)
        return cls("folder", folder.train, None, folder.test, folder.class_names,
                   pixel_max=255.0, default_valid_size=ten_percent(len(folder.train)),
                   source=str(folder.root))


def make_split(images: np.ndarray, labels: np.ndarray, num_classes: int,
               images_from: DataFile, labels_from: DataFile) -> Split:
    """A Split from parsed file contents, after checking that the two agree and the labels fit.

    A count mismatch means the files come from different releases or one is damaged; a label
    outside 0..num_classes-1 would otherwise surface much later as an index error on the device.
    """
    if len(images) != len(labels) and images_from == labels_from:
        raise images_from.corrupt(f"{len(images)} images but {len(labels)} labels")
    if len(images) != len(labels):
        raise StriateError(f"{images_from} holds {len(images)} images but {labels_from} holds "
                           f"{len(labels)} labels; the files do not belong together — delete "
                           f"them and run `striate download {images_from.dataset}`")
    labels = labels.astype(np.int64)
    outside = labels[(labels < 0) | (labels >= num_classes)]
    if outside.size:
        raise labels_from.corrupt(f"label {outside[0]} is outside 0..{num_classes - 1}")
    return Split(images, labels)


def held_out_test(train: Split, class_names: list[str]) -> tuple[Split, Split]:
    """(train, test) for arrays without a test split: a stratified 20% held out by the fixed
    splits.HOLDOUT_SEED, as for digits and image folders."""
    lonely = np.flatnonzero(np.bincount(train.labels, minlength=len(class_names)) == 1)
    if lonely.size:
        raise StriateError(f"class {class_names[lonely[0]]!r} has one example in y_train, and "
                           "each class needs two so one can be held out for testing; add "
                           "examples, or pass x_test and y_test")
    kept, held_out = stratified_holdout(train.labels)
    return take(train, kept), take(train, held_out)
