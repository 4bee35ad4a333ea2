"""The Deep Learning Tutorials' own classes, as torch modules, for readers porting their code.

logistic_sgd.py's `LogisticRegression`, mlp.py's `HiddenLayer` and `MLP` and convolutional_mlp.py's
`LeNetConvPoolLayer`, with the tutorials' constructor arguments, parameter names and shapes, and
initialisation drawn from the same `numpy.random.RandomState` in the same order: with the
tutorials' seeds (1234 for the MLP, 23455 for LeNet) `W` holds the tutorials' numbers. `LeNet` is
the network that convolutional_mlp.py's `evaluate_lenet5` assembles from them.

What changes from Theano to torch, and why:

- The symbolic `input` of each constructor becomes the argument of `forward`, and of every method
  that used it: the tutorial's `classifier.negative_log_likelihood(y)` (with `input=x` bound when
  the graph was built) is `classifier.negative_log_likelihood(x, y)` here, `classifier.errors(y)`
  is `classifier.errors(x, y)`, `p_y_given_x` and `y_pred` are `p_y_given_x(x)` and `y_pred(x)`.
- A classifier's `forward` returns the class scores before the softmax (logits), (N, n_out):
  what `F.cross_entropy` and striate's trainer expect. `p_y_given_x(x)` is their softmax.
- `theano.config.floatX` is torch's default dtype (float32 unless changed).
- Fully connected layers take (N, n_in) or images (N, C, H, W), flattened to (N, C*H*W).
- Theano's `conv2d` convolves (it flips the kernel); torch's `conv2d` correlates. The layer keeps
  Theano's convention (`filter_flip=True`, Theano's own name for it) and flips `W` before calling
  torch, so `W` holds the tutorial's numbers *and* the layer computes the tutorial's function: a
  `W` trained in Theano loads unchanged. `filter_flip=False` is torch's convention.
- `image_shape`'s batch size is only documentation: torch takes any batch size.

The modules hold `W` and `b` as `nn.Parameter`s, so `state_dict()`, optimizers and striate's
L1/L2 penalties (which apply to every weight with two or more dimensions, never to biases) see them
like any other torch module's; `params` lists them in the tutorials' order.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LogisticRegression", "HiddenLayer", "MLP", "LeNetConvPoolLayer", "LeNet"]


def _parameter(values, shape: tuple, name: str) -> nn.Parameter:
    """A given W or b: an nn.Parameter is used as it is (shared, like the tutorials' shared
    variables passed from one layer to another); anything else is copied into a new one."""
    if not isinstance(values, nn.Parameter):
        tensor = (values.detach() if isinstance(values, torch.Tensor)
                  else torch.as_tensor(np.asarray(values)))
        values = nn.Parameter(tensor.to(torch.get_default_dtype()).clone())
    if tuple(values.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(values.shape)}, but this layer needs "
                         f"{tuple(shape)}; pass a {name} of that shape, or None to initialise it")
    return values


# MLP's activation by name, so that a checkpoint can name it (its hparams)
ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


def _uniform(rng: np.random.RandomState, bound: float, size: tuple) -> nn.Parameter:
    """The tutorials' draw: numpy.asarray(rng.uniform(-bound, bound, size), dtype=floatX)."""
    values = np.asarray(rng.uniform(low=-bound, high=bound, size=size))
    return nn.Parameter(torch.as_tensor(values, dtype=torch.get_default_dtype()))


def _zeros(*size: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(size, dtype=torch.get_default_dtype()))


def _is_sigmoid(activation) -> bool:
    return activation in (torch.sigmoid, F.sigmoid) or isinstance(activation, nn.Sigmoid)


def _name(activation) -> str:
    return "None" if activation is None else getattr(activation, "__name__", repr(activation))


