"""NumPy models by name: `create_model("convnet3", input_shape, num_classes, **options)`.

Every model is cs231n's kind: a `params` dict of arrays named W1, b1, W2, ... (batch norm adds
gamma1, beta1, ...) and one method,

    scores = model.loss(X)              # X: (N, C, H, W) or (N, D); scores: (N, classes); test mode
    loss, grads = model.loss(X, y)      # y: (N,) labels; grads shaped like params; train mode

that runs the forward pass, then the backward pass, through striate.numpy.layers. Dropout and
batch norm run in train mode when labels are given and in test mode when they are not.

The conventions are cs231n's, so that the assignments' settings give the assignments' numbers:

- reg: loss += 0.5 * reg * sum(W ** 2) over the weights (the W arrays; never biases, gamma or
  beta), gradient reg * W. striate's --l2 lambda adds lambda * sum(W ** 2) in the learner,
  through the same losses.weight_penalty, to models built with reg 0: cs231n's reg is 2 * lambda.
- dtype: the classes compute in float64 unless told otherwise, as the notebooks' gradient checks
  need; create_model, which the training engine builds from, passes float32 for speed.
- The data loss is the model's data_loss_function, softmax_loss unless the model (LinearSVM) or
  --loss says otherwise.
- FullyConnectedNet and VGGNet take cs231n's seed: an int fixes the dropout masks.

The models that both engines have (logreg, mlp, lenet, convnet3, fcnet, vgg) are the same
functions of the same weights as striate.torch.models', initialised by the same schemes, and
`torch_names()` maps each param and batch-norm statistic to its torch state_dict key, so weights
move between the engines (an affine weight is (D, M) here and torch's Linear.weight (M, D):
transposed).

The classes keep cs231n's constructor arguments (FullyConnectedNet(dropout_keep_ratio=...,
normalization=...)); the registry's builders at the bottom take the model vocabulary of
striate.registry, the same options as the torch engine's, and translate.

Layers are looked up as module attributes at call time (layers.affine_forward, not a copy), so
replacing a layer, as a test or a student does, changes every model built on it.
"""

import math

import numpy as np

from striate.errors import StriateError
from striate.numpy import fast_layers, init, layer_utils, layers, losses
from striate.registry import ModelRegistry, check_dropout, positive_sizes

ACTIVATIONS = ("tanh", "sigmoid", "relu")


def check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {name!r}")


def activation_forward(name, x):
    return getattr(layers, f"{name}_forward")(x)


def activation_backward(name, dout, cache):
    return getattr(layers, f"{name}_backward")(dout, cache)


def sizes(value) -> list[int]:
    """An int or a sequence of ints (layer sizes) as a list."""
    return [int(value)] if isinstance(value, (int, np.integer)) else [int(v) for v in value]


class Model:
    """What every model shares: params, dtype, the init generator, batch norm's running
    statistics, the data loss and the L2 penalty."""

    def __init__(self, reg=0.0, dtype=np.float64, seed=0):
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        self.rng = np.random.default_rng(seed)   # an int seed or a np.random.Generator
        # One dict per batch-norm layer, for layers.batchnorm_forward: mode and running stats.
        self.bn_params = []
        self.data_loss_function = losses.softmax_loss   # (scores, y) -> (loss, dscores)

    def add_bn(self, index: int, size: int) -> None:
        """gamma{index}, beta{index} and the running statistics of a batch norm over `size`,
        which must be bn_params[index - 1]."""
        self.params[f"gamma{index}"] = init.ones(size, self.dtype)
        self.params[f"beta{index}"] = init.zeros(size, self.dtype)
        # Both statistics start at zero, as cs231n's batchnorm_forward starts them.
        # num_batches_tracked: torch's count of train-mode passes, () int64. Nothing here reads
        # it (the momentum is fixed), but checkpoints carry it so that torch loads them strictly.
        self.bn_params.append({"mode": "train", "running_mean": init.zeros(size, self.dtype),
                               "running_var": init.zeros(size, self.dtype),
                               "num_batches_tracked": np.zeros((), np.int64)})

    def start(self, X, y):
        """X in the model's dtype, and the mode ("train" with labels) set for batch norm."""
        mode = "test" if y is None else "train"
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
            if mode == "train":
                bn_param["num_batches_tracked"] += 1
        return np.asarray(X).astype(self.dtype, copy=False), mode

    def bn_torch_names(self, index: int, module: str) -> dict:
        """torch_names() of batch norm `index` (gamma{index}, beta{index}, bn_params[index - 1])
        when torch calls it `module`: gamma and beta are its weight and bias."""
        names = {f"gamma{index}": (f"{module}.weight", False),
                 f"beta{index}": (f"{module}.bias", False)}
        for statistic in ("running_mean", "running_var", "num_batches_tracked"):
            names[f"bn_params.{index - 1}.{statistic}"] = (f"{module}.{statistic}", False)
        return names

    def data_loss(self, scores, y):
        """data_loss_function of (N, classes) scores: (loss, dscores). The scores are kept as
        last_scores: the learner's training error is read from them."""
        self.last_scores = scores
        return self.data_loss_function(scores, y)

    def add_penalty(self, loss: float, grads: dict) -> tuple[float, dict]:
        """loss + 0.5 * reg * sum(W ** 2) over the weights, and its gradient reg * W."""
        penalty, penalty_grads = losses.weight_penalty(self.params, 0.0, 0.5 * self.reg)
        for name, grad in penalty_grads.items():
            grads[name] = grads[name] + grad
        return float(loss) + penalty, grads


