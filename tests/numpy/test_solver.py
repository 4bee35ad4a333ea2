"""cs231n's Solver: its histories, accuracy checks, printed lines, checkpoints and best params,
each against what cs231n's solver.py defines."""

import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from striate.numpy.solver import Solver, read_checkpoint


@pytest.fixture(scope="module")
def digits_data():
    from striate.data import load_dataset, split_validation
    digits = load_dataset("digits")
    train, valid = split_validation(digits.train, 144, seed=0)
    return {"X_train": (train.images / 16).astype(np.float32), "y_train": train.labels,
            "X_val": (valid.images / 16).astype(np.float32), "y_val": valid.labels}


def twolayer():
    from striate.numpy.models import create_model
    return create_model("twolayer", (1, 8, 8), 10, hidden_dim=50)


class Linear:
    """A model of one's own, cs231n-style: scores = X @ W."""
    def __init__(self, W):
        self.params = {"W": W}

    def loss(self, X, y=None):
        scores = X @ self.params["W"]                                  # (N, classes)
        if y is None:
            return scores
        return 0.0, {"W": np.zeros_like(self.params["W"])}


def linear_solver(X, y, **kwargs):
    """A Solver over a model predicting class X[:, 0] > 0 (columns: two classes)."""
    model = Linear(np.array([[-1.0, 1.0], [0.0, 0.0]]))
    return Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y}, verbose=False,
                  **kwargs)


def test_histories_have_an_epoch_0_entry_and_best_params_are_the_best_epochs(digits_data,
                                                                           tmp_path):
    model = twolayer()
    solver = Solver(model, digits_data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    lr_decay=0.9, num_epochs=4, batch_size=100, verbose=False,
                    checkpoint_name=str(tmp_path / "run"))
    solver.train()
    assert len(solver.loss_history) == 4 * 13          # 1,294 training examples, batches of 100
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 4 + 1
    assert solver.loss_history[-1] < solver.loss_history[0]
    # val accuracy is of all 144 validation examples (num_val_samples=None): a whole count
    assert all(round(acc * 144, 9) == round(acc * 144) for acc in solver.val_acc_history)
    # train accuracy of 1,000 drawn examples (num_train_samples=1000)
    assert all(round(acc * 1000, 9) == round(acc * 1000) for acc in solver.train_acc_history)
    best_epoch = int(np.argmax(solver.val_acc_history))       # the first of equals, as cs231n
    assert solver.best_val_acc == solver.val_acc_history[best_epoch] > 0.8
    params, _ = read_checkpoint(tmp_path / f"run_epoch_{best_epoch}.safetensors")
    assert set(solver.best_params) == set(params) == set(model.params)
    for name in params:
        np.testing.assert_array_equal(solver.best_params[name], params[name])
        np.testing.assert_array_equal(model.params[name], params[name])   # swapped in at the end


def test_check_accuracy_counts_the_correct_predictions():
    X = np.array([[1.0, 0], [-1, 0], [2, 0], [-3, 0], [4, 0]])    # predicted 1, 0, 1, 0, 1
    y = np.array([1, 1, 1, 0, 0])                                   # 3 of 5 right
    solver = linear_solver(X, y)
    assert solver.check_accuracy(X, y) == 3 / 5
    assert solver.check_accuracy(X, y, batch_size=2) == 3 / 5       # a last batch of one
    assert solver.check_accuracy(X, y, num_samples=5) == 3 / 5      # N not above it: all


def test_check_accuracy_subsamples_with_the_solvers_generator():
    rng = np.random.default_rng(7)
    X = np.c_[rng.standard_normal(50), np.zeros(50)]
    y = rng.integers(0, 2, 50)
    right = (X[:, 0] > 0).astype(int) == y
    drawn = [linear_solver(X, y, seed=3).check_accuracy(X, y, num_samples=10) for _ in range(2)]
    mask = np.random.default_rng(3).choice(50, 10)     # cs231n's np.random.choice: replacement
    assert drawn == [right[mask].mean()] * 2
    solver = linear_solver(X, y, seed=3)
    first, second = (solver.check_accuracy(X, y, num_samples=10) for _ in range(2))
    generator = np.random.default_rng(3)
    assert (first, second) == tuple(right[generator.choice(50, 10)].mean() for _ in range(2))


def test_printed_lines_are_cs231ns(digits_data, capsys):
    solver = Solver(twolayer(), digits_data, update_rule="adam",
                    optim_config={"learning_rate": 1e-2}, num_epochs=2, batch_size=100,
                    print_every=10)
    solver.train()
    lines = capsys.readouterr().out.splitlines()
    iterations = [line for line in lines if line.startswith("(Iteration")]
    epochs = [line for line in lines if line.startswith("(Epoch")]
    assert len(lines) == len(iterations) + len(epochs)
    # cs231n prints when t % print_every == 0, as iteration t + 1 of 2 * 13
    assert [re.fullmatch(r"\(Iteration (\d+) / 26\) loss: \d+\.\d{6}", line)[1]
            for line in iterations] == ["1", "11", "21"]
    for epoch, (line, train, val) in enumerate(zip(epochs, solver.train_acc_history,
                                                   solver.val_acc_history)):
        assert line == f"(Epoch {epoch} / 2) train acc: {train:f}; val_acc: {val:f}"
    assert len(epochs) == 3
    # the epoch-0 check comes after the first iteration, as cs231n's `first_it`
    assert lines.index(epochs[0]) == lines.index(iterations[0]) + 1


def test_checkpoints_are_safetensors_with_cs231ns_fields(digits_data, tmp_path):
    model = twolayer()
    name = str(tmp_path / "cnn")
    solver = Solver(model, digits_data, update_rule="sgd_momentum",
                    optim_config={"learning_rate": 1e-2, "momentum": 0.9}, lr_decay=0.5,
                    num_epochs=2, batch_size=100, num_train_samples=200, verbose=False,
                    checkpoint_name=name)
    solver.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"cnn_epoch_{epoch}.safetensors" for epoch in range(3)]
    for epoch in range(3):
        path = tmp_path / f"cnn_epoch_{epoch}.safetensors"
        assert not path.read_bytes().startswith(b"\x80")          # no pickle protocol header
        params, fields = read_checkpoint(path)
        assert params.keys() == load_file(path).keys() == model.params.keys()
        assert all(params[k].dtype == model.params[k].dtype for k in params)
        assert fields == {
            "update_rule": "sgd_momentum", "lr_decay": 0.5,
            "optim_config": {"learning_rate": 1e-2, "momentum": 0.9}, "batch_size": 100,
            "num_train_samples": 200, "num_val_samples": None, "epoch": epoch,
            "loss_history": solver.loss_history[:1 if epoch == 0 else 13 * epoch],
            "train_acc_history": solver.train_acc_history[:epoch + 1],
            "val_acc_history": solver.val_acc_history[:epoch + 1]}
