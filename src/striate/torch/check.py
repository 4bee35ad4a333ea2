"""`striate check` (torch engine): the sanity checks cs231n teaches to run before training.

1. Initial loss: with small random weights a softmax classifier is uniformly unsure, so the loss
   is ln(num_classes); regularization must raise it.
2. Gradient check: on a tiny float64 copy of the model, autograd's gradient of every parameter
   against centred differences (relative error of each parameter's gradient vector).
3. Overfit a small sample: with the configured optimizer and learning rate, 50 training examples
   must reach 100% training accuracy; a model that cannot memorise 50 examples has a bug, or a
   learning rate that cannot work.
4. Training health: after a few steps with the configured optimizer and learning rate, the loss
   is finite and falling, ReLUs are not dead, tanh/sigmoid units are not saturated, and one
   step changes each weight by a sensible fraction of its size.
"""

import math
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from striate.config import AugmentConfig, TrainConfig
from striate.data import Split
from striate.diagnostics import GRADIENT_TOLERANCE, INITIAL_LOSS_TOLERANCE, Check, vector_rel_error
from striate.numpy.gradient_check import eval_numerical_gradient
from striate.torch.data import DeviceSplit
from striate.torch.device import resolve_device
from striate.torch.learner import TorchLearner, penalized, penalty, train_minibatches
from striate.torch.models import create_model, model_options

# Small enough that a numerical gradient of every parameter takes well under a second. The
# models' own initialisations replace cs231n's weight_scale 1e-3, under which the gradients
# below the top layer are so small that float64 differences of the loss cannot resolve them.
TINY_OPTIONS = {"mlp": {"hidden": (7, 5)}, "lenet": {"nkerns": (2, 3), "hidden": 7},
                "convnet3": {"num_filters": 3, "hidden_dim": 7, "weight_scale": None},
                "fcnet": {"hidden_dims": (7, 5), "init": None},
                "vgg": {"num_filters": (2, 3), "As": (1, 1), "hidden_dims": (5,), "init": None},
                "resnet": {"width": 2, "residual": (1, 0, 0), "init": None}}
GRADIENT_EXAMPLES = 4
OVERFIT_STEPS = 1000      # minibatch steps at most; the tutorials' SGD at lr 0.01 needs ~650
OVERFIT_EVAL_EVERY = 10   # steps between looks at the sample's loss and accuracy
# It has stopped learning when OVERFIT_PATIENCE steps bring no significant improvement (the
# tutorials' improvement_threshold): this ends hopeless set-ups, too large or too small a
# learning rate, long before OVERFIT_STEPS.
OVERFIT_PATIENCE = 100
IMPROVEMENT_THRESHOLD = 0.995
HEALTH_STEPS = 20         # steps before the activations and the update size are measured
# cs231n: an update about 1e-3 of the weight is healthy. Two decades either side still trains
# (slowly below, noisily above); beyond that the learning rate is far off for this layer.
UPDATE_RATIO_BAND = (1e-5, 1e-1)
# A tanh unit with |tanh| > 0.99 passes back under 2% of the gradient (1 - tanh^2 < 0.02); a
# unit that does so for most inputs has stopped learning, as has a ReLU that is never positive.
SATURATED = 0.99          # |tanh(z)|, and |2 sigmoid(z) - 1| = |tanh(z / 2)| on the same scale
MOST_INPUTS = 0.5
# A few dead or saturated units are normal (fcnet's second layer has 4% dead after 20 sound
# steps), and one in a small layer can be chance; more than a tenth of a layer is the sign of a
# learning rate or initialisation that is too large.
MAX_BAD_UNITS = 0.1


def fresh_model(config: TrainConfig, input_shape, num_classes: int, **options) -> nn.Module:
    """The configured model with its seeded initial weights (each check starts from these)."""
    torch.manual_seed(config.run.seed)
    return create_model(config.model.model, input_shape, num_classes,
                        **{**config.model.model_args, **options})