class LinearClassifier(Model):
    """scores = X.reshape(N, D) @ W1 + b1. W1: (D, C), b1: (C,)."""

    def __init__(self, input_dim=3 * 32 * 32, num_classes=10, weight_scale=1e-3, reg=0.0,
                 dtype=np.float64, seed=0):
        super().__init__(reg, dtype, seed)
        D = math.prod(sizes(input_dim))
        self.params["W1"] = init.small_gaussian((D, num_classes), weight_scale, self.rng, dtype)
        self.params["b1"] = init.zeros(num_classes, dtype)

    def loss(self, X, y=None):
        X, _ = self.start(X, y)
        scores, cache = layers.affine_forward(X, self.params["W1"], self.params["b1"])  # (N, C)
        if y is None:
            return scores
        loss, dscores = self.data_loss(scores, y)
        grads = {}
        _, grads["W1"], grads["b1"] = layers.affine_backward(dscores, cache)
        return self.add_penalty(loss, grads)


class SoftmaxClassifier(LinearClassifier):
    """Multinomial logistic regression: a linear map and the softmax cross-entropy.

    weight_scale 0 (the default) starts W1 at zero, as the tutorial's LogisticRegression and the
    torch engine's logreg do: the loss is convex, so there is no symmetry to break.
    """

    def __init__(self, input_dim=3 * 32 * 32, num_classes=10, weight_scale=0.0, reg=0.0,
                 dtype=np.float64, seed=0):
        super().__init__(input_dim, num_classes, weight_scale, reg, dtype, seed)

    def torch_names(self):
        return {"W1": ("output.weight", True), "b1": ("output.bias", False)}


class LinearSVM(LinearClassifier):
    """A linear map and the multiclass hinge loss (losses.svm_loss, margin 1)."""

    def __init__(self, input_dim=3 * 32 * 32, num_classes=10, weight_scale=1e-3, reg=0.0,
                 dtype=np.float64, seed=0):
        super().__init__(input_dim, num_classes, weight_scale, reg, dtype, seed)
        self.data_loss_function = losses.svm_loss


class TwoLayerNet(Model):
    """affine - relu - affine - softmax. W1: (D, H), b1: (H,), W2: (H, C), b2: (C,)."""

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3,
                 reg=0.0, dtype=np.float64, seed=0):
        super().__init__(reg, dtype, seed)
        if hidden_dim < 1:
            raise ValueError("hidden_dim must be positive")
        D = math.prod(sizes(input_dim))
        self.params["W1"] = init.small_gaussian((D, hidden_dim), weight_scale, self.rng, dtype)
        self.params["b1"] = init.zeros(hidden_dim, dtype)
        self.params["W2"] = init.small_gaussian((hidden_dim, num_classes), weight_scale,
                                                self.rng, dtype)
        self.params["b2"] = init.zeros(num_classes, dtype)

    def loss(self, X, y=None):
        X, _ = self.start(X, y)
        p = self.params
        hidden, hidden_cache = layer_utils.affine_relu_forward(X, p["W1"], p["b1"])   # (N, H)
        scores, scores_cache = layers.affine_forward(hidden, p["W2"], p["b2"])        # (N, C)
        if y is None:
            return scores
        loss, dscores = self.data_loss(scores, y)
        grads = {}
        dhidden, grads["W2"], grads["b2"] = layers.affine_backward(dscores, scores_cache)
        _, grads["W1"], grads["b1"] = layer_utils.affine_relu_backward(dhidden, hidden_cache)
        return self.add_penalty(loss, grads)


def weight_source(seed, rng):
    """What draws a dropout model's initial weights: rng if given, else cs231n's seed (0 when
    None, so that a model is the same each time it is built)."""
    if rng is not None:
        return rng
    return 0 if seed is None else seed


