import numpy as np
import pytest

from striate.data import dataset_names, describe_datasets, fetch_dataset, load_dataset
from striate.data.digits import bundled_dir
from striate.data.sources import SOURCES, TRAIN_IMAGES
from striate.errors import StriateError


def test_dataset_names():
    assert dataset_names() == ["cifar10", "digits", "fashion-mnist", "folder", "mnist", "npz"]


@pytest.mark.parametrize("call", [load_dataset, fetch_dataset])
def test_unknown_name_lists_the_valid_ones(call):
    with pytest.raises(StriateError, match="unknown data set 'imagenet'; choose one of cifar10, "
                                           "digits, fashion-mnist, folder, mnist, npz"):
        call("imagenet")


@pytest.mark.parametrize("options", [{"image_size": (32, 32)}, {"channels": "3"}])
def test_image_options_apply_to_folder_only(options):
    with pytest.raises(StriateError, match="apply only to the folder data set, not digits"):
        load_dataset("digits", **options)


def test_describe_marks_what_is_present_and_never_downloads(tmp_path, cache_dir, formats,
                                                            accept):
    mirror = tmp_path / "mirror"
    formats.write_mnist_idx(mirror)
    accept("mnist", mirror, urls=(f"file://{mirror}/{{filename}}",))  # downloadable, if it tried
    data_dir = tmp_path / "given"
    formats.write_mnist_idx(data_dir / "fashion-mnist")
    rows = {row["name"]: row for row in describe_datasets(data_dir)}
    assert sorted(rows) == dataset_names()
    assert rows["fashion-mnist"]["available"]
    assert rows["fashion-mnist"]["where"] == str(data_dir / "fashion-mnist")
    assert not rows["mnist"]["available"] and rows["mnist"]["where"] is None
    assert f"from file://{mirror}/ in {data_dir / 'mnist'}" in rows["mnist"]["how"]
    assert "mnist.pkl.gz" in rows["mnist"]["how"]
    assert not rows["cifar10"]["available"]
    assert rows["cifar10"]["how"].startswith("run `striate download cifar10`, or put "
                                             "cifar-10-python.tar.gz from ")
    assert rows["digits"] == {"name": "digits", "available": True, "where": str(bundled_dir()),
                              "how": "bundled with scikit-learn"}
    assert rows["folder"]["available"] and rows["folder"]["where"] == str(data_dir)
    assert not rows["npz"]["available"] and rows["npz"]["where"] is None  # a folder, not a file
    assert rows["npz"]["how"] == ("your own arrays: pass --data-dir FILE.npz, written with "
                                  "np.savez(FILE, x_train=..., y_train=..., x_test=..., "
                                  "y_test=...)")
    assert not (data_dir / "mnist").exists() and not cache_dir.exists()


def test_describe_without_data_dir(cache_dir, formats):
    formats.write_mnist_idx(cache_dir / "fashion-mnist")
    rows = {row["name"]: row for row in describe_datasets()}
    assert rows["fashion-mnist"]["where"] == str(cache_dir / "fashion-mnist")
    assert not rows["folder"]["available"] and rows["folder"]["where"] is None


def test_fetch_downloads_and_returns_the_directory(tmp_path, formats, accept):
    mirror = tmp_path / "mirror"
    arrays = formats.write_mnist_idx(mirror)
    accept("fashion-mnist", mirror, urls=(f"file://{mirror}/{{filename}}",))
    directory = fetch_dataset("fashion-mnist", tmp_path / "given")
    assert directory == tmp_path / "given" / "fashion-mnist"
    assert sorted(path.name for path in directory.iterdir()) == \
        sorted(SOURCES["fashion-mnist"].files)
    # Fetched files are then found without downloading again.
    dataset = load_dataset("fashion-mnist", tmp_path / "given", download=False)
    np.testing.assert_array_equal(dataset.train.images[:, 0], arrays[TRAIN_IMAGES])


def test_fetch_bundled_and_folder():
    assert (fetch_dataset("digits") / "digits.csv.gz").is_file()
    with pytest.raises(StriateError, match="nothing to download"):
        fetch_dataset("folder")
    with pytest.raises(StriateError, match="the npz data set is your own arrays, there is "
                                           "nothing to download; write them with np.savez"):
        fetch_dataset("npz")
