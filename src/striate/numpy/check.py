"""`striate check --engine numpy`: the sanity checks cs231n teaches to run before training.

1. Initial loss: with small random weights a softmax classifier is uniformly unsure, so the loss
   is ln(num_classes) (an SVM's is num_classes - 1); regularization must raise it.
2. Gradient check: on a tiny float64 copy of the model, every parameter's analytic gradient
   against centred differences (relative error of each parameter's gradient vector).
3. Overfit a small sample: 50 training examples must reach 100% training accuracy; a model that
   cannot memorise 50 examples has a bug, or a learning rate that cannot work.
"""

import math

import numpy as np

from striate.diagnostics import (GRADIENT_TOLERANCE, INITIAL_LOSS_TOLERANCE, OVERFIT_EXAMPLES,
                                 Check, vector_rel_error)
from striate.numpy.gradient_check import eval_numerical_gradient
from striate.numpy.models import create_model
from striate.numpy.solver import Solver

# Small enough that a numerical gradient of every parameter takes about a second. Weights of
# scale 0.1 rather than 1e-3 keep ReLU inputs away from the kink at 0, where centred
# differences step across it and disagree with any analytic gradient.
TINY_OPTIONS = {"lenet": {"nkerns": (2, 3), "hidden": 7}, "mlp": {"hidden": (7, 5)},
                "convnet3": {"num_filters": 3, "hidden_dim": 7, "weight_scale": 0.1},
                "twolayer": {"hidden_dim": 7, "weight_scale": 0.1},
                "fcnet": {"hidden_dims": (7, 5), "weight_scale": 0.1},
                "svm": {"weight_scale": 0.1},
                "vgg": {"num_filters": (2, 3), "As": (1, 1), "hidden_dims": (5,)}}


def initial_loss(name, options, images, labels, num_classes) -> list[Check]:
    plain = create_model(name, images.shape[1:], num_classes, **options)
    loss, _ = plain.loss(images, labels)
    regularized = create_model(name, images.shape[1:], num_classes, reg=1.0, **options)
    loss_reg, _ = regularized.loss(images, labels)
    if name == "svm":  # every wrong class violates the margin of 1 by about 1
        expected, label = num_classes - 1.0, f"C - 1 = {num_classes - 1}"
    else:
        expected = math.log(num_classes)
        label = f"ln({num_classes}) = {expected:.4f}"
    return [Check("initial loss", f"{loss:.4f}", label,
                  abs(loss - expected) < INITIAL_LOSS_TOLERANCE * expected),
            regularization_check(regularized, loss, loss_reg)]


def regularization_check(model, loss: float, loss_reg: float) -> Check:
    """The penalty must show in the loss, unless every weight starts at zero (as logreg's do)."""
    if any(np.any(value) for name, value in model.params.items() if name.startswith("W")):
        return Check("initial loss, reg=1", f"{loss_reg:.4f}", f"> {loss:.4f}", loss_reg > loss)
    return Check("initial loss, reg=1", f"{loss_reg:.4f}", f"= {loss:.4f} (zero weights)",
                 loss_reg == loss)


def gradient_checks(name, options, images, labels, num_classes, seed) -> list[Check]:
    tiny = {**options, **TINY_OPTIONS.get(name, {})}
    model = create_model(name, images.shape[1:], num_classes, dtype=np.float64, seed=seed,
                         reg=0.1, **tiny)
    if hasattr(model, "dropout_seed"):  # the same masks in every call, or differences are noise
        model.dropout_seed = seed
    # A zero-initialised layer (the tutorials' output layer) blocks every gradient below it, so
    # the check would only compare the penalty terms: give it small random weights here.
    rng = np.random.default_rng(seed)
    for param, value in model.params.items():
        if param.startswith("W") and not value.any():
            model.params[param] = 0.1 * rng.standard_normal(value.shape)
    x, y = images[:4].astype(np.float64), labels[:4]
    _, grads = model.loss(x, y)
    checks = []
    for param in sorted(model.params):
        numerical = eval_numerical_gradient(lambda _: model.loss(x, y)[0], model.params[param])
        error = vector_rel_error(numerical, grads[param])
        checks.append(Check(f"gradient {param}", f"{error:.1e}", f"< {GRADIENT_TOLERANCE:.0e}",
                            error < GRADIENT_TOLERANCE))
    return checks


def overfit(name, options, images, labels, num_classes, seed) -> Check:
    x, y = images[:OVERFIT_EXAMPLES], labels[:OVERFIT_EXAMPLES]
    model = create_model(name, images.shape[1:], num_classes, seed=seed, **options)
    solver = Solver(model, {"X_train": x, "y_train": y, "X_val": x, "y_val": y},
                    update_rule="adam", optim_config={"learning_rate": 1e-3}, batch_size=25,
                    num_epochs=100, verbose=False, seed=seed)
    solver.train()
    accuracy = max(solver.train_acc_history)
    return Check(f"overfit {len(y)} examples", f"{accuracy:.0%} train accuracy", "100%",
                 accuracy == 1.0)


def run_checks(name, options, images, labels, num_classes, seed=0) -> list[Check]:
    """images: (N, C, H, W) float32 standardized, N >= 50; labels: (N,) int64."""
    return [*initial_loss(name, options, images, labels, num_classes),
            *gradient_checks(name, options, images, labels, num_classes, seed),
            overfit(name, options, images, labels, num_classes, seed)]