def dropout_param(keep: float, mode: str, seed, rng) -> dict:
    """layers.dropout_forward's dropout_param for one call. cs231n's seed fixes the mask;
    without one, each call's mask comes from a generator seeded from the model's rng, so a run's
    masks follow from its seed and a resumed run draws the same ones."""
    if seed is not None:
        return {"p": keep, "mode": mode, "seed": seed}
    return {"p": keep, "mode": mode, "rng": np.random.default_rng(int(rng.integers(2 ** 31)))}


class FullyConnectedNet(Model):
    """{affine - [batch norm] - activation - [dropout]} x (L - 1) - affine - softmax.

    hidden_dims: the L - 1 hidden sizes. dropout_keep_ratio: the probability of keeping a unit
    (1: no dropout). normalization: None or "batchnorm". activation: relu (cs231n), tanh or
    sigmoid. weight_init: an init.SCHEMES name ("gaussian" uses weight_scale); zero_output
    starts the last layer at zero, as the tutorials' output layer.

    A batch-normalized layer has no bias: the batch mean subtracts it away, and beta does its
    job (cs231n keeps a b whose gradient is zero). seed: cs231n's; an int fixes the dropout
    masks, the same on every call, as a gradient check needs (and, as cs231n's, the same seed
    for every layer). rng: a np.random.Generator that draws the initial weights and, without a
    seed, fresh masks for every call (striate's training); without one the weights come from
    seed (0 when None).
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1.0,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float64, seed=None,
                 activation="relu", weight_init="gaussian", zero_output=False, rng=None):
        super().__init__(reg, dtype, weight_source(seed, rng))
        check_activation(activation)
        if normalization not in (None, "batchnorm"):
            raise ValueError(f'normalization must be None or "batchnorm", not {normalization!r}')
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError("dropout_keep_ratio is the probability of keeping a unit, in (0, 1]")
        hidden_dims = sizes(hidden_dims)
        if min(hidden_dims, default=1) < 1:
            raise ValueError("hidden_dims must be positive layer sizes")
        self.activation, self.normalization = activation, normalization
        self.keep, self.dropout_seed = dropout_keep_ratio, seed
        dims = [math.prod(sizes(input_dim)), *hidden_dims, num_classes]
        self.num_layers = len(dims) - 1
        for i in range(1, self.num_layers + 1):
            shape, last = (dims[i - 1], dims[i]), i == self.num_layers
            self.params[f"W{i}"] = (init.zeros(shape, dtype) if last and zero_output else
                                    init.init_weight(weight_init, shape, self.rng, dtype,
                                                     weight_scale, activation))
            if normalization and not last:
                self.add_bn(i, dims[i])
            else:
                self.params[f"b{i}"] = init.zeros(dims[i], dtype)

    def hidden_forward(self, x, i, mode):
        """Hidden layer i: x (N, ...) -> (N, dims[i]) and its cache."""
        w = self.params[f"W{i}"]
        b = self.params.get(f"b{i}", np.zeros(w.shape[1], self.dtype))
        out, affine_cache = layers.affine_forward(x, w, b)
        bn_cache = dropout_cache = None
        if self.normalization:
            out, bn_cache = layers.batchnorm_forward(out, self.params[f"gamma{i}"],
                                                     self.params[f"beta{i}"], self.bn_params[i - 1])
        out, act_cache = activation_forward(self.activation, out)
        if self.keep < 1:
            out, dropout_cache = layers.dropout_forward(
                out, dropout_param(self.keep, mode, self.dropout_seed, self.rng))
        return out, (affine_cache, bn_cache, act_cache, dropout_cache)

    def hidden_backward(self, dout, cache, i, grads):
        """dout: (N, dims[i]). Fills grads of layer i; returns dx."""
        affine_cache, bn_cache, act_cache, dropout_cache = cache
        if dropout_cache is not None:
            dout = layers.dropout_backward(dout, dropout_cache)
        dout = activation_backward(self.activation, dout, act_cache)
        if bn_cache is not None:
            dout, grads[f"gamma{i}"], grads[f"beta{i}"] = layers.batchnorm_backward(dout, bn_cache)
        dx, grads[f"W{i}"], db = layers.affine_backward(dout, affine_cache)
        if f"b{i}" in self.params:
            grads[f"b{i}"] = db
        return dx

    def loss(self, X, y=None):
        h, mode = self.start(X, y)
        L, caches = self.num_layers, []
        for i in range(1, L):
            h, cache = self.hidden_forward(h, i, mode)
            caches.append(cache)
        scores, scores_cache = layers.affine_forward(h, self.params[f"W{L}"],
                                                     self.params[f"b{L}"])      # (N, C)
        if y is None:
            return scores
        loss, dscores = self.data_loss(scores, y)
        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = layers.affine_backward(dscores, scores_cache)
        for i in range(L - 1, 0, -1):
            dh = self.hidden_backward(dh, caches[i - 1], i, grads)
        return self.add_penalty(loss, grads)

    def torch_names(self):
        L, names = self.num_layers, {}
        for i in range(1, L):
            names[f"W{i}"] = (f"hidden.fc{i}.weight", True)
            if f"b{i}" in self.params:
                names[f"b{i}"] = (f"hidden.fc{i}.bias", False)
            if self.normalization:
                names.update(self.bn_torch_names(i, f"hidden.bn{i}"))
        names[f"W{L}"], names[f"b{L}"] = ("output.weight", True), ("output.bias", False)
        return names


class MLP(FullyConnectedNet):
    """The tutorial's multilayer perceptron, the torch engine's mlp: hidden layers initialised
    for their activation (Glorot uniform, x4 for sigmoid, He for relu), the output layer at zero.
    """

    def __init__(self, hidden=(500,), input_dim=28 * 28, num_classes=10, activation="tanh",
                 reg=0.0, dtype=np.float64, seed=0):
        hidden = sizes(hidden)
        if not hidden or min(hidden) < 1:
            raise ValueError("hidden must be one or more positive layer sizes")
        super().__init__(hidden, input_dim, num_classes, reg=reg, dtype=dtype,
                         activation=activation, weight_init="auto", zero_output=True,
                         rng=np.random.default_rng(seed))


def conv_size(size, filter_size, pad=0, stride=1):
    return 1 + (size + 2 * pad - filter_size) // stride


class ThreeLayerConvNet(Model):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax (cs231n's).

    The convolution is 'same' padded, (filter_size - 1) // 2 on each side with stride 1, so the
    pool halves H and W. W1: (F, C, filter_size, filter_size), b1: (F,); W2: (F * H/2 * W/2,
    hidden_dim), b2; W3: (hidden_dim, num_classes), b3. Every weight ~ N(0, weight_scale^2);
    weight_scale=None instead gives He init to the two layers before a ReLU and zeros to the
    output layer, as the tutorials' LogisticRegression layer (the `striate train` default: it
    learns much faster, and the initial loss is exactly ln(num_classes)).
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float64, seed=0):
        super().__init__(reg, dtype, seed)
        C, H, W = input_dim
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        H_pool = conv_size(H, filter_size, self.conv_param["pad"]) // 2
        W_pool = conv_size(W, filter_size, self.conv_param["pad"]) // 2
        if min(H_pool, W_pool, num_filters, hidden_dim, filter_size) < 1:
            raise ValueError(f"{filter_size}x{filter_size} filters and 2x2 pooling leave no "
                             f"pixels of {H}x{W} images, or a size is not positive")
        shapes = {"W1": (num_filters, C, filter_size, filter_size),
                  "W2": (num_filters * H_pool * W_pool, hidden_dim),
                  "W3": (hidden_dim, num_classes)}
        for index, (name, shape) in enumerate(shapes.items(), start=1):
            if weight_scale is not None:
                self.params[name] = init.small_gaussian(shape, weight_scale, self.rng, dtype)
            else:
                self.params[name] = (init.zeros(shape, dtype) if name == "W3"
                                     else init.he(shape, self.rng, dtype))
            self.params[f"b{index}"] = init.zeros(shape[0] if index == 1 else shape[1], dtype)

    def loss(self, X, y=None):
        X, _ = self.start(X, y)
        p = self.params
        pooled, pool_cache = layer_utils.conv_relu_pool_forward(
            X, p["W1"], p["b1"], self.conv_param, self.pool_param)                # (N, F, H/2, W/2)
        hidden, hidden_cache = layer_utils.affine_relu_forward(pooled, p["W2"], p["b2"])  # (N, H)
        scores, scores_cache = layers.affine_forward(hidden, p["W3"], p["b3"])    # (N, C)
        if y is None:
            return scores
        loss, dscores = self.data_loss(scores, y)
        grads = {}
        dhidden, grads["W3"], grads["b3"] = layers.affine_backward(dscores, scores_cache)
        dpooled, grads["W2"], grads["b2"] = layer_utils.affine_relu_backward(dhidden, hidden_cache)
        _, grads["W1"], grads["b1"] = layer_utils.conv_relu_pool_backward(dpooled, pool_cache)
        return self.add_penalty(loss, grads)

    def torch_names(self):
        return {"W1": ("features.conv1.weight", False), "b1": ("features.conv1.bias", False),
                "W2": ("hidden.fc1.weight", True), "b2": ("hidden.fc1.bias", False),
                "W3": ("output.weight", True), "b3": ("output.bias", False)}


class LeNet(Model):
    """LeNet-5 as in the tutorial's convolutional_mlp.py, the torch engine's lenet:

        [valid conv - pool x pool max pool - activation] x len(nkerns) - affine - activation
        - affine - softmax

    The activation comes after the pooling (the tutorial's LeNetConvPoolLayer; max commutes with
    a monotonic activation, and pooling first is cheaper). Filters ~ Glorot uniform with fan_out
    divided by the pool area, the hidden layer initialised for its activation, the output layer
    at zero. W1..Wk: (nkerns[i], channels, filter_size, filter_size); then W(k+1): (D, hidden),
    W(k+2): (hidden, num_classes).
    """

    def __init__(self, input_dim=(1, 28, 28), nkerns=(20, 50), filter_size=5, pool=2, hidden=500,
                 num_classes=10, activation="tanh", reg=0.0, dtype=np.float64, seed=0):
        super().__init__(reg, dtype, seed)
        check_activation(activation)
        nkerns = sizes(nkerns)
        if min(filter_size, pool, hidden, *nkerns) < 1:
            raise ValueError("filter_size, pool, hidden and nkerns must be positive")
        self.activation, self.num_stages = activation, len(nkerns)
        self.conv_param = {"stride": 1, "pad": 0}
        self.pool_param = {"pool_height": pool, "pool_width": pool, "stride": pool}
        channels, height, width = input_dim
        for i, kernels in enumerate(nkerns, start=1):
            height = conv_size(height, filter_size) // pool
            width = conv_size(width, filter_size) // pool
            if min(height, width) < 1:
                raise ValueError(f"stage {i} of {filter_size}x{filter_size} filters and "
                                 f"{pool}x{pool} pooling leaves no pixels of {input_dim[1]}x"
                                 f"{input_dim[2]} images; use fewer stages (nkerns), a smaller "
                                 "filter_size, or a model for small images such as mlp")
            shape = (kernels, channels, filter_size, filter_size)
            self.params[f"W{i}"] = init.glorot(shape, self.rng, dtype, pool=pool)
            self.params[f"b{i}"] = init.zeros(kernels, dtype)
            channels = kernels
        k = self.num_stages
        self.params[f"W{k + 1}"] = init.init_weight("auto", (channels * height * width, hidden),
                                                    self.rng, dtype, activation=activation)
        self.params[f"b{k + 1}"] = init.zeros(hidden, dtype)
        self.params[f"W{k + 2}"] = init.zeros((hidden, num_classes), dtype)
        self.params[f"b{k + 2}"] = init.zeros(num_classes, dtype)

    def loss(self, X, y=None):
        h, _ = self.start(X, y)
        p, k, caches = self.params, self.num_stages, []
        for i in range(1, k + 1):
            h, conv_cache = fast_layers.conv_forward_fast(h, p[f"W{i}"], p[f"b{i}"],
                                                          self.conv_param)        # (N, K, H', W')
            h, pool_cache = fast_layers.max_pool_forward_fast(h, self.pool_param)
            # h: (N, K, H'/p, W'/p)
            h, act_cache = activation_forward(self.activation, h)
            caches.append((conv_cache, pool_cache, act_cache))
        h, fc_cache = layers.affine_forward(h, p[f"W{k + 1}"], p[f"b{k + 1}"])    # (N, hidden)
        h, fc_act_cache = activation_forward(self.activation, h)
        scores, scores_cache = layers.affine_forward(h, p[f"W{k + 2}"], p[f"b{k + 2}"])
        if y is None:
            return scores
        loss, dscores = self.data_loss(scores, y)
        grads = {}
        dh, grads[f"W{k + 2}"], grads[f"b{k + 2}"] = layers.affine_backward(dscores, scores_cache)
        dh = activation_backward(self.activation, dh, fc_act_cache)
        dh, grads[f"W{k + 1}"], grads[f"b{k + 1}"] = layers.affine_backward(dh, fc_cache)
        for i in range(k, 0, -1):
            conv_cache, pool_cache, act_cache = caches[i - 1]
            dh = activation_backward(self.activation, dh, act_cache)
            dh = fast_layers.max_pool_backward_fast(dh, pool_cache)
            dh, grads[f"W{i}"], grads[f"b{i}"] = fast_layers.conv_backward_fast(dh, conv_cache)
        return self.add_penalty(loss, grads)

    def torch_names(self):
        k, names = self.num_stages, {}
        for i in range(1, k + 1):
            names[f"W{i}"] = (f"features.conv{i}.conv.weight", False)
            names[f"b{i}"] = (f"features.conv{i}.conv.bias", False)
        names.update({f"W{k + 1}": ("hidden.fc1.weight", True),
                      f"b{k + 1}": ("hidden.fc1.bias", False),
                      f"W{k + 2}": ("output.weight", True), f"b{k + 2}": ("output.bias", False)})
        return names


class VGGNet(Model):
    """A small VGG: [(conv 3x3 pad 1 - spatial batch norm - relu) x A - 2x2 max pool] x B
    - (affine - batch norm - relu - [dropout]) x K - affine - softmax.

    num_filters[b] and As[b]: the filters and number of convolutions of stage b (B stages);
    hidden_dims: the K affine sizes. filter_size: odd, padded by (filter_size - 1) // 2 so that
    only the pools shrink the maps (torch's vgg has 3). The pools keep a partial border window
    (Theano's ignore_border=False, torch's ceil_mode=True), so an odd map rounds up (7 -> 4) and
    a 1x1 map stays 1x1: any number of stages works on 28x28 and 32x32 images alike.
    pool_first: each stage's last convolution is pooled before its batch norm and relu
    (layer_utils.conv_pool_bn_relu_forward), so that these touch a quarter of the values.

    Convolutions and affine layers before a batch norm have no bias (beta is the bias). Weights:
    He normal (relu follows) and the output layer at zero, as the tutorials' output layers; a
    weight_scale instead draws every weight from N(0, weight_scale^2), as cs231n does.
    Params: W1..W(n) with gamma/beta for every layer but the output, b(n) for the output.
    seed and rng: as FullyConnectedNet's (an int seed fixes the dropout masks).
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=(64, 64, 128, 256), As=(2, 2, 3, 3),
                 hidden_dims=(64, 64), num_classes=10, dropout_keep_ratio=1.0, weight_scale=None,
                 reg=0.0, dtype=np.float64, seed=None, rng=None, filter_size=3,
                 pool_first=False):
        super().__init__(reg, dtype, weight_source(seed, rng))
        if filter_size < 1 or filter_size % 2 == 0:
            raise StriateError(f"filter_size must be odd (3, 5, ...), so that padding keeps the "
                               f"maps' size, not {filter_size}")
        num_filters, As, hidden_dims = sizes(num_filters), sizes(As), sizes(hidden_dims)
        if len(num_filters) != len(As):
            raise ValueError(f"num_filters {num_filters} and As {As} must have one entry per stage")
        if min(*num_filters, *As, *hidden_dims, 1) < 1:
            raise ValueError("num_filters, As and hidden_dims must be positive")
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError("dropout_keep_ratio is the probability of keeping a unit, in (0, 1]")
        self.keep, self.dropout_seed, self.pool_first = dropout_keep_ratio, seed, pool_first
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2, "ignore_border": False}
        self.stages = As
        channels, height, width = input_dim
        index = 0
        for filters, repeats in zip(num_filters, As):
            for _ in range(repeats):
                index += 1
                self.add_weight(index, (filters, channels, filter_size, filter_size),
                                weight_scale)
                self.add_bn(index, filters)
                channels = filters
            height, width = layers.pool_output_size(height, 2, 2, False), \
                layers.pool_output_size(width, 2, 2, False)
        self.num_convs = index
        features = channels * height * width
        for size in hidden_dims:
            index += 1
            self.add_weight(index, (features, size), weight_scale)
            self.add_bn(index, size)
            features = size
        self.num_layers = index + 1
        self.params[f"W{index + 1}"] = (init.zeros((features, num_classes), dtype)
                                        if weight_scale is None else
                                        init.small_gaussian((features, num_classes), weight_scale,
                                                            self.rng, dtype))
        self.params[f"b{index + 1}"] = init.zeros(num_classes, dtype)

    def add_weight(self, index, shape, weight_scale):
        scheme = "he" if weight_scale is None else "gaussian"
        self.params[f"W{index}"] = init.init_weight(scheme, shape, self.rng, self.dtype,
                                                    weight_scale=weight_scale)

    def loss(self, X, y=None):
        h, mode = self.start(X, y)
        p, caches = self.params, []
        index = 0
        for repeats in self.stages:
            for repeat in range(1, repeats + 1):
                index += 1
                w = p[f"W{index}"]
                args = (w, np.zeros(w.shape[0], self.dtype), p[f"gamma{index}"],
                        p[f"beta{index}"], self.conv_param)
                if self.pool_first and repeat == repeats:
                    h, cache = layer_utils.conv_pool_bn_relu_forward(
                        h, *args, self.pool_param, self.bn_params[index - 1])  # (N, F, ~H/2, ~W/2)
                else:
                    h, cache = layer_utils.conv_bn_relu_forward(
                        h, *args, self.bn_params[index - 1])                    # (N, F, H, W)
                caches.append(cache)
            if not self.pool_first:
                h, cache = fast_layers.max_pool_forward_fast(h, self.pool_param)
                caches.append(cache)                                  # h: (N, F, ~H/2, ~W/2)
        for index in range(self.num_convs + 1, self.num_layers):
            w = p[f"W{index}"]
            h, cache = layer_utils.affine_bn_relu_forward(
                h, w, np.zeros(w.shape[1], self.dtype), p[f"gamma{index}"], p[f"beta{index}"],
                self.bn_params[index - 1])                                        # (N, size)
            dropout_cache = None
            if self.keep < 1:
                h, dropout_cache = layers.dropout_forward(
                    h, dropout_param(self.keep, mode, self.dropout_seed, self.rng))
            caches.append((cache, dropout_cache))
        L = self.num_layers
        scores, scores_cache = layers.affine_forward(h, p[f"W{L}"], p[f"b{L}"])  # (N, C)
        if y is None:
            return scores
        loss, dscores = self.data_loss(scores, y)
        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = layers.affine_backward(dscores, scores_cache)
        for index in range(L - 1, self.num_convs, -1):
            cache, dropout_cache = caches.pop()
            if dropout_cache is not None:
                dh = layers.dropout_backward(dh, dropout_cache)
            dh, grads[f"W{index}"], _, grads[f"gamma{index}"], grads[f"beta{index}"] = \
                layer_utils.affine_bn_relu_backward(dh, cache)
        index = self.num_convs
        for repeats in reversed(self.stages):
            if not self.pool_first:
                dh = fast_layers.max_pool_backward_fast(dh, caches.pop())
            for repeat in range(repeats, 0, -1):
                backward = (layer_utils.conv_pool_bn_relu_backward
                            if self.pool_first and repeat == repeats else
                            layer_utils.conv_bn_relu_backward)
                dh, grads[f"W{index}"], _, grads[f"gamma{index}"], grads[f"beta{index}"] = \
                    backward(dh, caches.pop())
                index -= 1
        return self.add_penalty(loss, grads)

    def torch_names(self):
        names, index = {}, 0
        for stage, repeats in enumerate(self.stages, start=1):
            for conv in range(1, repeats + 1):
                index += 1
                block = f"features.stage{stage}.conv{conv}"      # torch: (conv, bn, relu)
                names[f"W{index}"] = (f"{block}.0.weight", False)
                names.update(self.bn_torch_names(index, f"{block}.1"))
        for hidden, index in enumerate(range(self.num_convs + 1, self.num_layers), start=1):
            names[f"W{index}"] = (f"hidden.fc{hidden}.weight", True)
            names.update(self.bn_torch_names(index, f"hidden.bn{hidden}"))
        L = self.num_layers
        names[f"W{L}"], names[f"b{L}"] = ("output.weight", True), ("output.bias", False)
        return names


