"""Models by name: `create_model("lenet", input_shape, num_classes, **options)`.

Every builder takes the input shape (C, H, W) and class count from the data set and its own
keyword options with defaults, which must equal the model's spec in striate.registry (the NumPy
engine's builder of the same name takes the same ones). Parameter names match the checkpoint
format (`conv1.weight`, `output.bias`).
"""

import math
import warnings

import torch
from torch import nn

from striate.registry import ModelRegistry, check_dropout, positive_sizes
from striate.torch import init as weight_init

MODELS = ModelRegistry("torch")
register = MODELS.register
check_model_options = MODELS.check


def create_model(name: str, input_shape: tuple[int, int, int], num_classes: int,
                 trusted: bool = False, **options) -> nn.Module:
    """The model `name` (or a class of the user's own, package.module:Class, imported only if
    trusted) for (C, H, W) inputs and num_classes classes."""
    with warnings.catch_warnings():  # torch warns about e.g. zero-size layers; we refuse them
        warnings.simplefilter("error")
        return MODELS.build(name, input_shape, num_classes, options,
                            errors=(TypeError, ValueError, RuntimeError, ZeroDivisionError,
                                    UserWarning), trusted=trusted, refuse_class=not_a_module)


def not_a_module(cls: type) -> str | None:
    if not issubclass(cls, nn.Module):
        return (f"{cls.__name__} is not a torch nn.Module; give an nn.Module class (or a NumPy "
                "model with --engine numpy)")
    return None


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
    """Outputs of `features` per image; measured in eval mode, so that batch norm neither
    records the dummy batch in its running statistics nor needs more than one value."""
    features.eval()
    with torch.no_grad():
        size = features(torch.zeros(1, *input_shape)).numel()
    features.train()
    return size


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
        weight_init.for_activation(layer.weight, act)
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
    sizes = positive_sizes(hidden, "hidden")
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
        weight_init.glorot_uniform_(self.conv.weight, fan_in, fan_out)
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
        weight_init.small_gaussian_(model, weight_scale)
    else:
        weight_init.he_normal_(model.features.conv1.weight, channels * filter_size ** 2)
        weight_init.he_normal_(model.hidden.fc1.weight, model.hidden.fc1.in_features)
        for layer in (model.features.conv1, model.hidden.fc1):
            nn.init.zeros_(layer.bias)
    return model


def set_init_(model: nn.Module, scheme: str | None, weight_scale: float,
              activation: str = "relu") -> nn.Module:
    """Re-draw every convolution and affine weight by `scheme` (biases zero); None keeps the
    model's own tutorial initialisation."""
    if scheme is None:
        return model
    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            weight_init.by_scheme_(layer.weight, scheme, weight_scale, activation)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return model


@register("fcnet")
def fcnet(input_shape, num_classes, hidden_dims=(100, 100), activation="relu", batchnorm=False,
          dropout=0.0, init=None, weight_scale=1e-2):
    """cs231n FullyConnectedNet: (affine - [batch norm] - activation - [dropout]) x L - affine.

    dropout is the probability of zeroing a unit (torch's convention); init None is He (Glorot
    for tanh/sigmoid) with a zero output layer, or one of small, lecun, he, glorot."""
    sizes = positive_sizes(hidden_dims, "hidden_dims")
    check_dropout(dropout)
    hidden, features = nn.Sequential(), math.prod(input_shape)
    for index, size in enumerate(sizes, start=1):
        hidden.add_module(f"fc{index}", nn.Linear(features, size, bias=not batchnorm))
        weight_init.for_activation(hidden[-1].weight, activation)
        if hidden[-1].bias is not None:
            nn.init.zeros_(hidden[-1].bias)
        if batchnorm:
            hidden.add_module(f"bn{index}", nn.BatchNorm1d(size))
        hidden.add_module(f"{activation}{index}", make_activation(activation))
        if dropout:
            hidden.add_module(f"drop{index}", nn.Dropout(dropout))
        features = size
    model = Classifier(nn.Identity(), hidden, zero_output(features, num_classes))
    return set_init_(model, init, weight_scale, activation)


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 'same' convolution - batch norm - ReLU; no conv bias, since the norm's beta is one."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    weight_init.he_normal_(conv.weight, in_channels * 9)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class PooledConvBnReLU(nn.Sequential):
    """conv_bn_relu with a 2x2 max pool between the convolution and the batch norm: the norm and
    the ReLU then touch a quarter of the values (1.37x faster training for the 16/32/64 VGG on
    a 2-core CPU, where they are memory-bound). ReLU commutes with max pooling; the norm's
    statistics become those of the pooled maps. Its parameters keep conv_bn_relu's names."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(*conv_bn_relu(in_channels, out_channels))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x):                     # (N, C, H, W) -> (N, F, ~H/2, ~W/2)
        conv, norm, relu = self[0], self[1], self[2]
        return relu(norm(self.pool(conv(x))))


def vgg_stage(channels: int, width: int, count: int, pool_first: bool) -> nn.Sequential:
    """(conv3x3-bn-relu) x count - 2x2 max pool, the pool rounding up (ceil_mode, Theano's
    ignore_border=False); pool_first moves it before the last convolution's norm."""
    block = nn.Sequential()
    for index in range(1, count + 1):
        last = index == count
        layer = PooledConvBnReLU if pool_first and last else conv_bn_relu
        block.add_module(f"conv{index}", layer(channels, width))
        channels = width
    if not pool_first:
        block.add_module("pool", nn.MaxPool2d(2, ceil_mode=True))
    return block


