import numpy as np
import pytest
from PIL import Image

from striate.data import Dataset, load_dataset
from striate.errors import StriateError


def write_gray(path, value, size=(4, 5)):
    """A uniform gray image of (H, W) `size` whose pixel value identifies it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size[1], size[0]), value).save(path)
    return path


def make_classes(root, counts, size=(4, 5)):
    """root/<class>/<n>.png with distinct gray values; returns {value: class index}."""
    labels, value = {}, 0
    for label, (name, count) in enumerate(sorted(counts.items())):
        for number in range(count):
            value += 1
            write_gray(root / name / f"{number}.png", value, size)
            labels[value] = label
    return labels


def values(split):
    return split.images[:, 0, 0, 0].tolist()


def test_single_folder_with_fixed_stratified_test_split(tmp_path):
    labels = make_classes(tmp_path, {"cat": 10, "dog": 5, "ant": 6})
    dataset = load_dataset("folder", tmp_path)
    assert dataset.class_names == ["ant", "cat", "dog"] and dataset.name == "folder"
    assert dataset.input_shape == (1, 4, 5) and dataset.train.images.dtype == np.uint8
    assert dataset.pixel_max == 255 and dataset.source == str(tmp_path) and dataset.valid is None
    assert np.bincount(dataset.test.labels).tolist() == [1, 2, 1]  # round(20%), at least 1
    assert len(dataset.train) == 17 and dataset.default_valid_size == 2
    everything = values(dataset.train) + values(dataset.test)
    assert sorted(everything) == sorted(labels)  # each image exactly once
    for split in (dataset.train, dataset.test):
        assert [labels[value] for value in values(split)] == split.labels.tolist()
        assert split.labels.dtype == np.int64
    assert values(load_dataset("folder", tmp_path).test) == values(dataset.test)  # fixed


def test_train_and_test_folders_are_used_as_given(tmp_path):
    make_classes(tmp_path / "train", {"a": 3, "b": 3})
    write_gray(tmp_path / "test" / "a" / "x.png", 200)
    write_gray(tmp_path / "test" / "b" / "y.png", 201)
    dataset = load_dataset("folder", tmp_path)
    assert dataset.class_names == ["a", "b"]
    assert len(dataset.train) == 6 and values(dataset.test) == [200, 201]
    assert dataset.test.labels.tolist() == [0, 1]


def test_train_and_test_must_have_the_same_classes(tmp_path):
    make_classes(tmp_path / "train", {"a": 2, "b": 2})
    make_classes(tmp_path / "test", {"a": 1, "c": 1})
    with pytest.raises(StriateError, match=r"only in train: \['b'\], only in test: \['c'\]"):
        load_dataset("folder", tmp_path)


def test_auto_channels_gray_modes_give_one(tmp_path):
    write_gray(tmp_path / "a" / "l.png", 10)
    write_gray(tmp_path / "a" / "l2.png", 11)
    (tmp_path / "b").mkdir()
    opaque_gray = np.dstack([np.full((4, 5), 200, np.uint8), np.full((4, 5), 255, np.uint8)])
    Image.fromarray(opaque_gray, "LA").save(tmp_path / "b" / "la.png")
    Image.fromarray(np.full((4, 5), 65535, np.uint16)).save(tmp_path / "b" / "deep.png")
    palette = Image.new("P", (5, 4), 3)
    palette.putpalette([value for gray in range(256) for value in (gray,) * 3])
    palette.save(tmp_path / "b" / "p.png")
    dataset = load_dataset("folder", tmp_path)
    assert dataset.input_shape == (1, 4, 5)
    assert sorted(values(dataset.train) + values(dataset.test)) == [3, 10, 11, 200, 255]


def test_auto_channels_one_color_image_gives_three(tmp_path):
    make_classes(tmp_path, {"a": 2, "b": 1})
    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(tmp_path / "b" / "red.jpg", quality=100)
    dataset = load_dataset("folder", tmp_path)
    assert dataset.input_shape == (3, 4, 5)
    gray = dataset.train.images[dataset.train.labels == 0][0]
    assert (gray[0] == gray[1]).all() and (gray[1] == gray[2]).all()


@pytest.mark.parametrize("channels, count", [("1", 1), ("gray", 1), ("3", 3), ("RGB", 3)])
def test_forced_channels(tmp_path, channels, count):
    make_classes(tmp_path, {"a": 2, "b": 2})
    assert load_dataset("folder", tmp_path, channels=channels).input_shape == (count, 4, 5)


def test_unknown_channels(tmp_path):
    make_classes(tmp_path, {"a": 2})
    with pytest.raises(StriateError, match="channels must be auto, 1 .gray. or 3 .rgb., not '4'"):
        load_dataset("folder", tmp_path, channels="4")


def test_mixed_sizes_need_an_image_size(tmp_path):
    write_gray(tmp_path / "a" / "1.png", 1, size=(4, 5))
    write_gray(tmp_path / "a" / "2.png", 2, size=(6, 5))
    with pytest.raises(StriateError) as error:
        load_dataset("folder", tmp_path)
    message = str(error.value)
    assert message.startswith("images differ in size: ")
    assert f"{tmp_path / 'a' / '1.png'} is 4x5" in message
    assert f"{tmp_path / 'a' / '2.png'} is 6x5" in message
    assert message.endswith("; pass --image-size HxW to resize them all")
    dataset = load_dataset("folder", tmp_path, image_size=(3, 7))
    assert dataset.input_shape == (1, 3, 7)
    assert sorted(values(dataset.train) + values(dataset.test)) == [1, 2]


def test_hidden_entries_are_ignored(tmp_path):
    make_classes(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.png").write_bytes(b"junk")
    dataset = load_dataset("folder", tmp_path)
    assert dataset.class_names == ["a", "b"] and len(dataset.train) + len(dataset.test) == 4


def test_file_that_is_not_an_image_is_named(tmp_path):
    make_classes(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "b" / "notes.txt").write_text("not an image")
    notes = tmp_path / "b" / "notes.txt"
    with pytest.raises(StriateError, match=f"^{notes}: not a readable image"):
        load_dataset("folder", tmp_path)


def test_empty_class_folder_is_named(tmp_path):
    make_classes(tmp_path, {"a": 2})
    (tmp_path / "empty").mkdir()
    with pytest.raises(StriateError, match=f"class folder {tmp_path / 'empty'} has no images"):
        load_dataset("folder", tmp_path)


def test_class_with_a_single_image_cannot_be_split(tmp_path):
    make_classes(tmp_path, {"a": 2, "b": 1})
    with pytest.raises(StriateError, match=f"class folder {tmp_path / 'b'} has only one image"):
        load_dataset("folder", tmp_path)


def test_root_without_class_folders(tmp_path):
    write_gray(tmp_path / "loose.png", 1)
    with pytest.raises(StriateError, match=rf"no class folders in {tmp_path}; lay the images out "
                                           r"as ROOT/<class>/<image>\.png"):
        load_dataset("folder", tmp_path)


@pytest.mark.parametrize("make, problem", [(lambda path: None, "does not exist"),
                                           (lambda path: path.write_text("x"), "is not a folder")])
def test_root_must_be_a_folder(tmp_path, make, problem):
    root = tmp_path / "root"
    make(root)
    with pytest.raises(StriateError, match=f"image folder {root} {problem}; pass --data-dir ROOT"):
        load_dataset("folder", root)


def test_folder_needs_a_root():
    with pytest.raises(StriateError, match="the folder data set needs its root: pass --data-dir"):
        load_dataset("folder")


def test_dataset_from_folder_is_what_the_folder_data_set_loads(tmp_path):
    make_classes(tmp_path, {"cat": 5, "dog": 4}, size=(6, 6))
    loaded = load_dataset("folder", tmp_path, image_size=(3, 2), channels="rgb")
    built = Dataset.from_folder(tmp_path, image_size=(3, 2), channels="rgb")
    assert built.train.images.shape == (7, 3, 3, 2) and built.test.images.shape == (2, 3, 3, 2)
    for split in ("train", "test"):
        np.testing.assert_array_equal(getattr(built, split).images, getattr(loaded, split).images)
        np.testing.assert_array_equal(getattr(built, split).labels, getattr(loaded, split).labels)
    assert (built.name, built.class_names, built.pixel_max, built.default_valid_size,
            built.source) == ("folder", ["cat", "dog"], 255.0, 1, str(tmp_path))
    with pytest.raises(StriateError, match="image folder .* does not exist"):
        Dataset.from_folder(tmp_path / "nowhere")
