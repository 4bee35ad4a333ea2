"""Your own images: ROOT/<class>/<image>, or ROOT/train/<class>/... plus ROOT/test/<class>/....

Class names are the sorted class folder names; label i is the i-th. Without train/ and test/,
a stratified 20% of each class is held out as the test split with a fixed seed (see
splits.HOLDOUT_SEED), so it is the same for every run. Names starting with "." are ignored;
every other entry in a class folder must be an image Pillow can read (PNG, JPEG, BMP, GIF,
WebP, ...).

Size: image_size=(H, W) resizes every image; without it all images must share one size.
Channels: "auto" gives 1 when every image is grayscale (gray modes, or a palette of grays), else
3; "1"/"gray" and "3"/"rgb" force the choice.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from striate.data.images import ImageInfo, load_image, probe_image
from striate.data.splits import Split, stratified_holdout
from striate.errors import StriateError

CHANNEL_CHOICES = {"auto": None, "1": 1, "gray": 1, "3": 3, "rgb": 3}
LAYOUT_HINT = "ROOT/<class>/<image>.png"

LabelledFiles = list[tuple[Path, int]]  # (image path, class index)


@dataclass(frozen=True)
class FolderImages:
    """What an image folder holds; Dataset.from_folder turns it into a Dataset."""
    root: Path
    class_names: list[str]
    train: Split  # (N, C, H, W) uint8
    test: Split


def read_folder(root: str | Path | None, image_size: tuple[int, int] | None = None,
                channels: str = "auto") -> FolderImages:
    root = _checked_root(root)
    channel_choice = _channel_choice(channels)
    _check_image_size(image_size)
    class_names, train_files, test_files = _layout(root)
    paths = [path for path, _ in train_files + test_files]
    infos = [probe_image(path) for path in paths]
    size = tuple(image_size) if image_size else _common_size(paths, infos)
    channel_count = channel_choice or (1 if all(info.grayscale for info in infos) else 3)
    images = _load_all(paths, size, channel_count)  # (N, C, H, W) uint8, train files first
    labels = np.array([label for _, label in train_files + test_files], np.int64)
    count = len(train_files)
    return FolderImages(root, class_names, Split(images[:count], labels[:count]),
                        Split(images[count:], labels[count:]))


def _checked_root(root: str | Path | None) -> Path:
    if root is None:
        raise StriateError(f"the folder data set needs its root: pass --data-dir ROOT, laid out "
                           f"as {LAYOUT_HINT}")
    root = Path(root).expanduser()
    if not root.is_dir():
        problem = "is not a folder" if root.exists() else "does not exist"
        raise StriateError(f"image folder {root} {problem}; pass --data-dir ROOT, laid out as "
                           f"{LAYOUT_HINT}")
    return root


def _channel_choice(channels: str) -> int | None:
    try:
        return CHANNEL_CHOICES[str(channels).lower()]
    except KeyError:
        raise StriateError(f"channels must be auto, 1 (gray) or 3 (rgb), not {channels!r}; "
                           "pass --channels auto, 1 or 3") from None


def _check_image_size(image_size: tuple[int, int] | None) -> None:
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise StriateError(f"image size must be two positive numbers (H, W), not "
                           f"{image_size!r}; pass --image-size HxW, e.g. 32x32")


def _layout(root: Path) -> tuple[list[str], LabelledFiles, LabelledFiles]:
    """(class names, train files, test files) of either layout."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return _train_test_layout(root)
    return _single_layout(root)


def _train_test_layout(root: Path) -> tuple[list[str], LabelledFiles, LabelledFiles]:
    train_classes, test_classes = _class_dirs(root / "train"), _class_dirs(root / "test")
    names = [directory.name for directory in train_classes]
    test_names = [directory.name for directory in test_classes]
    if names != test_names:
        raise StriateError(f"{root / 'train'} and {root / 'test'} must hold the same class "
                           f"folders; only in train: {sorted(set(names) - set(test_names))}, "
                           f"only in test: {sorted(set(test_names) - set(names))}; give both "
                           "the same class folders")
    return names, _labelled_files(train_classes), _labelled_files(test_classes)


def _single_layout(root: Path) -> tuple[list[str], LabelledFiles, LabelledFiles]:
    classes = _class_dirs(root)
    files = _labelled_files(classes)
    labels = np.array([label for _, label in files])
    for directory, count in zip(classes, np.bincount(labels, minlength=len(classes))):
        if count < 2:
            raise StriateError(f"class folder {directory} has only one image, and each class "
                               "needs two so one can be held out for testing; add images, or "
                               "give ROOT/train/ and ROOT/test/ folders")
    kept, held_out = stratified_holdout(labels)
    names = [directory.name for directory in classes]
    return names, [files[i] for i in kept], [files[i] for i in held_out]


def _class_dirs(directory: Path) -> list[Path]:
    classes = [entry for entry in _visible_entries(directory) if entry.is_dir()]
    if not classes:
        raise StriateError(f"no class folders in {directory}; lay the images out as "
                           f"{LAYOUT_HINT}")
    return classes


def _labelled_files(class_dirs: list[Path]) -> LabelledFiles:
    files = []
    for label, directory in enumerate(class_dirs):
        images = _visible_entries(directory)
        if not images:
            raise StriateError(f"class folder {directory} has no images; add some or remove "
                               "the folder")
        files += [(path, label) for path in images]
    return files


def _visible_entries(directory: Path) -> list[Path]:
    """The sorted entries of `directory`, without hidden ones (.DS_Store, .ipynb_checkpoints)."""
    try:
        return sorted(entry for entry in directory.iterdir() if not entry.name.startswith("."))
    except OSError as error:
        raise StriateError(f"cannot list {directory}: {error.strerror}; check its "
                           "permissions") from None


def _common_size(paths: list[Path], infos: list[ImageInfo]) -> tuple[int, int]:
    first = infos[0].size
    for path, info in zip(paths, infos):
        if info.size != first:
            raise StriateError(f"images differ in size: {paths[0]} is {_hxw(first)} but {path} "
                               f"is {_hxw(info.size)}; pass --image-size HxW to resize them all")
    return first


def _hxw(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _load_all(paths: list[Path], size: tuple[int, int], channels: int) -> np.ndarray:
    images = np.empty((len(paths), channels, *size), np.uint8)  # (N, C, H, W) uint8
    for index, path in enumerate(paths):
        images[index] = load_image(path, size, channels)
    return images
