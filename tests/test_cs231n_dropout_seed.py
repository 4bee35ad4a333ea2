"""FullyConnectedNet(..., seed=...) fixes the dropout masks, as cs231n's does (it passes the seed
to every dropout layer, which draws np.random.seed(seed); np.random.rand(*x.shape) < p), so the
Dropout notebook's gradient check works, and gives the notebook's own initial losses.

The published figures are Dropout.ipynb's outputs (cs231n 2022).
"""

import numpy as np
import pytest

from striate.numpy.gradient_check import (eval_numerical_gradient,
                                          eval_numerical_gradient_array, rel_error)
from striate.numpy.layers import dropout_backward, dropout_forward
from striate.numpy.models import FullyConnectedNet, create_model

N, D, H1, H2, C = 2, 15, 20, 30, 10
KEEP_RATIOS = [1, 0.75, 0.5]
# "Initial loss" for each dropout_keep_ratio of the notebook's loop
PUBLISHED_LOSSES = [2.300479089768492, 2.302371489704412, 2.30427592207859]


def notebook_models():
    """(keep, model, X, y) of the notebook's loop: np.random.seed(231), X and y, then for each
    keep ratio FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
    dtype=np.float64, dropout_keep_ratio=keep, seed=123) with the weights cs231n's draws from
    NumPy's global generator. Its dropout_forward reseeds that generator with 123 and draws the
    masks, so a model built after a model with dropout draws its weights from there."""
    np.random.seed(231)
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    for keep in KEEP_RATIOS:
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
                                  dtype=np.float64, dropout_keep_ratio=keep, seed=123)
        for i, shape in enumerate([(D, H1), (H1, H2), (H2, C)], start=1):
            model.params[f"W{i}"] = np.random.normal(0, 5e-2, shape)
        yield keep, model, X, y
        if keep < 1:   # where cs231n's last mask, of layer 2, left the global generator
            np.random.seed(123)
            np.random.rand(N, H2)


def test_seeded_models_give_the_notebooks_initial_losses():
    losses = [model.loss(X, y)[0] for _, model, X, y in notebook_models()]
    np.testing.assert_allclose(losses, PUBLISHED_LOSSES, rtol=0, atol=1e-12)


@pytest.mark.parametrize("keep", KEEP_RATIOS)
def test_gradient_check_with_dropout_and_a_seed_passes(keep):
    [(_, model, X, y)] = [case for case in notebook_models() if case[0] == keep]
    _, grads = model.loss(X, y)
    for name in sorted(grads):
        numerical = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name],
                                            h=1e-5)
        # the notebook: "Relative errors should be around e-6 or less ... it's fine if for
        # dropout_keep_ratio=1 you have W2 error be on the order of e-5" (it prints 2.21e-05)
        tolerance = 1e-4 if (keep, name) == (1, "W2") else 1e-5
        assert rel_error(numerical, grads[name]) < tolerance, name


def test_the_seed_fixes_the_masks_and_no_seed_draws_new_ones():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 16)), rng.integers(3, size=6)
    seeded = FullyConnectedNet([40], input_dim=16, num_classes=3, dropout_keep_ratio=0.5, seed=7)
    assert len({seeded.loss(X, y)[0] for _ in range(3)}) == 1
    # what `striate train` builds: the run's seed draws the weights and a new mask every step
    # (init="he" draws the output layer too, which starts at zero otherwise)
    trained = create_model("fcnet", (1, 4, 4), 3, dtype=np.float64, hidden_dims=(40,),
                           dropout=0.5, init="he", seed=7)
    assert len({trained.loss(X, y)[0] for _ in range(3)}) == 3


def test_seeded_dropout_layer_passes_the_notebooks_check_and_keeps_numpys_generator():
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    state = np.random.get_state()[1].copy()
    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
    out, cache = dropout_forward(x, dropout_param)
    dx = dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0], x,
                                           dout)
    assert rel_error(dx, dx_num) < 1e-10     # "Error should be around e-10 or less"
    # the mask is cs231n's: np.random.seed(123); np.random.rand(10, 10) < 0.2 ...
    expected_mask = (np.random.RandomState(123).rand(10, 10) < 0.2) / 0.2
    np.testing.assert_array_equal(out, x * expected_mask)
    # ... drawn without reseeding NumPy's global generator, as cs231n's does
    np.testing.assert_array_equal(np.random.get_state()[1], state)
