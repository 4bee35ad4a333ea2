"""Models by name: `create_model("lenet", input_shape, num_classes, **options)`.

Every builder takes the input shape (C, H, W) and class count from the data set and its own keyword
options with defaults; `striate models` lists them from the signatures, so the defaults shown are
the defaults used. Parameter names match the checkpoint format (`conv1.weight`, `output.bias`).
"""

import math
import warnings

import torch
from torch import nn

from striate.registry import ModelRegistry
from striate.torch import init

MODELS = ModelRegistry()
register = MODELS.register
check_model_options, model_options, describe = MODELS.check, MODELS.options, MODELS.describe


def create_model(name: str, input_shape: tuple[int, int, int], num_classes: int,
                 **options) -> nn.Module:
    with warnings.catch_warnings():  # torch warns about e.g. zero-size layers; we refuse them
        warnings.simplefilter("error")
        return MODELS.build(name, input_shape, num_classes, options,
                            errors=(TypeError, ValueError, RuntimeError, ZeroDivisionError,
                                    UserWarning))


ACTIVATIONS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {name!r}")
    return ACTIVATIONS[name]()


class Classifier(nn.Module):
    """features (anything) -> flatten -> hidden layers -> `output` logits."""

    def __init__(self, features: nn.Module, hidden: nn.Module, output: nn.Linear):
        super().__init__()
        self.features, self.hidden, self.output = features, hidden, output

    def forward(self, x):                     # x: (N, C, H, W)
        x = self.features(x).flatten(1)       # (N, D)
        return self.output(self.hidden(x))    # (N, num_classes) logits


def flat_size(features: nn.Module, input_shape) -> int:
    with torch.no_grad():
        return features(torch.zeros(1, *input_shape)).numel()


def zero_output(in_features: int, num_classes: int) -> nn.Linear:
    """The tutorials' LogisticRegression layer: W and b start at zero (the hidden layers below
    already break the symmetry)."""
    layer = nn.Linear(in_features, num_classes)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def hidden_stack(sizes, in_features: int, act: str) -> nn.Sequential:
    layers = nn.Sequential()
    for index, size in enumerate(sizes, start=1):
        layer = nn.Linear(in_features, size)
        init.for_activation(layer.weight, act)
        nn.init.zeros_(layer.bias)
        layers.add_module(f"fc{index}", layer)
        layers.add_module(f"{act}{index}", make_activation(act))
        in_features = size
    return layers


@register("logreg")
def logreg(input_shape, num_classes):
    """Softmax (multinomial logistic) regression, as in the tutorial's logistic_sgd.py."""
    return Classifier(nn.Identity(), nn.Identity(), zero_output(math.prod(input_shape), num_classes))


@register("mlp")
def mlp(input_shape, num_classes, hidden=(500,), activation="tanh"):
    """Multilayer perceptron (tutorial mlp.py): Glorot-uniform init, x4 for sigmoid, He for relu."""
    sizes = [hidden] if isinstance(hidden, int) else list(hidden)
    if not sizes or min(sizes) < 1:
        raise ValueError("hidden must be one or more positive layer sizes")
    stack = hidden_stack(sizes, math.prod(input_shape), activation)
    return Classifier(nn.Identity(), stack, zero_output(sizes[-1], num_classes))


class ConvPool(nn.Module):
    """The tutorial's LeNetConvPoolLayer: valid convolution, max-pool, then the activation.

    Adding the bias before or after pooling is the same function (max(x) + b = max(x + b)), so
    the bias lives in the convolution."""

    def __init__(self, in_channels, out_channels, filter_size, pool, act):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, filter_size)
        self.pool = nn.MaxPool2d(pool)
        self.act = make_activation(act)
        fan_in = in_channels * filter_size ** 2
        fan_out = out_channels * filter_size ** 2 / pool ** 2   # the pool divides fan-out
        init.glorot_uniform_(self.conv.weight, fan_in, fan_out)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):                      # (N, C, H, W)
        return self.act(self.pool(self.conv(x)))  # (N, K, (H-f+1)/p, (W-f+1)/p)


@register("lenet")
def lenet(input_shape, num_classes, nkerns=(20, 50), filter_size=5, pool=2, hidden=500,
          activation="tanh"):
    """LeNet-5 as in the tutorial's convolutional_mlp.py: two conv-pool-tanh stages, 500 tanh units."""
    nkerns = [nkerns] if isinstance(nkerns, int) else list(nkerns)
    if min(filter_size, pool, hidden, *nkerns) < 1:
        raise ValueError("filter_size, pool, hidden and nkerns must be positive")
    channels, height, width = input_shape
    stages, in_channels = nn.Sequential(), channels
    for index, kernels in enumerate(nkerns, start=1):
        height, width = (height - filter_size + 1) // pool, (width - filter_size + 1) // pool
        if min(height, width) < 1:
            raise ValueError(f"stage {index} of {filter_size}x{filter_size} filters and "
                             f"{pool}x{pool} pooling leaves no pixels of {input_shape[1]}x"
                             f"{input_shape[2]} images; use fewer stages (nkerns), a smaller "
                             "filter_size, or a model for small images such as mlp")
        stages.add_module(f"conv{index}", ConvPool(in_channels, kernels, filter_size, pool,
                                                   activation))
        in_channels = kernels
    stack = hidden_stack([hidden], flat_size(stages, input_shape), activation)
    return Classifier(stages, stack, zero_output(hidden, num_classes))


@register("convnet3")
def convnet3(input_shape, num_classes, num_filters=32, filter_size=7, hidden_dim=100,
             weight_scale=None):
    """cs231n ThreeLayerConvNet: conv - relu - 2x2 max pool - affine - relu - affine.

    weight_scale=None: He init before each ReLU and a zero output layer (the tutorials'); a
    number gives cs231n's N(0, weight_scale^2) everywhere (cs231n used 1e-3)."""
    channels = input_shape[0]
    features = nn.Sequential()
    # 'same' padding keeps H x W, so the pool halves it, as in cs231n.
    features.add_module("conv1", nn.Conv2d(channels, num_filters, filter_size,
                                           padding=(filter_size - 1) // 2))
    features.add_module("relu1", nn.ReLU())
    features.add_module("pool1", nn.MaxPool2d(2))
    hidden = nn.Sequential()
    hidden.add_module("fc1", nn.Linear(flat_size(features, input_shape), hidden_dim))
    hidden.add_module("relu1", nn.ReLU())
    output = nn.Linear(hidden_dim, num_classes)
    model = Classifier(features, hidden, output if weight_scale is not None
                       else zero_output(hidden_dim, num_classes))
    if weight_scale is not None:
        init.small_gaussian_(model, weight_scale)
    else:
        init.he_normal_(model.features.conv1.weight, channels * filter_size ** 2)
        init.he_normal_(model.hidden.fc1.weight, model.hidden.fc1.in_features)
        for layer in (model.features.conv1, model.hidden.fc1):
            nn.init.zeros_(layer.bias)
    return model
