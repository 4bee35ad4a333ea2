"""`striate check`: the sanity checks cs231n teaches to run before training, for either engine.

1. Initial loss: with small random weights a softmax classifier is uniformly unsure, so the loss
   is ln(num_classes); a hinge loss (--loss hinge or squared-hinge, or the svm model) is about
   num_classes - 1. Regularization must raise it.
2. Gradient check: on a tiny float64 copy of the model, every parameter's gradient (autograd's,
   or the NumPy layers' backward passes) against centred differences (relative error of each
   parameter's gradient vector).
3. Overfit a small sample: with the configured optimizer and learning rate and no
   regularization, 50 training examples must reach 100% training accuracy; a model that cannot
   memorise 50 examples has a bug, or a learning rate that cannot work.
4. Training health: after a few steps with the configured optimizer and learning rate, the loss
   is finite and falling, one step changes each weight by a sensible fraction of its size, ReLUs
   are not dead and tanh/sigmoid units are not saturated.

The engine (striate.engines) computes losses, gradients and activations; everything else is
written here once.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from striate.config import AugmentConfig, TrainConfig
from striate.data.dataset import Split
from striate.data.pipeline import RunData, prepare
from striate.engines import build_learner, get_engine
from striate.numpy.gradient_check import eval_numerical_gradient
from striate.registry import SPECS
from striate.threads import use_threads
from striate.training.learner import Learner, train_minibatches

OVERFIT_EXAMPLES = 50  # a model that cannot memorise this many examples has a bug
GRADIENT_TOLERANCE = 1e-5   # relative error; ReLU and max kinks make 1e-7 too strict
INITIAL_LOSS_TOLERANCE = 0.1  # relative distance from the expected initial loss
GRADIENT_EXAMPLES = 4
# Small enough that a numerical gradient of every parameter takes well under a second. The
# models' own initialisations replace cs231n's weight_scale 1e-3, under which the gradients
# below the top layer are so small that float64 differences of the loss cannot resolve them,
# and which put ReLU inputs so close to the kink at 0 that centred differences step across it.
TINY_OPTIONS = {"mlp": {"hidden": (7, 5)}, "lenet": {"nkerns": (2, 3), "hidden": 7},
                "convnet3": {"num_filters": 3, "hidden_dim": 7, "weight_scale": None},
                "twolayer": {"hidden_dim": 7, "weight_scale": 0.1},
                "svm": {"weight_scale": 0.1},
                "fcnet": {"hidden_dims": (7, 5), "init": None},
                "vgg": {"num_filters": (2, 3), "As": (1, 1), "hidden_dims": (5,), "init": None},
                "resnet": {"width": 2, "residual": (1, 0, 0), "init": None}}
ZERO_WEIGHT_SCALE = 0.1   # std of the values a zero-initialised weight gets for the check
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


@dataclass
class Check:
    name: str
    value: str      # what was measured
    expected: str   # what a healthy set-up gives
    passed: bool


def report(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = [f"{'check':<{width}}  {'result':<22} {'expected':<16} verdict"]
    lines += [f"{c.name:<{width}}  {c.value:<22} {c.expected:<16} "
              f"{'pass' if c.passed else 'FAIL'}" for c in checks]
    return "\n".join(lines)


def vector_rel_error(numerical: np.ndarray, analytic: np.ndarray) -> float:
    """|a - n| / (|a| + |n|) over the whole parameter (norms), where rel_error takes the worst
    element: a parameter's tiniest gradients, at the limit of float64 differences, would decide
    an element-wise verdict, while a wrong backward pass moves the whole vector."""
    scale = np.linalg.norm(numerical) + np.linalg.norm(analytic)
    return float(np.linalg.norm(numerical - analytic) / max(scale, 1e-12))


def check_setup(config: TrainConfig, dataset=None) -> list[Check]:
    """Every check of the configured model on the configured data (or `dataset`, in memory).
    config: resolved (TrainConfig.resolve())."""
    engine = get_engine(config.run.engine)
    engine.check_model_options(config.model.model, config.model.model_args)
    use_threads(config.run.threads)
    return run_checks(config, prepare(config.data, config.run.seed, dataset))


def run_checks(config: TrainConfig, data: RunData) -> list[Check]:
    sample = data.sample(OVERFIT_EXAMPLES)
    return [*initial_loss_checks(config, data, sample),
            *gradient_checks(config, data, sample),
            overfit(config, data, sample),
            *training_health(config, data, sample)]


def initial_loss_checks(config: TrainConfig, data: RunData, sample: Split) -> list[Check]:
    engine, classes = get_engine(config.run.engine), data.dataset.num_classes
    loss, loss_reg, any_weight = engine.initial_losses(config, sample, classes, data.preprocess)
    expected, label = expected_initial_loss(config, classes)
    return [Check("initial loss", f"{loss:.4f}", label,
                  abs(loss - expected) < INITIAL_LOSS_TOLERANCE * expected),
            regularization_check(loss, loss_reg, any_weight)]


def expected_initial_loss(config: TrainConfig, classes: int) -> tuple[float, str]:
    """(value, how the report shows it) of the data loss of scores all near 0. Softmax: every
    class has probability 1/C, so -ln(1/C). Hinge: each of the C - 1 wrong classes violates the
    margin of 1 by about 1, and squared-hinge squares each 1 + (s_j - s_y), near 1 too."""
    if config.model.model == "svm" or config.optim.loss in ("hinge", "squared-hinge"):
        return classes - 1.0, f"C - 1 = {classes - 1}"
    return math.log(classes), f"ln({classes}) = {math.log(classes):.4f}"


def regularization_check(loss: float, loss_reg: float, any_weight: bool) -> Check:
    """The penalty must show in the loss, unless every weight starts at zero (as logreg's do)."""
    if any_weight:
        return Check("initial loss, reg=1", f"{loss_reg:.4f}", f"> {loss:.4f}", loss_reg > loss)
    return Check("initial loss, reg=1", f"{loss_reg:.4f}", f"= {loss:.4f} (zero weights)",
                 loss_reg == loss)


def gradient_checks(config: TrainConfig, data: RunData, sample: Split) -> list[Check]:
    rng = np.random.default_rng(config.run.seed)

    def redraw_zero_weight(weight: np.ndarray) -> None:
        # A zero-initialised layer (the tutorials' output layer) blocks every gradient below
        # it, so the check would only see that layer: give it small random weights here.
        if not weight.any():
            weight[...] = ZERO_WEIGHT_SCALE * rng.standard_normal(weight.shape)

    examples = Split(sample.images[:GRADIENT_EXAMPLES], sample.labels[:GRADIENT_EXAMPLES])
    loss, params, grads = get_engine(config.run.engine).gradient_problem(
        config, examples, data.dataset.num_classes, data.preprocess,
        TINY_OPTIONS.get(config.model.model, {}), redraw_zero_weight)
    checks = []
    for name in params:
        numerical = eval_numerical_gradient(lambda _: loss(), params[name])
        error = vector_rel_error(numerical, grads[name])
        checks.append(Check(f"gradient {name}", f"{error:.1e}", f"< {GRADIENT_TOLERANCE:.0e}",
                            error < GRADIENT_TOLERANCE))
    return checks


def sample_learner(config: TrainConfig, data: RunData, sample: Split) -> Learner:
    """A fresh model learning the sample only."""
    return build_learner(config, {"train": sample}, data.dataset.num_classes, data.preprocess)


def without_regularization(config: TrainConfig) -> TrainConfig:
    """cs231n's advice for overfitting a sample: no penalties, augmentation or dropout, so that
    only the model and the update rule are tested."""
    spec = SPECS.get(config.model.model)    # None for a model of one's own: options unknown
    no_dropout = {"dropout": 0.0} if spec and "dropout" in spec.options else {}
    return replace(config, augment=AugmentConfig(),
                   optim=replace(config.optim, l1=0.0, l2=0.0, weight_decay=0.0),
                   model=replace(config.model,
                                 model_args={**config.model.model_args, **no_dropout}))


def overfit(config: TrainConfig, data: RunData, sample: Split) -> Check:
    learner = sample_learner(without_regularization(config), data, sample)
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
    return Check(f"overfit {len(sample)} examples", f"{accuracy:.0%} after {step} steps",
                 "100%", accuracy == 1.0)


def training_health(config: TrainConfig, data: RunData, sample: Split) -> list[Check]:
    engine = get_engine(config.run.engine)
    learner = sample_learner(config, data, sample)
    losses = list(train_minibatches(learner, [config.optim.lr] * (HEALTH_STEPS - 1)))
    before = learner.weights()
    losses += train_minibatches(learner, [config.optim.lr])
    after = learner.weights()
    # Finite and falling: a learning rate too large for the model sends it up, or to inf.
    falling = all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]
    checks = [Check(f"loss after {HEALTH_STEPS} steps", f"{losses[-1]:.4f}",
                    f"< {losses[0]:.4f} (first)", falling)]
    checks += [unit_check(*output) for output in engine.layer_outputs(learner)]
    checks += [update_ratio_check(name, before[name], after[name]) for name in before]
    return checks