@register("vgg")
def vgg(input_shape, num_classes, num_filters=(64, 64, 128, 256), As=(2, 2, 3, 3),
        hidden_dims=(64, 64), dropout=0.0, init=None, weight_scale=1e-2, pool_first=False):
    """cs231n VGG-like: [(conv3x3-bn-relu) x A - 2x2 max pool] x B - (fc-bn-relu-[dropout]) x K.

    num_filters[b] and As[b] give stage b; the pools round up, so 28x28 (28-14-7-4-2) and
    32x32 (32-16-8-4-2) both work. pool_first: see PooledConvBnReLU."""
    filters, repeats = positive_sizes(num_filters, "num_filters"), positive_sizes(As, "As")
    if len(filters) != len(repeats):
        raise ValueError(f"num_filters {filters} and As {repeats} need one entry per stage")
    check_dropout(dropout)
    features, channels = nn.Sequential(), input_shape[0]
    for stage, (width, count) in enumerate(zip(filters, repeats), start=1):
        features.add_module(f"stage{stage}", vgg_stage(channels, width, count, pool_first))
        channels = width
    hidden, size = nn.Sequential(), flat_size(features, input_shape)
    for index, dim in enumerate(positive_sizes(hidden_dims, "hidden_dims"), start=1):
        hidden.add_module(f"fc{index}", nn.Linear(size, dim, bias=False))
        weight_init.he_normal_(hidden[-1].weight, size)
        hidden.add_module(f"bn{index}", nn.BatchNorm1d(dim))
        hidden.add_module(f"relu{index}", nn.ReLU(inplace=True))
        if dropout:
            hidden.add_module(f"drop{index}", nn.Dropout(dropout))
        size = dim
    model = Classifier(features, hidden, zero_output(size, num_classes))
    return set_init_(model, init, weight_scale)


class Residual(nn.Module):
    """x + f(x): the identity path lets gradients skip f, which is what makes depth trainable."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(channels, channels), conv_bn_relu(channels, channels))

    def forward(self, x):                     # (N, C, H, W) -> (N, C, H, W)
        return x + self.body(x)


class Scale(nn.Module):
    """Multiply by a constant. Before a bias-free affine layer it scales the logits: ResNet-9
    divides them by 8 so that the softmax starts soft."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


@register("resnet")
def resnet(input_shape, num_classes, width=64, residual=(1, 0, 1), init=None, weight_scale=1e-2,
           pool_first=False):
    """ResNet-9 (DAWNBench, Page 2018): prep - 3 x [conv-bn-relu - pool - residual blocks].

    Stage s has width * 2^s channels and residual[s] two-convolution residual blocks; a global
    max pool and one affine layer (logits x 1/8) finish it. width=64 is the DAWNBench net.
    pool_first pools each stage's convolution before its norm (PooledConvBnReLU)."""
    blocks = [residual] if isinstance(residual, int) else list(residual)
    if width < 1 or len(blocks) < 1 or min(blocks) < 0:
        raise ValueError("width must be positive and residual a list of block counts >= 0")
    features = nn.Sequential()
    features.add_module("prep", conv_bn_relu(input_shape[0], width))
    channels = width
    for stage, count in enumerate(blocks, start=1):
        if pool_first:
            block = nn.Sequential(PooledConvBnReLU(channels, width * 2 ** stage))
        else:
            block = nn.Sequential(conv_bn_relu(channels, width * 2 ** stage),
                                  nn.MaxPool2d(2, ceil_mode=True))
        channels = width * 2 ** stage
        for index in range(count):
            block.add_module(f"res{index + 1}", Residual(channels))
        features.add_module(f"stage{stage}", block)
    features.add_module("pool", nn.AdaptiveMaxPool2d(1))
    model = Classifier(features, Scale(0.125), nn.Linear(channels, num_classes, bias=False))
    return set_init_(model, init, weight_scale)


MODELS.check_complete()