class _Classifier(nn.Module):
    """What logistic_sgd.py's LogisticRegression offers on top of its output, for any module
    whose forward returns class scores (N, n_out); the input is passed where Theano had it bound."""

    def p_y_given_x(self, input: torch.Tensor) -> torch.Tensor:
        """(N, n_out) class probabilities, softmax(forward(input))."""
        return torch.softmax(self(input), dim=1)

    def y_pred(self, input: torch.Tensor) -> torch.Tensor:
        """(N,) the class of highest probability."""
        return self(input).argmax(dim=1)

    def negative_log_likelihood(self, input: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean over the minibatch of -log P(Y = y | x): the tutorials' cost, a scalar. The mean,
        not the sum, so that the learning rate depends less on the batch size."""
        log_p_y_given_x = torch.log_softmax(self(input), dim=1)  # log(softmax), without underflow
        return -log_p_y_given_x[torch.arange(y.shape[0]), y].mean()

    def errors(self, input: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The zero-one loss: the fraction of the minibatch misclassified, a scalar."""
        if y.ndim != 1:
            raise TypeError(f"y should have the same shape as y_pred, (N,), not {tuple(y.shape)}; "
                            "pass one integer label per example")
        if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
            raise TypeError(f"y holds {y.dtype}, not integer labels; pass y.long()")
        return (self.y_pred(input) != y).float().mean()


class LogisticRegression(_Classifier):
    """Multi-class logistic regression (logistic_sgd.py): scores x W + b, W (n_in, n_out) and b
    (n_out,) both starting at zero, as in the tutorial."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.hparams = {"n_in": n_in, "n_out": n_out}
        self.W = _zeros(n_in, n_out)
        self.b = _zeros(n_out)

    @property
    def params(self) -> list[nn.Parameter]:
        return [self.W, self.b]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """(N, n_in) or (N, C, H, W) -> (N, n_out) logits; p_y_given_x(input) is their softmax."""
        return input.flatten(1) @ self.W + self.b

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}"


class HiddenLayer(nn.Module):
    """A fully connected layer (mlp.py): activation(x W + b), W (n_in, n_out) and b (n_out,).

    W starts uniform in +-sqrt(6 / (n_in + n_out)) (Glorot and Bengio, 2010), times 4 for a
    sigmoid, whose slope at 0 is a quarter of tanh's; b starts at zero. W and b may be given
    instead (arrays are copied; an nn.Parameter is shared, as the tutorials share W between
    layers). activation=None is a linear layer."""

    def __init__(self, rng: np.random.RandomState, n_in: int, n_out: int, W=None, b=None,
                 activation=torch.tanh):
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        if W is None:
            W = _uniform(rng, math.sqrt(6.0 / (n_in + n_out)), (n_in, n_out))
            if _is_sigmoid(activation):
                with torch.no_grad():
                    W *= 4
        self.W = _parameter(W, (n_in, n_out), "W")
        self.b = _zeros(n_out) if b is None else _parameter(b, (n_out,), "b")
        self.activation = activation

    @property
    def params(self) -> list[nn.Parameter]:
        return [self.W, self.b]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """(N, n_in) or (N, C, H, W) -> (N, n_out), the tutorial's `output`."""
        lin_output = input.flatten(1) @ self.W + self.b
        return lin_output if self.activation is None else self.activation(lin_output)

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, activation={_name(self.activation)}"


class MLP(_Classifier):
    """One hidden layer and a logistic regression on top (mlp.py), built in the tutorial's order:
    hiddenLayer draws its W from rng, logRegressionLayer starts at zero.

    `L1` and `L2_sqr` are the tutorial's penalties, sum |W| and sum W^2 over both layers' W (not
    the biases): its cost is `negative_log_likelihood(x, y) + L1_reg * L1 + L2_reg * L2_sqr`,
    which is also what striate's trainer adds for --l1 L1_reg --l2 L2_reg.
    `activation` is an addition: the tutorial's MLP is always tanh."""

    def __init__(self, rng: np.random.RandomState | None, n_in: int, n_hidden: int, n_out: int,
                 activation=torch.tanh):
        super().__init__()
        activation = ACTIVATIONS.get(activation, activation)    # a function, or its name
        name = next((key for key, value in ACTIVATIONS.items() if value is activation), None)
        # what rebuilds it from a checkpoint (striate.load); rng None: the tutorial's seed
        self.hparams = ({"rng": None, "n_in": n_in, "n_hidden": n_hidden, "n_out": n_out,
                         "activation": name} if name else None)
        rng = np.random.RandomState(1234) if rng is None else rng
        self.hiddenLayer = HiddenLayer(rng, n_in=n_in, n_out=n_hidden, activation=activation)
        self.logRegressionLayer = LogisticRegression(n_in=n_hidden, n_out=n_out)

    @property
    def L1(self) -> torch.Tensor:
        return self.hiddenLayer.W.abs().sum() + self.logRegressionLayer.W.abs().sum()

    @property
    def L2_sqr(self) -> torch.Tensor:
        return (self.hiddenLayer.W ** 2).sum() + (self.logRegressionLayer.W ** 2).sum()

    @property
    def params(self) -> list[nn.Parameter]:
        return self.hiddenLayer.params + self.logRegressionLayer.params

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """(N, n_in) or (N, C, H, W) -> (N, n_out) logits."""
        return self.logRegressionLayer(self.hiddenLayer(input))


class LeNetConvPoolLayer(nn.Module):
    """A convolution and max-pooling layer (convolutional_mlp.py): tanh(maxpool(conv(x)) + b).

    filter_shape: (number of filters, input feature maps, filter height, filter width).
    image_shape: (batch size, input feature maps, image height, image width); the batch size is
    ignored (torch takes any) and may be None, or left out.
    poolsize: the pooling factor (rows, columns); borders that do not fill a window are dropped
    (Theano's ignore_border=True).

    W (filter_shape) starts uniform in +-sqrt(6 / (fan_in + fan_out)), fan_in = feature maps x
    filter height x width, fan_out = filters x filter height x width // pooling size (each input
    unit receives gradient from that many outputs; // as the tutorial's integer division); b
    (one per filter) starts at zero and is added after pooling, as in the tutorial.

    filter_flip=True (Theano's conv2d default): W is a convolution kernel and is flipped before
    torch's cross-correlation, so W means what it means in the tutorial (see the module
    docstring). filter_flip=False: W is used as torch's nn.Conv2d would use it."""

    def __init__(self, rng: np.random.RandomState, filter_shape: tuple, image_shape: tuple,
                 poolsize: tuple = (2, 2), filter_flip: bool = True):
        super().__init__()
        filter_shape, image_shape = tuple(filter_shape), tuple(image_shape)[-3:]  # (C, H, W)
        if len(filter_shape) != 4 or len(image_shape) != 3:
            raise ValueError("filter_shape is (filters, feature maps, height, width) and "
                             "image_shape (batch size, feature maps, height, width)")
        if image_shape[0] != filter_shape[1]:
            raise ValueError(f"image_shape has {image_shape[0]} feature maps but filter_shape "
                             f"reads {filter_shape[1]}; make image_shape[1] == filter_shape[1]")
        self.filter_shape, self.image_shape = filter_shape, image_shape
        self.poolsize, self.filter_flip = tuple(poolsize), filter_flip
        fan_in = int(np.prod(filter_shape[1:]))
        fan_out = filter_shape[0] * int(np.prod(filter_shape[2:])) // int(np.prod(poolsize))
        self.W = _uniform(rng, math.sqrt(6.0 / (fan_in + fan_out)), filter_shape)
        self.b = _zeros(filter_shape[0])

    @property
    def params(self) -> list[nn.Parameter]:
        return [self.W, self.b]

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(filters, height, width) of the output for one image of image_shape."""
        (_, height, width), (_, _, rows, cols) = self.image_shape, self.filter_shape
        return (self.filter_shape[0], (height - rows + 1) // self.poolsize[0],
                (width - cols + 1) // self.poolsize[1])

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W), image_shape's, -> (N, filters, (H-h+1)//pool, (W-w+1)//pool)."""
        if tuple(input.shape[1:]) != self.image_shape:
            raise ValueError(f"this layer was built for images of {self.image_shape} (feature "
                             f"maps, height, width), not {tuple(input.shape[1:])}; pass "
                             "(N, C, H, W) images of image_shape, or build it with theirs")
        filters = self.W.flip((2, 3)) if self.filter_flip else self.W
        conv_out = F.conv2d(input, filters)                             # (N, K, H-h+1, W-w+1)
        pooled_out = F.max_pool2d(conv_out, self.poolsize)             # (N, K, ./pool, ./pool)
        # the bias after pooling, as the tutorial's b.dimshuffle('x', 0, 'x', 'x')
        return torch.tanh(pooled_out + self.b[None, :, None, None])

    def extra_repr(self) -> str:
        return (f"filter_shape={self.filter_shape}, image_shape={self.image_shape}, "
                f"poolsize={self.poolsize}, filter_flip={self.filter_flip}")


class LeNet(_Classifier):
    """The network of convolutional_mlp.py's evaluate_lenet5: two LeNetConvPoolLayers of 5x5
    filters and 2x2 max-pooling, a HiddenLayer of n_hidden tanh units and a LogisticRegression,
    as layer0 .. layer3, drawn from rng in that order (the tutorial seeds RandomState(23455)).

    On 28x28 MNIST: layer0 (N, 20, 12, 12), layer1 (N, 50, 4, 4), layer2 800 -> 500, layer3
    500 -> 10. image_shape is one image's (C, H, W); flat (N, C*H*W) input is reshaped to it,
    as the tutorial's x.reshape((batch_size, 1, 28, 28))."""

    def __init__(self, rng: np.random.RandomState | None, nkerns: tuple = (20, 50),
                 image_shape: tuple = (1, 28, 28), n_hidden: int = 500, n_out: int = 10):
        super().__init__()
        channels, height, width = image_shape = tuple(image_shape)[-3:]
        # what rebuilds it from a checkpoint (striate.load); rng None: the tutorial's seed
        self.hparams = {"rng": None, "nkerns": list(nkerns), "image_shape": list(image_shape),
                        "n_hidden": n_hidden, "n_out": n_out}
        rng = np.random.RandomState(23455) if rng is None else rng
        self.image_shape = image_shape
        # 28x28: filtering to (28-5+1, 28-5+1) = (24, 24), pooling to (12, 12)
        self.layer0 = LeNetConvPoolLayer(rng, filter_shape=(nkerns[0], channels, 5, 5),
                                         image_shape=(None, *image_shape), poolsize=(2, 2))
        # 12x12: filtering to (8, 8), pooling to (4, 4)
        self.layer1 = LeNetConvPoolLayer(rng, filter_shape=(nkerns[1], nkerns[0], 5, 5),
                                         image_shape=(None, *self.layer0.output_shape),
                                         poolsize=(2, 2))
        kernels, rows, cols = self.layer1.output_shape
        if min(rows, cols) < 1:
            raise ValueError(f"{height}x{width} images leave no pixels after two 5x5 "
                             "convolutions and 2x2 poolings; LeNet needs at least 16x16 images")
        self.layer2 = HiddenLayer(rng, n_in=kernels * rows * cols, n_out=n_hidden,
                                  activation=torch.tanh)
        self.layer3 = LogisticRegression(n_in=n_hidden, n_out=n_out)

    @property
    def params(self) -> list[nn.Parameter]:
        """The tutorial's order: layer3.params + layer2.params + layer1.params + layer0.params."""
        return self.layer3.params + self.layer2.params + self.layer1.params + self.layer0.params

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images, or (N, C*H*W) rows of them, -> (N, n_out) logits."""
        if input.ndim == 2:
            input = input.reshape(-1, *self.image_shape)
        layer1_output = self.layer1(self.layer0(input))                 # (N, nkerns[1], 4, 4)
        return self.layer3(self.layer2(layer1_output))                  # flattened to (N, 800)