class VGGlikeConvNet(VGGNet):
    """cs231n's VGG-like net under the walkthrough's own name and arguments, mapped onto VGGNet:

        VGGlikeConvNet(input_dim=(3, 32, 32), num_filters=[64, 64, 128, 256], As=[2, 2, 3, 3],
                       hidden_dims=[64, 64], filter_size=3, num_classes=10, weight_scale=1e-3,
                       reg=0.0, dropout=0.2, use_batchnorm=True, dtype=np.float64, seed=None)

    dropout: the walkthrough's dropout strength, the probability of zeroing a unit (0: none),
    which is 1 - VGGNet's dropout_keep_ratio. use_batchnorm: must be True, since every
    convolution and hidden layer of VGGNet is batch-normalized. weight_scale: every weight from
    N(0, weight_scale^2); None gives VGGNet's He initialisation. seed: as FullyConnectedNet's.
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=(64, 64, 128, 256), As=(2, 2, 3, 3),
                 hidden_dims=(64, 64), filter_size=3, num_classes=10, weight_scale=1e-3,
                 reg=0.0, dropout=0.0, use_batchnorm=True, dtype=np.float64, seed=None):
        if not use_batchnorm:
            raise StriateError("VGGlikeConvNet batch-normalizes every layer; "
                               "use_batchnorm=False has no model here, drop it")
        if not 0 <= dropout < 1:
            raise StriateError(f"dropout is the probability of zeroing a unit, in [0, 1), "
                               f"got {dropout}")
        super().__init__(input_dim, num_filters, As, hidden_dims, num_classes,
                         dropout_keep_ratio=1.0 - dropout, weight_scale=weight_scale, reg=reg,
                         dtype=dtype, seed=seed, filter_size=filter_size)


# The registry. Each builder takes the input shape (C, H, W), the class count and the options of
# its spec in striate.registry, the torch engine's names, defaults and meanings, which it
# translates into the classes' cs231n arguments; create_model adds the engine-wide dtype, seed and
# reg.

MODELS = ModelRegistry("numpy")
register = MODELS.register
check_model_options = MODELS.check

# The vocabulary's init names -> striate.numpy.init's schemes.
INIT_SCHEMES = {"small": "gaussian", "lecun": "lecun", "he": "he", "glorot": "glorot"}


def keep_ratio(dropout: float) -> float:
    """cs231n's dropout_keep_ratio for the vocabulary's dropout (the probability of zeroing)."""
    check_dropout(dropout)
    return 1.0 - dropout


def fresh_masks(common: dict) -> dict:
    """create_model's settings for a model with dropout: its seed draws the weights and a new
    mask every step (rng), where the classes' cs231n seed would fix the masks."""
    settings = dict(common)
    settings["rng"] = np.random.default_rng(settings.pop("seed"))
    return settings