def initial_loss(model: nn.Module, images, labels, num_classes: int) -> list[Check]:
    """images (N, C, H, W) and labels (N,) on the model's device."""
    with torch.no_grad():
        loss = F.cross_entropy(model(images), labels).item()
        loss_reg = loss + penalty(model, 0.0, 1.0).item()
    expected = math.log(num_classes)
    return [Check("initial loss", f"{loss:.4f}", f"ln({num_classes}) = {expected:.4f}",
                  abs(loss - expected) < INITIAL_LOSS_TOLERANCE * expected),
            regularization_check(model, loss, loss_reg)]


def regularization_check(model: nn.Module, loss: float, loss_reg: float) -> Check:
    """The penalty must show in the loss, unless every weight starts at zero (as logreg's do)."""
    if any(weight.any() for weight in penalized(model)):
        return Check("initial loss, reg=1", f"{loss_reg:.4f}", f"> {loss:.4f}", loss_reg > loss)
    return Check("initial loss, reg=1", f"{loss_reg:.4f}", f"= {loss:.4f} (zero weights)",
                 loss_reg == loss)


def gradient_checks(config: TrainConfig, images: np.ndarray, labels: np.ndarray,
                    num_classes: int) -> list[Check]:
    tiny = TINY_OPTIONS.get(config.model.model, {})
    model = fresh_model(config, images.shape[1:], num_classes, **tiny).double()
    # A zero-initialised layer (the tutorials' output layer) blocks every gradient below it, so
    # the check would only see that layer: give it small random weights here.
    with torch.no_grad():
        for weight in penalized(model):
            if not weight.any():
                weight.normal_(0.0, 0.1)
    x = torch.from_numpy(images[:GRADIENT_EXAMPLES]).double()      # (4, C, H, W)
    y = torch.from_numpy(labels[:GRADIENT_EXAMPLES])               # (4,)

    def loss() -> torch.Tensor:
        torch.manual_seed(config.run.seed)  # the same dropout masks in every call
        return F.cross_entropy(model(x), y)

    loss().backward()
    checks = []
    for name, param in model.named_parameters():
        with torch.no_grad():
            # param.numpy() shares the parameter's memory: nudging it nudges the model.
            numerical = eval_numerical_gradient(lambda _: loss().item(), param.detach().numpy())
        error = vector_rel_error(numerical, param.grad.numpy())
        checks.append(Check(f"gradient {name}", f"{error:.1e}", f"< {GRADIENT_TOLERANCE:.0e}",
                            error < GRADIENT_TOLERANCE))
    return checks


def sample_learner(config: TrainConfig, images: np.ndarray, labels: np.ndarray,
                   num_classes: int, **options) -> TorchLearner:
    """A fresh model (with `options` over the configured ones) learning the sample only."""
    device = resolve_device(config.run.device)
    model = fresh_model(config, images.shape[1:], num_classes, **options).to(device)
    return TorchLearner(model, {"train": DeviceSplit(Split(images, labels), device)}, config)


def overfit(config: TrainConfig, images, labels, num_classes: int) -> Check:
    """cs231n's advice: no regularization (penalties, augmentation, dropout), so that only the
    model and the update rule are tested."""
    plain = replace(config, augment=AugmentConfig(),
                    optim=replace(config.optim, l1=0.0, l2=0.0, weight_decay=0.0))
    no_dropout = {"dropout": 0.0} if "dropout" in model_options(config.model.model) else {}
    learner = sample_learner(plain, images, labels, num_classes, **no_dropout)
    accuracy, best_loss, best_step = 0.0, math.inf, 0
    lrs = [config.optim.lr] * OVERFIT_STEPS
    for step, loss in enumerate(train_minibatches(learner, lrs), start=1):
        if not math.isfinite(loss) or step - best_step > OVERFIT_PATIENCE:
            break
        if step % OVERFIT_EVAL_EVERY == 0:
            sample_loss, error = learner.evaluate("train")
            accuracy = 1.0 - error
            if accuracy == 1.0:
                break
            if sample_loss < best_loss * IMPROVEMENT_THRESHOLD:
                best_loss, best_step = sample_loss, step
    return Check(f"overfit {len(labels)} examples", f"{accuracy:.0%} after {step} steps",
                 "100%", accuracy == 1.0)


