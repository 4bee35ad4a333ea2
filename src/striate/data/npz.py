"""Your own arrays in one file: `--dataset npz --data-dir data.npz`.

The file is what np.savez (or np.savez_compressed) writes. Its arrays are the keyword arguments
of Dataset.from_arrays, by the same names and read the same way: x_train and y_train, and
optionally x_test and y_test (without them a fixed 20% of the training examples is held out),
x_valid and y_valid, class_names (an array of strings) and pixel_max (a number).

It is read with allow_pickle=False, so loading it never runs code: an array of Python objects
(what np.array(names, dtype=object) saves) is refused, and class_names must be saved as strings.
"""

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from striate.data.dataset import Dataset
from striate.errors import StriateError

REQUIRED = ("x_train", "y_train")
KEYS = (*REQUIRED, "x_test", "y_test", "x_valid", "y_valid", "class_names", "pixel_max")
SAVE_HINT = "np.savez(FILE, x_train=..., y_train=..., x_test=..., y_test=...)"


def load_npz(path: str | Path | None) -> Dataset:
    path = checked_path(path)
    arrays = read_arrays(path)
    missing = [key for key in REQUIRED if key not in arrays]
    if missing:
        raise StriateError(f"{path} has no {' or '.join(missing)} (it holds "
                           f"{', '.join(sorted(arrays)) or 'nothing'}); write it with {SAVE_HINT}")
    try:
        dataset = Dataset.from_arrays(
            arrays["x_train"], arrays["y_train"], arrays.get("x_test"), arrays.get("y_test"),
            x_valid=arrays.get("x_valid"), y_valid=arrays.get("y_valid"),
            class_names=class_names(arrays.get("class_names")),
            pixel_max=pixel_max(arrays.get("pixel_max")), name="npz")
    except StriateError as error:
        raise StriateError(f"{path}: {error}") from None
    return dataclasses.replace(dataset, source=str(path))


def checked_path(path: str | Path | None) -> Path:
    if path is None:
        raise StriateError(f"the npz data set needs its file: pass --data-dir FILE.npz, written "
                           f"with {SAVE_HINT}")
    path = Path(path).expanduser()
    if path.is_dir():
        raise StriateError(f"{path} is a folder, not an .npz file; pass --data-dir FILE.npz "
                           "(for a folder of images, use --dataset folder)")
    if not path.exists():
        raise StriateError(f"{path} does not exist; pass --data-dir FILE.npz, written with "
                           f"{SAVE_HINT}")
    if not zipfile.is_zipfile(path):
        raise StriateError(f"{path} is not an .npz file (a zip archive of arrays); write one "
                           f"with {SAVE_HINT}")
    return path


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array in the file, by name; nothing is unpickled."""
    try:
        # Opened here, not by np.load, so that a damaged file is closed as it is refused.
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
            unknown = sorted(set(npz.files) - set(KEYS))
            if unknown:
                raise StriateError(f"{path} holds {unknown[0]!r}, which is not one of "
                                   f"{', '.join(KEYS)}; rename or drop it")
            return {key: read_member(npz, key, path) for key in npz.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StriateError(f"cannot read {path} ({reason}); write it again with "
                           f"{SAVE_HINT}") from None


def read_member(npz, key: str, path: Path) -> np.ndarray:
    try:
        value = npz[key]
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise
        raise StriateError(f"{path}: {key} is an array of Python objects, which only unpickling "
                           "could read, and striate never unpickles; save numbers, or strings "
                           "as np.array(names, dtype=str)") from None
    if not isinstance(value, np.ndarray):  # a zip member that is not a .npy file
        raise StriateError(f"{path}: {key} is not a numpy array; write the file with "
                           f"{SAVE_HINT}")
    return value


def class_names(value: np.ndarray | None) -> list[str] | None:
    if value is None:
        return None
    if value.ndim != 1:
        raise StriateError(f"class_names has shape {value.shape}; save a 1-D array of strings, "
                           "np.array(names, dtype=str)")
    if value.dtype.kind == "S":  # bytes, as np.array([b"cat"]) saves them
        try:
            return [name.decode() for name in value.tolist()]
        except UnicodeDecodeError:
            raise StriateError("class_names holds bytes that are not UTF-8; save them as "
                               "strings, np.array(names, dtype=str)") from None
    return value.tolist()


def pixel_max(value: np.ndarray | None) -> float | None:
    if value is None:
        return None
    if value.shape != () or value.dtype.kind not in "iuf":
        raise StriateError(f"pixel_max is a {value.dtype} array of shape {value.shape}; save "
                           "one number, the value of a white pixel (e.g. pixel_max=255)")
    return float(value)
