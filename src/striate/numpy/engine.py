"""The NumPy engine behind striate.engines: learners from a config, models from checkpoints, and
the losses and gradients `striate check` asks of an engine.

Checkpoints are the torch engine's: for the models both engines have the tensors carry torch's
state_dict names and layouts (striate.numpy.weights), so a file trained by either engine loads
into the other.
"""

import numpy as np

from striate.checkpoint import load_weights, model_input_shape
from striate.config import TrainConfig, flag_name
from striate.data import Preprocess, Split
from striate.errors import StriateError
from striate.numpy.learner import NumpyLearner, log_softmax
from striate.numpy.losses import BY_NAME as LOSS_FUNCTIONS, is_weight, weight_penalty
from striate.numpy.weights import checkpoint_layout, load_arrays
from striate.numpy import layers
from striate.training.learner import LayerOutput
from striate.training.world import world_from_env
from striate.numpy.models import check_model_options, create_model  # noqa: F401 (engine API)


def versions() -> dict:
    return {"numpy": np.__version__}


def check_cpu(device: str) -> None:
    if device not in ("auto", "cpu"):
        raise StriateError(f"the numpy engine runs on the CPU; drop --device {device} "
                           "(or use --engine torch)")


def check_torch_only_settings(config: TrainConfig) -> None:
    """Augmentation and reduced precision are the torch engine's; say so instead of ignoring."""
    defaults = TrainConfig()
    changed = [flag_name(name) for name in vars(config.augment)
               if getattr(config.augment, name) != getattr(defaults.augment, name)]
    changed += [flag_name(name) for name in ("precision", "eval_precision", "channels_last")
                if getattr(config.run, name) != getattr(defaults.run, name)]
    if changed:
        raise StriateError(f"{', '.join(changed)} run on the torch engine only; drop them or "
                           "use --engine torch")


def build_learner(config: TrainConfig, inputs: dict[str, Split], num_classes: int,
                  preprocess: Preprocess, model=None) -> NumpyLearner:
    """inputs: preprocessed splits, (N, *preprocess.output_shape) float32 images; model: one
    to train as it is (cs231n's kind: params and loss), else the configured one, fresh."""
    check_cpu(config.run.device)
    check_torch_only_settings(config)
    if world_from_env().size > 1:
        raise StriateError("the numpy engine trains in one process; run it without torchrun, "
                           "or use --engine torch for data-parallel training")
    model = fresh_model(config, preprocess.output_shape, num_classes) if model is None \
        else use_loss(check_own_model(model), config.optim.loss)
    check_batch_norm_batches(model, len(inputs["train"]), config.optim.batch_size)
    arrays = {name: (split.images, split.labels) for name, split in inputs.items()}
    return NumpyLearner(model, arrays, config.optim, config.run.seed)


def check_own_model(model):
    """A model object given to the NumPy engine, refused in one line unless it is cs231n's kind:
    a params dict and loss(X, y=None)."""
    if not (isinstance(getattr(model, "params", None), dict) and callable(getattr(model, "loss",
                                                                                 None))):
        raise StriateError(f"the numpy engine takes a model with a params dict and loss(X, "
                           f"y=None), not a {type(model).__name__}; use engine='torch' for an "
                           "nn.Module")
    return model


def fresh_model(config: TrainConfig, input_shape, num_classes: int, **settings):
    """The configured model and --loss, its initial weights (and dropout masks) drawn from the
    seed; `settings` (dtype, reg, model options) over the configured ones. Its reg is 0 unless
    `settings` give one: --l2 is added by the learner."""
    options = {**config.model.model_args, **settings}
    model = create_model(config.model.model, input_shape, num_classes, seed=config.run.seed,
                         trusted=True, **options)
    return use_loss(model, config.optim.loss)


def use_loss(model, loss: str):
    """The model, trained on its class scores with --loss: hinge and squared-hinge replace its
    data_loss_function; cross-entropy, the default, leaves each model its own (softmax, or the
    svm model's hinge)."""
    if loss == "cross-entropy":
        return model
    if not hasattr(model, "data_loss_function"):
        raise StriateError(f"--loss {loss} needs a model whose loss() takes its data loss from "
                           f"a data_loss_function attribute, as striate's do; "
                           f"{type(model).__name__} computes its own, so drop --loss")
    model.data_loss_function = LOSS_FUNCTIONS[loss]
    return model


def check_batch_norm_batches(model, examples: int, batch_size: int) -> None:
    """Batch norm estimates a variance from each minibatch, which one example cannot give."""
    if not getattr(model, "bn_params", None):
        return
    last = examples % batch_size or batch_size
    if min(batch_size, last) < 2:
        raise StriateError(f"batch normalization needs at least 2 examples per minibatch, but "
                           f"--batch-size {batch_size} over {examples} training examples leaves "
                           f"a minibatch of 1; choose another --batch-size")


