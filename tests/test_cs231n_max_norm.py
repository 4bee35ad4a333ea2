"""The max-norm constraint (cs231n's notes: "enforce an absolute upper bound on the magnitude of
the weight vector for every neuron ... typical values of c are on orders of 3 or 4"): after each
update, each unit's incoming weight vector is rescaled to L2 norm at most --max-norm. Weights
only: biases and batch norm's gamma and beta are left alone."""

import numpy as np

from helpers import NUMPY_MLP_ON_DIGITS, metrics_of, train_run
from striate.config import OptimConfig
from striate.numpy import optim
from striate.numpy.learner import NumpyLearner
from striate.numpy.models import create_model


def test_an_affine_units_incoming_weights_are_a_column():
    w = np.array([[3.0, 0.6], [4.0, 0.8]])          # (D=2, M=2): column norms 5 and 1
    np.testing.assert_allclose(optim.max_norm(w, 3.0), [[1.8, 0.6], [2.4, 0.8]])


def test_a_convolutions_units_are_its_filters():
    w = np.zeros((2, 1, 2, 2))                      # (F, C, HH, WW)
    w[0, 0] = [[3.0, 4.0], [0.0, 0.0]]              # filter norm 5
    w[1, 0] = [[1.0, 0.0], [0.0, 0.0]]              # filter norm 1
    constrained = optim.max_norm(w, 2.0)
    np.testing.assert_allclose(constrained[0, 0], [[1.2, 1.6], [0.0, 0.0]])
    np.testing.assert_array_equal(constrained[1], w[1])
    assert optim.max_norm(w.astype(np.float32), 2.0).dtype == np.float32


def unit_norms(name: str, w: np.ndarray) -> np.ndarray:
    return np.sqrt((w ** 2).sum(axis=0 if w.ndim == 2 else (1, 2, 3)))


def one_step(max_norm):
    """A ConvNet with batch norm after one SGD step at a learning rate far too large."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 1, 6, 6)).astype(np.float32), rng.integers(3, size=8)
    model = create_model("vgg", (1, 6, 6), 3, num_filters=(4,), As=(1,), hidden_dims=(5,),
                         init="he")
    config = OptimConfig(optimizer="sgd", lr=50.0, batch_size=8, weight_decay=0.0,
                         max_norm=max_norm)
    learner = NumpyLearner(model, {"train": (X, y)}, config, seed=0)
    learner.start_epoch(1)
    learner.train_step(0, config.lr)
    return model.params


def test_a_step_with_a_large_learning_rate_is_constrained():
    free, constrained = one_step(None), one_step(3.0)
    weights = [name for name in free if name.startswith("W")]
    assert weights == ["W1", "W2", "W3"]          # a conv, a hidden affine, the output layer
    for name in weights:
        assert unit_norms(name, free[name]).max() > 3.0, name          # the step overshoots
        np.testing.assert_array_less(unit_norms(name, constrained[name]), 3.0 + 1e-5)
        # each unit kept its direction
        np.testing.assert_allclose(optim.max_norm(free[name], 3.0), constrained[name],
                                   rtol=1e-6, err_msg=name)
    for name in free:
        if not name.startswith("W"):              # b3, gamma1, beta1, gamma2, beta2
            np.testing.assert_array_equal(constrained[name], free[name], err_msg=name)


def test_striate_train_takes_max_norm_on_the_numpy_engine(tmp_path):
    from safetensors.numpy import load_file

    run = train_run(*NUMPY_MLP_ON_DIGITS, "--out-dir", tmp_path, "--optimizer", "sgd",
                    "--lr", "0.5", "--max-norm", "0.5")
    assert "max_norm: 0.5" in (run / "config.yaml").read_text()
    assert metrics_of(run)["test_accuracy"] > 0.9       # 91.9% here
    weights = load_file(run / "model.safetensors")
    for name in ("hidden.fc1.weight", "output.weight"):   # torch's layout: a row per unit
        norms = np.sqrt((weights[name] ** 2).sum(axis=1))
        assert 0.5 - 1e-3 < norms.max() < 0.5 + 1e-6, name     # unconstrained: 0.56 and 1.24
