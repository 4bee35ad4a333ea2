"""The engine-independent shape of a loaded data set: numpy arrays plus what the engine needs."""

from dataclasses import dataclass

import numpy as np

from striate.data.datafile import DataFile
from striate.errors import StriateError


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, C, H, W), dtype as on disk (uint8, or float32 for mnist.pkl.gz)
    labels: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    valid: Split | None      # only when the source defines one (mnist.pkl.gz); else carve one
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
