"""Building torch models and learners from a config, and rebuilding them from checkpoints."""

import importlib
import sys
import threading

import numpy as np
import torch
from torch import nn

from striate.checkpoint import check_tensors_match, load_weights, model_input_shape
from striate.config import TrainConfig
from striate.data import Preprocess, Split
from striate.errors import StriateError
from striate.torch.data import DeviceSplit
from striate.torch.device import resolve_device
from striate.torch.distributed import join
from striate.torch.hooks import (activations, check_layers,  # noqa: F401 (engine API)
                                  conv_layer_names, feature_maps)
from striate.torch.learner import TorchLearner, log_proba, penalized, penalty
from striate.torch.losses import data_loss
from striate.torch.sgd import SGD_FAMILY
from striate.torch.models import check_model_options, create_model  # noqa: F401 (engine API)
from striate.training.learner import LayerOutput


def versions() -> dict:
    return {"torch": torch.__version__}


def warm_up(config: TrainConfig) -> None:
    """Start importing, in the background, what the configured optimizer needs: torch.optim's
    optimizers import torch._dynamo when built, a second of start-up on this project's CPU that
    a thread partly hides behind the data loading (which mostly runs outside the GIL: zlib,
    NumPy). striate's own SGD family needs no such import."""
    if config.optim.optimizer not in SGD_FAMILY and "torch._dynamo" not in sys.modules:
        threading.Thread(target=importlib.import_module, args=("torch._dynamo",),
                         name="striate-warm-up", daemon=True).start()


def build_learner(config: TrainConfig, inputs: dict[str, Split], num_classes: int,
                  preprocess: Preprocess, model: nn.Module | None = None) -> TorchLearner:
    """inputs: preprocessed splits, (N, *preprocess.output_shape) float32 images; model: one
    to train as it is (else the configured one, freshly initialised)."""
    world, device = join(resolve_device(config.run.device))
    if model is None:
        model = fresh_model(config, preprocess.output_shape, num_classes)
    model = check_own_model(model).to(device)
    on_device = {name: DeviceSplit(split, device) for name, split in inputs.items()}
    return TorchLearner(model, on_device, config, world)


def check_own_model(model):
    """A model object given to the torch engine, refused in one line if it is no nn.Module."""
    if not isinstance(model, nn.Module):
        raise StriateError(f"the torch engine takes a torch nn.Module, not a "
                           f"{type(model).__name__}; use engine='numpy' for a NumPy model")
    return model


def fresh_model(config: TrainConfig, input_shape, num_classes: int, **options) -> nn.Module:
    """The configured model (with `options` over its configured ones), its initial weights (and
    dropout masks) drawn from the seed."""
    torch.manual_seed(config.run.seed)
    return create_model(config.model.model, input_shape, num_classes, trusted=True,
                        **{**config.model.model_args, **options})


def load_model(checkpoint, device: str = "auto", trust_model_code: bool = False,
               into: nn.Module | None = None) -> tuple[torch.nn.Module, dict]:
    """Rebuild the model a checkpoint was trained as (or take `into`, one built by the caller)
    and load its weights; (model, metadata). A model class of the user's own is imported only
    with trust_model_code."""
    tensors, meta = load_weights(checkpoint)
    model = check_own_model(into) if into is not None else create_model(
        meta["model"], model_input_shape(meta), len(meta["class_names"]),
        trusted=trust_model_code, **meta["model_args"])
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    check_tensors_match(tensors, expected, checkpoint, meta["model"])
    model.load_state_dict({name: torch.from_numpy(array) for name, array in tensors.items()})
    return model.to(resolve_device(device)).eval(), meta


def load_predictor(checkpoint, device: str = "auto", trust_model_code: bool = False):
    """(log_proba, metadata): see predictor."""
    model, meta = load_model(checkpoint, device, trust_model_code)
    return predictor(model), meta


def predictor(model: nn.Module):
    """log_proba: preprocessed (N, ...) float32 numpy inputs -> (N, classes) numpy class
    log-probabilities of the model in eval mode (where its parameters are)."""
    device = next(model.parameters()).device

    @torch.inference_mode()
    def predict(images: np.ndarray) -> np.ndarray:
        model.eval()
        return log_proba(model, torch.from_numpy(images).to(device))

    return predict


def initial_losses(config: TrainConfig, sample: Split, num_classes: int,
                   preprocess: Preprocess) -> tuple[float, float, bool]:
    """(data loss (--loss), data loss + sum W^2, whether any weight is non-zero) of the fresh
    model."""
    model = fresh_model(config, preprocess.output_shape, num_classes)
    with torch.no_grad():
        loss = data_loss(model(torch.from_numpy(sample.images)),
                         torch.from_numpy(sample.labels), config.optim.loss).item()
        loss_reg = loss + penalty(model, 0.0, 1.0).item()
    return loss, loss_reg, any(bool(weight.any()) for weight in penalized(model))


def gradient_problem(config: TrainConfig, sample: Split, num_classes: int,
                     preprocess: Preprocess, options: dict, redraw_zero_weight):
    """(loss, params, grads) of the model with `options` over the configured ones, in float64,
    on `sample`: loss() -> float, the data loss (--loss) of the current params, which are numpy
    views (nudging one nudges the model), and autograd's gradient of each.
    redraw_zero_weight(array) gives an all-zero weight small random values, in place, before the
    gradients are taken."""
    model = fresh_model(config, preprocess.output_shape, num_classes, **options).double()
    x = torch.from_numpy(sample.images).double()                   # (N, C, H, W)
    y = torch.from_numpy(sample.labels)                            # (N,)
    with torch.no_grad():
        for weight in penalized(model):
            redraw_zero_weight(weight.detach().numpy())

    def loss() -> torch.Tensor:
        torch.manual_seed(config.run.seed)  # the same dropout masks in every call
        return data_loss(model(x), y, config.optim.loss)

    @torch.no_grad()
    def nudged_loss() -> float:   # the numerical gradient's thousands of evaluations
        return loss().item()

    loss().backward()
    params = {name: p.detach().numpy() for name, p in model.named_parameters()}
    grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
    return nudged_loss, params, grads


def layer_outputs(learner: TorchLearner) -> list[LayerOutput]:
    """Every activation layer's output on the learner's training data, named as the model's
    modules (hidden.relu1)."""
    return activations(learner.model, learner.splits["train"].images)


def first_layer(model: nn.Module) -> tuple[str, np.ndarray]:
    """(name, weight) of the first convolution or affine layer, the one that sees the pixels:
    weight (K, C, f, f) or (units, D). The models register their layers in the order they run,
    so module order is input order. The tutorials' layers (striate.dlt) keep theirs as W, an
    affine one (D, units) as Theano did."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return name, module.weight.detach().cpu().float().numpy()
        if isinstance(getattr(module, "W", None), nn.Parameter):
            weight = module.W.detach().cpu().float().numpy()
            return f"{name}.W", weight if weight.ndim == 4 else weight.T
    raise StriateError("this model has no convolution or affine layer to show the filters of")