def set_init(model: Model, scheme, weight_scale: float, activation: str = "relu") -> Model:
    """Re-draw every weight W by `scheme`, as striate.torch.models.set_init_ does (the biases
    already start at zero); None keeps the model's own tutorial initialisation."""
    if scheme is None:
        return model
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {', '.join(INIT_SCHEMES)}, not {scheme!r}")
    for name, value in model.params.items():
        if losses.is_weight(name):
            model.params[name] = init.init_weight(INIT_SCHEMES[scheme], value.shape, model.rng,
                                                  model.dtype, weight_scale, activation)
    return model


@register("logreg")
def logreg(input_shape, num_classes, **common):
    return SoftmaxClassifier(math.prod(input_shape), num_classes, **common)


@register("svm")
def svm(input_shape, num_classes, weight_scale=1e-3, **common):
    return LinearSVM(math.prod(input_shape), num_classes, weight_scale, **common)


@register("twolayer")
def twolayer(input_shape, num_classes, hidden_dim=100, weight_scale=1e-3, **common):
    return TwoLayerNet(math.prod(input_shape), hidden_dim, num_classes, weight_scale, **common)


@register("mlp")
def mlp(input_shape, num_classes, hidden=(500,), activation="tanh", **common):
    return MLP(hidden, math.prod(input_shape), num_classes, activation, **common)