def update_ratio_check(name: str, before: np.ndarray, after: np.ndarray) -> Check:
    """||delta W|| / ||W|| of one step; NaN (a zero, diverged or non-finite weight) fails.
    Judged as shown, to two digits, so that a row never reads 1.0e-01 and fails."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.linalg.norm(after - before) / np.linalg.norm(before)
    shown = f"{ratio:.1e}"
    low, high = UPDATE_RATIO_BAND
    return Check(f"update/weight {name}", shown, f"{low:.0e} to {high:.0e}",
                 low <= float(shown) <= high)


def unit_check(layer: str, kind: str, output: np.ndarray) -> Check:
    """Dead ReLUs (never positive) or saturated tanh/sigmoid units (beyond SATURATED for most
    inputs) of one layer; output: (N, units) or (N, units, H, W), a convolution's unit being a
    channel."""
    by_unit = np.moveaxis(output, 1, 0).reshape(output.shape[1], -1)   # (units, N * H * W)
    if kind == "relu":
        bad, what = ~(by_unit > 0).any(axis=1), "dead"
    else:
        centred = by_unit if kind == "tanh" else 2 * by_unit - 1        # in [-1, 1]
        bad, what = (np.abs(centred) > SATURATED).mean(axis=1) > MOST_INPUTS, "saturated"
    count, units = int(bad.sum()), len(bad)
    return Check(f"{what} {layer}", f"{count / units:.0%} of {units} units",
                 f"<= {MAX_BAD_UNITS:.0%}", count <= max(1, MAX_BAD_UNITS * units))
