import math

import pytest
import torch

from striate.errors import StriateError
from striate.registry import SPECS
from striate.torch.models import MODELS, create_model


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_model_maps_any_input_shape_to_class_logits(name, shape):
    model = create_model(name, shape, 7)
    assert model(torch.rand(5, *shape)).shape == (5, 7)


def test_lenet_is_the_tutorials_architecture():
    model = create_model("lenet", (1, 28, 28), 10)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {
        "features.conv1.conv.weight": (20, 1, 5, 5), "features.conv1.conv.bias": (20,),
        "features.conv2.conv.weight": (50, 20, 5, 5), "features.conv2.conv.bias": (50,),
        "hidden.fc1.weight": (500, 800), "hidden.fc1.bias": (500,),
        "output.weight": (10, 500), "output.bias": (10,)}
    # LeNetConvPoolLayer: U(-r, r), r = sqrt(6 / (fan_in + fan_out)), fan_out divided by pool area
    bound = math.sqrt(6 / (20 * 25 + 50 * 25 / 4))
    weight = model.features.conv2.conv.weight
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(model.output.weight) == 0


def test_mlp_init_follows_the_activation():
    torch.manual_seed(0)
    tanh = create_model("mlp", (1, 20, 20), 10, hidden=[300]).hidden.fc1.weight
    sigmoid = create_model("mlp", (1, 20, 20), 10, hidden=[300], activation="sigmoid").hidden.fc1.weight
    relu = create_model("mlp", (1, 20, 20), 10, hidden=[300], activation="relu").hidden.fc1.weight
    glorot = math.sqrt(6 / (400 + 300))
    assert glorot * 0.95 < tanh.abs().max() <= glorot
    assert 4 * glorot * 0.95 < sigmoid.abs().max() <= 4 * glorot
    assert relu.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05)


def test_convnet3_uses_weight_scale():
    torch.manual_seed(0)
    model = create_model("convnet3", (3, 32, 32), 10, weight_scale=0.01)
    assert model.features.conv1.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert tuple(model.hidden.fc1.weight.shape) == (100, 32 * 16 * 16)


def test_registry_errors_name_the_valid_choices():
    with pytest.raises(StriateError, match="choose one of convnet3, fcnet, lenet, logreg, mlp, resnet, vgg"):
        create_model("alexnet", (1, 28, 28), 10)
    with pytest.raises(StriateError, match="no option 'width'.*hidden, activation"):
        create_model("mlp", (1, 28, 28), 10, width=3)
    with pytest.raises(StriateError, match="activation"):
        create_model("mlp", (1, 28, 28), 10, activation="swish")
    with pytest.raises(StriateError, match="stage 2 of 5x5 filters and 2x2 pooling leaves no pixels of 8x8"):
        create_model("lenet", (1, 8, 8), 10)
    assert SPECS["lenet"].options["nkerns"] == (20, 50)