def load_model(checkpoint, device: str = "auto", trust_model_code: bool = False, into=None):
    """Rebuild the NumPy model a checkpoint describes (or take `into`, one built by the
    caller) and load its weights; (model, meta). A model class of the user's own is imported
    only with trust_model_code."""
    check_cpu(device)
    tensors, meta = load_weights(checkpoint)
    model = check_own_model(into) if into is not None else create_model(
        meta["model"], model_input_shape(meta), len(meta["class_names"]),
        trusted=trust_model_code, **meta["model_args"])
    load_arrays(model, tensors, checkpoint, meta["model"])
    return model, meta


def load_predictor(checkpoint, device: str = "auto", trust_model_code: bool = False):
    """(log_proba, metadata): see predictor."""
    model, meta = load_model(checkpoint, device, trust_model_code)
    return predictor(model), meta


def predictor(model):
    """log_proba: preprocessed (N, ...) float32 inputs -> (N, classes) numpy class
    log-probabilities, in test mode."""
    return lambda images: log_softmax(model.loss(images))


def initial_losses(config: TrainConfig, sample: Split, num_classes: int,
                   preprocess: Preprocess) -> tuple[float, float, bool]:
    """(data loss, data loss + sum W^2, whether any weight is non-zero) of the fresh model."""
    model = fresh_model(config, preprocess.output_shape, num_classes)
    loss, _ = model.loss(sample.images, sample.labels)
    penalty, _ = weight_penalty(model.params, 0.0, 1.0)
    weights = [value for name, value in model.params.items() if is_weight(name)]
    return loss, loss + penalty, any(bool(weight.any()) for weight in weights)


def gradient_problem(config: TrainConfig, sample: Split, num_classes: int,
                     preprocess: Preprocess, options: dict, redraw_zero_weight):
    """(loss, params, grads) of the model with `options` over the configured ones, in float64,
    on `sample`: loss() -> float of the current params (the model's own arrays: nudging one
    nudges the model), and the backward pass's gradient of each. redraw_zero_weight(array) gives
    an all-zero weight small random values, in place, before the gradients are taken."""
    model = fresh_model(config, preprocess.output_shape, num_classes, dtype=np.float64,
                        **options)
    if hasattr(model, "dropout_seed"):  # the same masks in every call, or differences are noise
        model.dropout_seed = config.run.seed
    for name, value in model.params.items():
        if is_weight(name):
            redraw_zero_weight(value)
    x, y = sample.images.astype(np.float64), sample.labels
    _, grads = model.loss(x, y)
    # Under checkpoint names, so that both engines' rows name a shared model's parameters
    # alike; a transposed weight is a view, which the check still nudges in place.
    names = {name: layout for name, layout in checkpoint_layout(model).items()
             if name in model.params}
    params = {stored: model.params[name].T if transposed else model.params[name]
              for name, (stored, transposed) in names.items()}
    grads = {stored: grads[name].T if transposed else grads[name]
             for name, (stored, transposed) in names.items()}
    return (lambda: model.loss(x, y)[0]), params, grads


ACTIVATIONS = ("relu", "tanh", "sigmoid")


def layer_outputs(learner: NumpyLearner) -> list[LayerOutput]:
    """Every activation's output in a training-mode pass over the learner's training data,
    named by kind and order (relu1, relu2, ...). The models look their layers up in
    striate.numpy.layers as they run, so wrapping the activations there for one pass sees them
    all, in any model."""
    caught, real = [], {kind: getattr(layers, f"{kind}_forward") for kind in ACTIVATIONS}

    def watched(kind):
        def forward(x):
            out, cache = real[kind](x)
            count = sum(output.kind == kind for output in caught) + 1
            caught.append(LayerOutput(f"{kind}{count}", kind, out.copy()))
            return out, cache
        return forward

    try:
        for kind in ACTIVATIONS:
            setattr(layers, f"{kind}_forward", watched(kind))
        images, labels = learner.splits["train"]
        learner.model.loss(images, labels)
    finally:
        for kind, forward in real.items():
            setattr(layers, f"{kind}_forward", forward)
    return caught


def first_layer(model) -> tuple[str, np.ndarray]:
    """(name, weight) of the layer that sees the pixels, W1: (K, C, f, f) for a convolution;
    an affine one's (D, units) is given as (units, D), one row per unit as in torch."""
    weight = model.params["W1"]
    return "W1", weight if weight.ndim == 4 else weight.T
