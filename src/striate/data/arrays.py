"""Your own arrays: images and labels held in memory, checked and put into striate's layout.

Anything np.asarray reads is accepted: numpy arrays, lists, and torch tensors (on any device,
requiring grad or not), the latter found by duck typing (.detach(), .cpu(), .numpy()) so that the
data layer never imports torch. Every problem is a one-line StriateError naming the argument and
the fix. Dataset.from_arrays builds a Dataset from what these functions return.

Layout: (N, H, W) images get one channel; 4-D images are (N, C, H, W), striate's own layout,
unless their last axis is shorter than their second: then they are (N, H, W, C), what PIL,
Keras and torchvision's CIFAR10.data hold, and are transposed. An image is taller than it has
channels, so (N, 32, 32, 3) is channels-last and (N, 3, 32, 32) channels-first; a tie such as
(N, 3, 32, 3) is read channels-first.

Scale: pixel_max is the value of a white pixel. Preprocessing divides by it, and `striate
predict` reads image files as 0..255 with white at 255, so it must really be white for a trained
model to see new images as it saw these. uint8 images stay uint8 with white at 255. Any other
dtype becomes float32, and unless pixel_max is given, white is 1.0 when the training images lie
in [0, 1] (torchvision's ToTensor, mnist.pkl.gz) and 255.0 when they reach past 1 but not past
255 (8-bit pixels stored as floats or wider integers); anything larger needs pixel_max.
Negative pixels are refused: they come from an earlier normalisation, and striate fits its own
(--preprocess) on the training split.
"""

from dataclasses import dataclass

import numpy as np

from striate.data.splits import Split
from striate.errors import StriateError

SPLIT_NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class CheckedArrays:
    splits: dict[str, Split]  # "train" always; "valid" and "test" where given
    class_names: list[str]
    pixel_max: float


def checked_arrays(given: dict[str, tuple[object, object]], class_names, pixel_max
                   ) -> CheckedArrays:
    """`given` maps "train", "valid" and "test" to (images, labels), either of them None where
    not given; the images are any layout and scale described above."""
    splits = {}
    for split, (images, labels) in given.items():
        x, y = f"x_{split}", f"y_{split}"
        if images is None and labels is None and split != "train":
            continue
        if images is None or labels is None:
            missing, present = (x, y) if images is None else (y, x)
            if split == "train":
                raise StriateError(f"{missing} is None; pass the training images as x_train and "
                                   "their labels as y_train")
            raise StriateError(f"{present} is given without {missing}; pass both or neither")
        images = checked_images(images, x)
        splits[split] = Split(images, checked_labels(labels, y, len(images), x))
    for split in splits:
        if splits[split].images.shape[1:] != splits["train"].images.shape[1:]:
            raise StriateError(f"x_{split} holds {hxw(splits[split])} images but x_train holds "
                               f"{hxw(splits['train'])}; give every split images of one shape")
    names = checked_class_names(class_names, splits)
    return CheckedArrays(splits, names, white_level(splits, pixel_max))


def as_numpy(value, argument: str) -> np.ndarray:
    """`value` as a numpy array of numbers: a torch tensor through .detach().cpu().numpy()."""
    try:
        if not isinstance(value, np.ndarray):
            for method in ("detach", "cpu", "numpy"):
                if callable(getattr(value, method, None)):
                    value = getattr(value, method)()
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as error:
        reason = (str(error).strip() or type(error).__name__).splitlines()[0].split(". ")[0]
        raise StriateError(f"{argument} ({type(value).__name__}) cannot be read as a numpy "
                           f"array ({reason.rstrip('.')}); pass a numpy array, or a torch tensor "
                           "of a type numpy has (x.float())") from None
    if array.dtype.kind in "US" and argument.startswith("y_"):
        raise StriateError(f"{argument} holds strings; give class numbers 0..K-1 and the names "
                           "as class_names: class_names, y = np.unique(y, return_inverse=True)")
    if array.dtype.kind not in "biuf":
        raise StriateError(f"{argument} holds {array.dtype} values, not real numbers; pass a "
                           "numpy array or a torch tensor of numbers")
    return array