@register("lenet")
def lenet(input_shape, num_classes, nkerns=(20, 50), filter_size=5, pool=2, hidden=500,
          activation="tanh", **common):
    return LeNet(input_shape, nkerns, filter_size, pool, hidden, num_classes, activation, **common)


@register("convnet3")
def convnet3(input_shape, num_classes, num_filters=32, filter_size=7, hidden_dim=100,
             weight_scale=None, **common):
    return ThreeLayerConvNet(input_shape, num_filters, filter_size, hidden_dim, num_classes,
                             weight_scale, **common)


@register("fcnet")
def fcnet(input_shape, num_classes, hidden_dims=(100, 100), activation="relu", batchnorm=False,
          dropout=0.0, init=None, weight_scale=1e-2, **common):
    """init None: initialised for the activation, output layer at zero (the torch engine's)."""
    model = FullyConnectedNet(positive_sizes(hidden_dims, "hidden_dims"), math.prod(input_shape),
                              num_classes, keep_ratio(dropout), "batchnorm" if batchnorm else None,
                              activation=activation, weight_init="auto", zero_output=True,
                              **fresh_masks(common))
    return set_init(model, init, weight_scale, activation)


@register("vgg")
def vgg(input_shape, num_classes, num_filters=(64, 64, 128, 256), As=(2, 2, 3, 3),
        hidden_dims=(64, 64), dropout=0.0, init=None, weight_scale=1e-2, pool_first=False,
        **common):
    """init None: He, output layer at zero (VGGNet's weight_scale=None, the torch engine's)."""
    model = VGGNet(input_shape, positive_sizes(num_filters, "num_filters"),
                   positive_sizes(As, "As"), positive_sizes(hidden_dims, "hidden_dims"),
                   num_classes, keep_ratio(dropout), None, pool_first=pool_first,
                   **fresh_masks(common))
    return set_init(model, init, weight_scale)