def training_health(config: TrainConfig, images, labels, num_classes: int) -> list[Check]:
    learner = sample_learner(config, images, labels, num_classes)
    losses = list(train_minibatches(learner, [config.optim.lr] * (HEALTH_STEPS - 1)))
    weights = {name: p for name, p in learner.model.named_parameters() if p.ndim > 1}
    before = {name: weight.detach().clone() for name, weight in weights.items()}
    losses += train_minibatches(learner, [config.optim.lr])
    # Finite and falling: a learning rate too large for the model sends it up, or to inf.
    falling = all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]
    checks = [Check(f"loss after {HEALTH_STEPS} steps", f"{losses[-1]:.4f}",
                    f"< {losses[0]:.4f} (first)", falling)]
    checks += activation_checks(learner.model, learner.splits["train"].images)
    checks += [update_ratio_check(name, before[name], weight) for name, weight in weights.items()]
    return checks


def update_ratio_check(name: str, before: torch.Tensor, after: torch.Tensor) -> Check:
    """||delta W|| / ||W|| of one step; NaN (a zero or non-finite weight) fails. Judged as
    shown, to two digits, so that a row never reads 1.0e-01 and fails."""
    shown = f"{((after.detach() - before).norm() / before.norm()).item():.1e}"
    low, high = UPDATE_RATIO_BAND
    return Check(f"update/weight {name}", shown, f"{low:.0e} to {high:.0e}",
                 low <= float(shown) <= high)


def activation_checks(model: nn.Module, images: torch.Tensor) -> list[Check]:
    """Dead ReLUs and saturated tanh/sigmoid units, per activation layer, on the sample.

    In training mode, as the optimizer sees the network (batch norm uses the batch's
    statistics); each layer is judged as its output passes, before an in-place layer reuses it."""
    checks = []

    def judge(name):
        return lambda layer, inputs, output: checks.append(unit_check(name, layer, output))

    hooks = [layer.register_forward_hook(judge(name)) for name, layer in model.named_modules()
             if isinstance(layer, (nn.ReLU, nn.Tanh, nn.Sigmoid))]
    with torch.no_grad():
        model.train()(images)
    for hook in hooks:
        hook.remove()
    return checks


def unit_check(name: str, layer: nn.Module, output: torch.Tensor) -> Check:
    """output: (N, units) or (N, units, H, W); a convolution's unit is a channel."""
    by_unit = output.transpose(0, 1).flatten(1).float()            # (units, N * H * W)
    if isinstance(layer, nn.ReLU):
        bad, what = ~(by_unit > 0).any(dim=1), "dead"
    else:
        centred = by_unit if isinstance(layer, nn.Tanh) else 2 * by_unit - 1   # in [-1, 1]
        bad, what = (centred.abs() > SATURATED).float().mean(dim=1) > MOST_INPUTS, "saturated"
    count, units = int(bad.sum()), len(bad)
    return Check(f"{what} {name}", f"{count / units:.0%} of {units} units",
                 f"<= {MAX_BAD_UNITS:.0%}", count <= max(1, MAX_BAD_UNITS * units))


def run_checks(config: TrainConfig, images: np.ndarray, labels: np.ndarray,
               num_classes: int) -> list[Check]:
    """images: (N, C, H, W) float32 preprocessed, N >= 50; labels: (N,) int64."""
    device = resolve_device(config.run.device)
    model = fresh_model(config, images.shape[1:], num_classes).to(device)
    on_device = DeviceSplit(Split(images, labels), device)
    return [*initial_loss(model, on_device.images, on_device.labels, num_classes),
            *gradient_checks(config, images, labels, num_classes),
            overfit(config, images, labels, num_classes),
            *training_health(config, images, labels, num_classes)]