def checked_images(value, argument: str) -> np.ndarray:
    """(N, C, H, W) images, uint8 as given or float32 otherwise; always a copy, so that later
    changes to the caller's array do not reach the Dataset."""
    array = as_numpy(value, argument)
    if array.ndim == 3:
        array = array[:, np.newaxis]                # (N, H, W) -> (N, 1, H, W)
    elif array.ndim == 4 and array.shape[3] < array.shape[1]:
        array = array.transpose(0, 3, 1, 2)         # (N, H, W, C) -> (N, C, H, W)
    elif array.ndim != 4:
        fix = ", e.g. x.reshape(-1, 28, 28) for flattened 28x28 images" if array.ndim == 2 else ""
        raise StriateError(f"{argument} has shape {shape(array)}; give images as (N, H, W), "
                           f"(N, C, H, W) or (N, H, W, C){fix}")
    if array.size == 0:
        raise StriateError(f"{argument} has shape {shape(array)} and so holds no pixels; give "
                           "at least one image of at least one pixel")
    images = np.array(array, dtype=np.uint8 if array.dtype == np.uint8 else np.float32,
                      order="C", copy=True)
    if images.dtype == np.float32 and not np.isfinite(images).all():
        count = int(np.count_nonzero(~np.isfinite(images)))
        raise StriateError(f"{argument} holds {count} NaN or infinite pixel values; replace them "
                           "or drop those images")
    if images.min() < 0:
        raise StriateError(f"{argument} holds negative pixels (down to {images.min():g}); pass "
                           "the pixels before normalising them: striate fits its own "
                           "normalisation on the training split (--preprocess)")
    return images


def checked_labels(value, argument: str, count: int, images_argument: str) -> np.ndarray:
    """(N,) int64 class numbers; Keras's (N, 1) is flattened, whole floats are accepted."""
    array = as_numpy(value, argument)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise StriateError(f"{argument} has shape {shape(array)}; give one class number per "
                           "image, shape (N,) (for one-hot rows, pass y.argmax(1))")
    if len(array) != count:
        raise StriateError(f"{argument} holds {len(array)} labels but {images_argument} holds "
                           f"{count} images; give one label per image")
    if array.dtype.kind == "f":
        fractional = ~np.isfinite(array) | (array != np.round(array))
        if fractional.any():
            raise StriateError(f"{argument} holds {array[fractional][0]:g}, not a class number; "
                               "give whole numbers 0..K-1, e.g. y.astype(int)")
    if array.min() < 0:
        raise StriateError(f"{argument} holds label {array.min():g}; classes are numbered from "
                           "0, so give 0..K-1")
    return array.astype(np.int64)


def checked_class_names(value, splits: dict[str, Split]) -> list[str]:
    """The names given, or "0".."K-1" for the largest label K-1; every label must have one."""
    largest = max(int(split.labels.max()) for split in splits.values())
    if value is None:
        return [str(label) for label in range(largest + 1)]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise StriateError(f"class_names is {value!r}; give a list of strings, one per class")
    names = list(value)
    for name in names:
        if not isinstance(name, str):  # numpy's str_ is a str
            raise StriateError(f"class_names holds {name!r} ({type(name).__name__}), not a "
                               "string; give one string per class")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise StriateError(f"class_names names {duplicates[0]!r} more than once; give each "
                           "class its own name")
    for split_name, split in splits.items():
        if split.labels.max() >= len(names):
            raise StriateError(f"y_{split_name} holds label {split.labels.max()} but "
                               f"class_names names {len(names)} classes (labels 0.."
                               f"{len(names) - 1}); add names or fix the labels")
    return [str(name) for name in names]


def white_level(splits: dict[str, Split], pixel_max) -> float:
    """The value of a white pixel: pixel_max if given, else 255 for uint8, else 1.0 or 255.0
    by the training images' range (see the module's docstring); no image may be whiter."""
    train = splits["train"].images
    if pixel_max is not None:
        if isinstance(pixel_max, bool) or not isinstance(pixel_max, (int, float, np.number)) \
                or not np.isfinite(pixel_max) or pixel_max <= 0:
            raise StriateError(f"pixel_max is {pixel_max!r}; give the value of a white pixel, "
                               "a positive number (e.g. 255 or 1.0)")
        white, reason = float(pixel_max), f"pixel_max is {float(pixel_max):g}"
        fix = "pass the value of a white pixel as pixel_max"
    else:
        brightest = float(train.max())
        if train.dtype == np.uint8:
            white = 255.0
        elif brightest <= 1.0:
            white = 1.0
        elif brightest <= 255.0:
            white = 255.0
        else:
            raise StriateError(f"x_train reaches {brightest:g}, past 255, so its white level is "
                               "unknown; pass pixel_max, the value of a white pixel (e.g. "
                               "65535 for 16-bit images)")
        reason = f"x_train's white is {white:g}"
        fix = "give every split on one scale, or pass pixel_max"
    for name, split in splits.items():
        if float(split.images.max()) > white:
            raise StriateError(f"x_{name} reaches {float(split.images.max()):g} but {reason}; "
                               f"no pixel can be whiter than white: {fix}")
    return white


def shape(array: np.ndarray) -> str:
    return f"({', '.join(map(str, array.shape))})"


def hxw(split: Split) -> str:
    return "x".join(map(str, split.images.shape[1:]))