def create_model(name: str, input_shape, num_classes: int, dtype=np.float32, seed=0, reg=0.0,
                 trusted: bool = False, **options) -> Model:
    """The model `name` for (C, H, W) inputs and num_classes classes.

    dtype: of params and computation; float32 by default, the training engine's choice for
    speed, where the classes default to cs231n's float64 (pass float64 for gradient checks).
    seed: an int or a np.random.Generator for the initial weights and the dropout masks, which
    differ from step to step. reg: cs231n's L2 strength, 0.5 * reg * sum(W ** 2) (the CLI
    trains with reg 0 and adds --l2 in the learner). options: the model's own, see
    striate.registry.SPECS[name].
    A class of the user's own (package.module:Class) is imported only if trusted, and must be
    cs231n's kind of model: a `params` dict and loss(X, y=None).
    """
    return MODELS.build(name, input_shape, num_classes, options, trusted=trusted,
                        refuse_class=not_a_numpy_model, dtype=dtype, seed=seed, reg=reg)


def not_a_numpy_model(cls: type) -> str | None:
    if not callable(getattr(cls, "loss", None)):
        return (f"{cls.__name__} has no loss(X, y=None), so it is not a NumPy-engine model (a "
                "torch nn.Module trains with --engine torch)")
    return None


MODELS.check_complete()
