"""Dataset.from_arrays: your own arrays (numpy or torch) as the Dataset the rest of striate uses."""

import numpy as np
import pytest
import torch

from striate.config import DataConfig
from striate.data import pipeline
from striate.data.dataset import Dataset
from striate.data.splits import stratified_holdout
from striate.errors import StriateError

rng = np.random.default_rng(0)
X = rng.integers(0, 256, (30, 1, 8, 8), dtype=np.uint8)  # (N, C, H, W) uint8
Y = np.arange(30) % 3                                      # 10 of each of 3 classes
X_TEST, Y_TEST = X[:6] // 2, np.array([2, 1, 0, 2, 1, 0])


def test_uint8_arrays_are_kept_as_given():
    data = Dataset.from_arrays(X, Y, X_TEST, Y_TEST)
    assert data.train.images.dtype == np.uint8 and data.train.labels.dtype == np.int64
    np.testing.assert_array_equal(data.train.images, X)
    np.testing.assert_array_equal(data.train.labels, Y)
    np.testing.assert_array_equal(data.test.images, X_TEST)
    np.testing.assert_array_equal(data.test.labels, Y_TEST)
    assert (data.name, data.source, data.pixel_max) == ("arrays", "<memory>", 255.0)
    assert data.class_names == ["0", "1", "2"] and data.input_shape == (1, 8, 8)
    assert data.valid is None and data.default_valid_size == 3  # 10% of 30


def test_the_dataset_owns_a_copy():
    x = X.copy()
    data = Dataset.from_arrays(x, Y, X_TEST, Y_TEST)
    x[:] = 0
    np.testing.assert_array_equal(data.train.images, X)


def test_images_without_channels_get_one():
    data = Dataset.from_arrays(X[:, 0], Y, X_TEST[:, 0], Y_TEST)     # (N, H, W)
    assert data.train.images.shape == (30, 1, 8, 8)
    np.testing.assert_array_equal(data.train.images, X)


