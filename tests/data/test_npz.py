"""--dataset npz: your own arrays in one .npz file, read without unpickling."""

import zipfile

import numpy as np
import pytest
import yaml
from helpers import metrics_of, train_run

from striate.data import load_dataset
from striate.data.dataset import Dataset
from striate.errors import StriateError

rng = np.random.default_rng(0)
ARRAYS = {"x_train": rng.integers(0, 256, (30, 8, 8, 3), dtype=np.uint8),  # channels-last
          "y_train": np.arange(30) % 3,
          "x_test": rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8),
          "y_test": np.array([0, 1, 2, 0, 1, 2]),
          "class_names": np.array(["ant", "bee", "cat"])}  # dtype <U3: no pickling needed


def write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_an_npz_file_loads_as_its_arrays_would(tmp_path):
    path = write(tmp_path / "data.npz", **ARRAYS)
    data = load_dataset("npz", path)
    expected = Dataset.from_arrays(ARRAYS["x_train"], ARRAYS["y_train"], ARRAYS["x_test"],
                                   ARRAYS["y_test"], class_names=["ant", "bee", "cat"])
    for split in ("train", "test"):
        np.testing.assert_array_equal(getattr(data, split).images,
                                      getattr(expected, split).images)
        np.testing.assert_array_equal(getattr(data, split).labels,
                                      getattr(expected, split).labels)
    assert data.train.images.shape == (30, 3, 8, 8) and data.train.images.dtype == np.uint8
    assert (data.name, data.source, data.pixel_max) == ("npz", str(path), 255.0)
    assert data.class_names == ["ant", "bee", "cat"] and data.valid is None


def test_optional_arrays_test_held_out_valid_pixel_max_bytes_names(tmp_path):
    x, y = ARRAYS["x_train"] // 16, ARRAYS["y_train"]
    path = tmp_path / "small.npz"
    np.savez_compressed(path, x_train=x, y_train=y, x_valid=x[:5], y_valid=y[:5],
                        pixel_max=np.array(16), class_names=np.array([b"a", b"b", b"c"]))
    data = load_dataset("npz", path)
    held_out = Dataset.from_arrays(x, y, x_valid=x[:5], y_valid=y[:5], pixel_max=16)
    np.testing.assert_array_equal(data.test.images, held_out.test.images)  # the fixed 20%
    assert len(data.test) == 6 and len(data.train) == 24 and len(data.valid) == 5
    assert data.pixel_max == 16.0 and data.class_names == ["a", "b", "c"]


def test_objects_in_the_file_are_refused_and_never_unpickled(tmp_path, formats):
    target = tmp_path / "pwned"
    hostile = np.empty(3, dtype=object)
    hostile[:] = [formats.Malicious(target), "bee", "cat"]
    path = write(tmp_path / "hostile.npz", **{**ARRAYS, "class_names": hostile})
    with pytest.raises(StriateError) as caught:
        load_dataset("npz", path)
    assert str(caught.value) == (f"{path}: class_names is an array of Python objects, which only "
                                 "unpickling could read, and striate never unpickles; save "
                                 "numbers, or strings as np.array(names, dtype=str)")
    assert not target.exists()


def refusal(path) -> str:
    with pytest.raises(StriateError) as caught:
        load_dataset("npz", path)
    assert "\n" not in str(caught.value)
    return str(caught.value)


HINT = "np.savez(FILE, x_train=..., y_train=..., x_test=..., y_test=...)"


def test_the_file_itself_is_refused_in_one_line(tmp_path):
    assert refusal(None) == f"the npz data set needs its file: pass --data-dir FILE.npz, written " \
                            f"with {HINT}"
    assert refusal(tmp_path) == f"{tmp_path} is a folder, not an .npz file; pass --data-dir " \
                                "FILE.npz (for a folder of images, use --dataset folder)"
    assert refusal(tmp_path / "nowhere.npz") == f"{tmp_path / 'nowhere.npz'} does not exist; " \
                                                f"pass --data-dir FILE.npz, written with {HINT}"
    for name, content in (("text.npz", b"x_train,y_train\n1,2\n"),
                          ("one.npy", None)):
        path = tmp_path / name
        if content is None:
            np.save(path, ARRAYS["x_train"])  # one array, not an archive of them
        else:
            path.write_bytes(content)
        assert refusal(path) == f"{path} is not an .npz file (a zip archive of arrays); write " \
                                f"one with {HINT}"
    whole = write(tmp_path / "whole.npz", **ARRAYS).read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole[:len(whole) // 2] + whole[-200:])  # the directory survives, data not
    assert refusal(cut).startswith(f"cannot read {cut} (")
    assert refusal(cut).endswith(f"); write it again with {HINT}")


def test_a_zip_of_something_else_is_refused(tmp_path):
    path = tmp_path / "notes.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.txt", "pixels")
    assert refusal(path) == f"{path} holds 'x_train.txt', which is not one of x_train, " \
                            "y_train, x_test, y_test, x_valid, y_valid, class_names, pixel_max; " \
                            "rename or drop it"


