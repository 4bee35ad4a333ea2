"""The NumPy model classes compute in float64 unless told otherwise, as the cs231n notebooks'
checks assume; the training engine builds them in float32 (create_model's default) for speed."""

import numpy as np
import pytest

from striate.numpy.models import (MLP, FullyConnectedNet, LeNet, LinearSVM, SoftmaxClassifier,
                                  ThreeLayerConvNet, TwoLayerNet, VGGlikeConvNet, VGGNet,
                                  create_model)

# small options for each class, on (N, 1, 4, 4) inputs
SMALL = {
    SoftmaxClassifier: {"input_dim": 16, "num_classes": 3, "weight_scale": 1e-2},
    LinearSVM: {"input_dim": 16, "num_classes": 3},
    TwoLayerNet: {"input_dim": 16, "hidden_dim": 5, "num_classes": 3},
    FullyConnectedNet: {"hidden_dims": [5, 4], "input_dim": 16, "num_classes": 3},
    MLP: {"hidden": [5], "input_dim": 16, "num_classes": 3},
    ThreeLayerConvNet: {"input_dim": (1, 4, 4), "num_filters": 2, "filter_size": 3,
                        "hidden_dim": 5, "num_classes": 3},
    LeNet: {"input_dim": (1, 4, 4), "nkerns": [2], "filter_size": 3, "pool": 1, "hidden": 5,
            "num_classes": 3},
    VGGNet: {"input_dim": (1, 4, 4), "num_filters": [2], "As": [1], "hidden_dims": [4],
             "num_classes": 3},
    VGGlikeConvNet: {"input_dim": (1, 4, 4), "num_filters": [2], "As": [1], "hidden_dims": [4],
                     "num_classes": 3},
}


@pytest.mark.parametrize("cls", list(SMALL), ids=[cls.__name__ for cls in SMALL])
def test_model_classes_default_to_float64(cls):
    model = cls(**SMALL[cls])
    X = np.random.default_rng(0).standard_normal((4, 1, 4, 4)).astype(np.float32)
    loss, grads = model.loss(X, np.array([0, 1, 2, 0]))
    assert {value.dtype for value in model.params.values()} == {np.dtype(np.float64)}
    assert {grad.dtype for grad in grads.values()} == {np.dtype(np.float64)}
    assert model.loss(X).dtype == np.float64          # float32 inputs are computed in float64


def test_the_training_engine_builds_float32_models():
    model = create_model("twolayer", (1, 4, 4), 3, hidden_dim=5)
    assert {value.dtype for value in model.params.values()} == {np.dtype(np.float32)}


@pytest.mark.parametrize("dtype, passes", [(None, True), (np.float32, False)])
def test_the_notebooks_1e_10_loss_check_needs_float64(dtype, passes):
    # FullyConnectedNets.ipynb's TwoLayerNet check, `abs(loss - correct_loss) < 1e-10` with
    # correct_loss = 3.4702243556, holds for the default model and not for a float32 one
    N, D, H, C = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C,
                        **({} if dtype is None else {"dtype": dtype}))
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    loss, _ = model.loss(X, np.asarray([0, 5, 1]))
    assert (abs(loss - 3.4702243556) < 1e-10) == passes


def test_two_layer_net_initialisation_passes_the_notebooks_checks():
    # the notebook: W1 and W2 stds within std / 10 of std = 1e-3, all-zero biases
    std = 1e-3
    model = TwoLayerNet(input_dim=5, hidden_dim=50, num_classes=7, weight_scale=std)
    for name in ("W1", "W2"):
        assert abs(model.params[name].std() - std) < std / 10, name
    for name in ("b1", "b2"):
        assert not model.params[name].any(), name