@pytest.mark.parametrize("shape, expected", [
    ((4, 6, 5, 3), (4, 3, 6, 5)),   # (N, H, W, C): the last axis is the shortest
    ((4, 6, 5, 1), (4, 1, 6, 5)),
    ((4, 3, 6, 5), (4, 3, 6, 5)),   # (N, C, H, W)
    ((4, 3, 6, 3), (4, 3, 6, 3)),   # a tie is read channels-first, striate's own layout
])
def test_channels_last_is_the_layout_whose_last_axis_is_shorter(shape, expected):
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    data = Dataset.from_arrays(x, np.array([0, 1, 0, 1]), x, np.array([0, 1, 0, 1]))
    assert data.train.images.shape == expected
    if shape != expected:
        np.testing.assert_array_equal(data.train.images, x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("scale, dtype, pixel_max", [
    (1 / 255, np.float64, 1.0),    # ToTensor-style [0, 1] floats
    (1 / 255, np.float32, 1.0),
    (1, np.float32, 255.0),        # 8-bit pixels stored as floats
    (1, np.int64, 255.0),          # ... or as wider integers
])
def test_other_dtypes_become_float32_with_white_from_their_range(scale, dtype, pixel_max):
    x = (X * scale).astype(dtype)
    data = Dataset.from_arrays(x, Y, x[:6], Y_TEST)
    assert data.train.images.dtype == np.float32 and data.pixel_max == pixel_max
    np.testing.assert_array_equal(data.train.images, x.astype(np.float32))


def test_pixel_max_given_is_used():
    data = Dataset.from_arrays(X // 16, Y, X_TEST // 16, Y_TEST, pixel_max=16)  # digits' scale
    assert data.pixel_max == 16.0 and data.train.images.dtype == np.uint8
    wide = Dataset.from_arrays(X.astype(np.uint16) * 257, Y, pixel_max=65535)  # 16-bit images
    assert wide.pixel_max == 65535.0 and wide.train.images.max() == 255 * 257


def test_labels_as_whole_floats_or_keras_columns():
    data = Dataset.from_arrays(X, Y.astype(np.float32)[:, None], X_TEST, Y_TEST.astype(float))
    assert data.train.labels.dtype == np.int64 and data.train.labels.tolist() == Y.tolist()
    assert data.test.labels.tolist() == Y_TEST.tolist()


def test_class_names_name_the_classes():
    data = Dataset.from_arrays(X, Y, X_TEST, Y_TEST, class_names=np.array(["a", "b", "c", "d"]),
                               name="letters")
    assert data.class_names == ["a", "b", "c", "d"] and data.num_classes == 4
    assert all(type(name) is str for name in data.class_names) and data.name == "letters"


def test_without_a_test_split_a_fixed_stratified_fifth_is_held_out():
    data = Dataset.from_arrays(X, Y)
    kept, held_out = stratified_holdout(Y)  # the rule digits and image folders use
    np.testing.assert_array_equal(data.test.images, X[held_out])
    np.testing.assert_array_equal(data.test.labels, Y[held_out])
    np.testing.assert_array_equal(data.train.images, X[kept])
    assert np.bincount(data.test.labels).tolist() == [2, 2, 2]    # 20% of each class's 10
    assert len(data.train) == 24 and data.default_valid_size == 2
    assert set(kept.tolist()).isdisjoint(held_out.tolist())
    assert sorted([*kept, *held_out]) == list(range(30))
    again = Dataset.from_arrays(X, Y)  # the same images every time, whatever the run's seed
    np.testing.assert_array_equal(again.test.images, data.test.images)


def test_a_validation_split_of_your_own_is_used_by_every_run():
    data = Dataset.from_arrays(X, Y, X_TEST, Y_TEST, x_valid=X[:9], y_valid=Y[:9])
    np.testing.assert_array_equal(data.valid.images, X[:9])
    assert data.default_valid_size == 9
    splits = pipeline.split(data, DataConfig(), seed=5)
    assert splits["valid"] is data.valid and splits["train"] is data.train


def test_the_pipeline_carves_validation_from_arrays_like_any_data_set():
    data = Dataset.from_arrays(X, Y, X_TEST, Y_TEST)
    splits = pipeline.split(data, DataConfig(), seed=0)
    assert (len(splits["train"]), len(splits["valid"]), len(splits["test"])) == (27, 3, 6)


def test_torch_tensors_are_accepted():
    x = torch.from_numpy(X.astype(np.float32) / 255).requires_grad_()  # with grad, as after use
    data = Dataset.from_arrays(x, torch.from_numpy(Y), x[:6], torch.tensor(Y_TEST))
    assert data.train.images.dtype == np.float32 and data.pixel_max == 1.0
    np.testing.assert_array_equal(data.train.images, X.astype(np.float32) / 255)
    assert data.test.labels.tolist() == Y_TEST.tolist()
    uint8 = Dataset.from_arrays(torch.from_numpy(X).permute(0, 2, 3, 1), torch.from_numpy(Y))
    assert uint8.train.images.dtype == np.uint8 and uint8.pixel_max == 255.0
    assert uint8.input_shape == (1, 8, 8)  # (N, H, W, 1) tensors, as a PIL loop would stack


def test_tensors_on_a_device_are_brought_to_the_cpu_without_importing_torch():
    class DeviceTensor:  # what a CUDA tensor offers: numpy() only after detach() and cpu()
        def __init__(self, array, on_cpu=False):
            self.array, self.on_cpu = array, on_cpu

        def detach(self):
            return DeviceTensor(self.array, self.on_cpu)

        def cpu(self):
            return DeviceTensor(self.array, on_cpu=True)

        def numpy(self):
            if not self.on_cpu:
                raise TypeError("can't convert cuda:0 device type tensor to numpy")
            return self.array

    data = Dataset.from_arrays(DeviceTensor(X), DeviceTensor(Y))
    assert len(data.train) + len(data.test) == 30 and data.train.images.dtype == np.uint8


def refusal(**arguments) -> str:
    arguments = {"x_train": X, "y_train": Y, **arguments}
    with pytest.raises(StriateError) as caught:
        Dataset.from_arrays(**arguments)
    assert "\n" not in str(caught.value)
    return str(caught.value)


FLOATS = X / 255
REFUSALS = {
    "flat": ({"x_train": X.reshape(30, 64)},
             "x_train has shape (30, 64); give images as (N, H, W), (N, C, H, W) or (N, H, W, C), "
             "e.g. x.reshape(-1, 28, 28) for flattened 28x28 images"),
    "5-D": ({"x_test": X[:, None], "y_test": Y},
            "x_test has shape (30, 1, 1, 8, 8); give images as (N, H, W), (N, C, H, W) or "
            "(N, H, W, C)"),
    "empty": ({"x_train": X[:0], "y_train": Y[:0]},
              "x_train has shape (0, 1, 8, 8) and so holds no pixels; give at least one image of "
              "at least one pixel"),
    "ragged": ({"x_train": [np.zeros((8, 8)), np.zeros((8, 7))], "y_train": [0, 1]},
               "x_train (list) cannot be read as a numpy array (setting an array element with a "
               "sequence); pass a numpy array, or a torch tensor of a type numpy has (x.float())"),
    "bfloat16": ({"x_train": torch.zeros(30, 8, 8, dtype=torch.bfloat16)},
                 "x_train (Tensor) cannot be read as a numpy array (Got unsupported ScalarType "
                 "BFloat16); pass a numpy array, or a torch tensor of a type numpy has "
                 "(x.float())"),
    "objects": ({"x_train": np.array([object()] * 30)},
                "x_train holds object values, not real numbers; pass a numpy array or a torch "
                "tensor of numbers"),
    "NaN": ({"x_train": np.where(FLOATS > 0.99, np.nan, FLOATS)},
            "x_train holds 18 NaN or infinite pixel values; replace them or drop those images"),
    "inf": ({"x_valid": np.full((30, 8, 8), np.inf), "y_valid": Y},
            "x_valid holds 1920 NaN or infinite pixel values; replace them or drop those images"),
    "normalised": ({"x_train": FLOATS - 0.5},
                   "x_train holds negative pixels (down to -0.5); pass the pixels before "
                   "normalising them: striate fits its own normalisation on the training split "
                   "(--preprocess)"),
    "past 255": ({"x_train": FLOATS * 1000},
                 "x_train reaches 1000, past 255, so its white level is unknown; pass pixel_max, "
                 "the value of a white pixel (e.g. 65535 for 16-bit images)"),
    "pixel_max 0": ({"pixel_max": 0}, "pixel_max is 0; give the value of a white pixel, a "
                                      "positive number (e.g. 255 or 1.0)"),
    "pixel_max text": ({"pixel_max": "255"}, "pixel_max is '255'; give the value of a white "
                                             "pixel, a positive number (e.g. 255 or 1.0)"),
    "pixel_max NaN": ({"pixel_max": float("nan")}, "pixel_max is nan; give the value of a white "
                                                   "pixel, a positive number (e.g. 255 or 1.0)"),
    "whiter than white": ({"pixel_max": 16},
                          "x_train reaches 255 but pixel_max is 16; no pixel can be whiter than "
                          "white: pass the value of a white pixel as pixel_max"),
    "scales differ": ({"x_train": FLOATS, "x_test": X, "y_test": Y},
                      "x_test reaches 255 but x_train's white is 1; no pixel can be whiter than "
                      "white: give every split on one scale, or pass pixel_max"),
    "fractional label": ({"y_train": Y + 0.5},
                         "y_train holds 0.5, not a class number; give whole numbers 0..K-1, e.g. "
                         "y.astype(int)"),
    "NaN label": ({"y_train": np.where(Y == 2, np.nan, Y)},
                  "y_train holds nan, not a class number; give whole numbers 0..K-1, e.g. "
                  "y.astype(int)"),
    "negative label": ({"y_train": Y - 1},
                       "y_train holds label -1; classes are numbered from 0, so give 0..K-1"),
    "one-hot": ({"y_train": np.eye(3)[Y]},
                "y_train has shape (30, 3); give one class number per image, shape (N,) (for "
                "one-hot rows, pass y.argmax(1))"),
    "names as labels": ({"y_train": np.array(["cat", "dog", "ant"])[Y]},
                        "y_train holds strings; give class numbers 0..K-1 and the names as "
                        "class_names: class_names, y = np.unique(y, return_inverse=True)"),
    "lengths": ({"y_train": Y[:-1]},
                "y_train holds 29 labels but x_train holds 30 images; give one label per image"),
    "label without a name": ({"class_names": ["a", "b"]},
                             "y_train holds label 2 but class_names names 2 classes (labels "
                             "0..1); add names or fix the labels"),
    "test label without a name": ({"y_train": Y % 2, "class_names": ["a", "b"], "x_test": X_TEST,
                                   "y_test": Y_TEST},
                                  "y_test holds label 2 but class_names names 2 classes (labels "
                                  "0..1); add names or fix the labels"),
    "names as one string": ({"class_names": "abc"},
                            "class_names is 'abc'; give a list of strings, one per class"),
    "names as numbers": ({"class_names": [0, 1, 2]},
                         "class_names holds 0 (int), not a string; give one string per class"),
    "names twice": ({"class_names": ["a", "b", "a"]},
                    "class_names names 'a' more than once; give each class its own name"),
    "x_test alone": ({"x_test": X_TEST}, "x_test is given without y_test; pass both or neither"),
    "y_valid alone": ({"y_valid": Y}, "y_valid is given without x_valid; pass both or neither"),
    "no x_train": ({"x_train": None},
                   "x_train is None; pass the training images as x_train and their labels as "
                   "y_train"),
    "shapes differ": ({"x_test": X[:6, :, :4], "y_test": Y_TEST},
                      "x_test holds 1x4x8 images but x_train holds 1x8x8; give every split "
                      "images of one shape"),
    "one example": ({"x_train": X[:4], "y_train": np.array([0, 0, 1, 2]),
                     "class_names": ["a", "b", "c"]},
                    "class 'b' has one example in y_train, and each class needs two so one can be "
                    "held out for testing; add examples, or pass x_test and y_test"),
    "no name": ({"name": ""}, "name is ''; give the data set a non-empty name string"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_every_bad_input_is_one_line_naming_the_argument_and_the_fix(case):
    arguments, message = REFUSALS[case]
    assert refusal(**arguments) == message