@pytest.mark.parametrize("change, message", [
    ({"y_train": None}, "{path} has no y_train (it holds class_names, x_test, x_train, y_test); "
                        f"write it with {HINT}"),
    ({"x_train": None, "y_train": None},
     "{path} has no x_train or y_train (it holds class_names, x_test, y_test); write it with "
     f"{HINT}"),
    ({"x_tset": ARRAYS["x_test"]},
     "{path} holds 'x_tset', which is not one of x_train, y_train, x_test, y_test, x_valid, "
     "y_valid, class_names, pixel_max; rename or drop it"),
    ({"y_test": None}, "{path}: x_test is given without y_test; pass both or neither"),
    ({"y_train": ARRAYS["y_train"][:20]},
     "{path}: y_train holds 20 labels but x_train holds 30 images; give one label per image"),
    ({"x_test": ARRAYS["x_test"][:, :4]},
     "{path}: x_test holds 3x4x8 images but x_train holds 3x8x8; give every split images of one "
     "shape"),
    ({"x_train": ARRAYS["x_train"].reshape(30, -1)},
     "{path}: x_train has shape (30, 192); give images as (N, H, W), (N, C, H, W) or (N, H, W, C), "
     "e.g. x.reshape(-1, 28, 28) for flattened 28x28 images"),
    ({"y_train": ARRAYS["y_train"] + 0.5},
     "{path}: y_train holds 0.5, not a class number; give whole numbers 0..K-1, e.g. "
     "y.astype(int)"),
    ({"class_names": np.array(["ant", "bee"])},
     "{path}: y_train holds label 2 but class_names names 2 classes (labels 0..1); add names or "
     "fix the labels"),
    ({"class_names": np.array([["ant", "bee", "cat"]])},
     "{path}: class_names has shape (1, 3); save a 1-D array of strings, np.array(names, "
     "dtype=str)"),
    ({"pixel_max": np.array([255, 255])},
     "{path}: pixel_max is a int64 array of shape (2,); save one number, the value of a white "
     "pixel (e.g. pixel_max=255)"),
    ({"x_train": ARRAYS["x_train"] / 255.0 - 0.5},
     "{path}: x_train holds negative pixels (down to -0.5); pass the pixels before normalising "
     "them: striate fits its own normalisation on the training split (--preprocess)"),
])
def test_every_bad_array_is_one_line_naming_the_file_and_the_array(tmp_path, change, message):
    arrays = {key: value for key, value in {**ARRAYS, **change}.items() if value is not None}
    path = write(tmp_path / "data.npz", **arrays)
    assert refusal(path) == message.format(path=path)


def test_folder_options_do_not_apply(tmp_path):
    path = write(tmp_path / "data.npz", **ARRAYS)
    with pytest.raises(StriateError, match="apply only to the folder data set, not npz"):
        load_dataset("npz", path, image_size=(4, 4))


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    """scikit-learn's digits as a user would save them: 0..16 uint8 pixels, their own names."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # (1797, 8, 8), white is 16
    path = tmp_path_factory.mktemp("npz") / "digits.npz"
    np.savez(path, x_train=images[:1500], y_train=digits.target[:1500], x_test=images[1500:],
             y_test=digits.target[1500:], pixel_max=np.array(16),
             class_names=np.array([f"digit {k}" for k in range(10)]))
    return path


def test_train_then_evaluate_through_the_cli(cli, tmp_path, digits_npz):
    run = train_run("--dataset", "npz", "--data-dir", digits_npz, "--model", "mlp",
                    "--epochs", "2", "--progress", "off", "--device", "cpu",
                    "--out-dir", tmp_path, "--name", "npz")
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["dataset"] == "npz" and config["data"]["data_dir"] == str(digits_npz)
    metrics = metrics_of(run)
    assert metrics["test_accuracy"] > 0.5  # 2 epochs of an MLP; chance is 0.1

    result = cli("evaluate", run, "--device", "cpu")  # reloads the file the config names
    assert result.code == 0, result.err
    assert result.out.startswith("test: 297 examples, ")  # 1797 - 1500
    assert f"accuracy {100 * metrics['test_accuracy']:.2f}%" in result.out

    digits_npz.rename(digits_npz.with_suffix(".moved"))
    try:
        result = cli("evaluate", run, "--device", "cpu")
        assert result.code == 2 and result.err.count("\n") == 1
        assert f"{digits_npz} does not exist; pass --data-dir FILE.npz" in result.err
    finally:
        digits_npz.with_suffix(".moved").rename(digits_npz)


def test_the_cli_needs_the_file(cli, tmp_path):
    result = cli("train", "--dataset", "npz", "--out-dir", tmp_path, "--progress", "off")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--data-dir FILE.npz" in result.err
    assert not any(tmp_path.iterdir())


def test_datasets_lists_npz(cli, tmp_path):
    path = write(tmp_path / "data.npz", **ARRAYS)
    result = cli("datasets", "--data-dir", path)
    assert result.code == 0
    [row] = [line for line in result.out.splitlines() if line.startswith("npz ")]
    assert row.split() == ["npz", "available", str(path)]
