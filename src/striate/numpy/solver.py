"""cs231n's Solver, on striate's engine-independent loop.

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, num_epochs=10, batch_size=50, print_every=100)
    solver.train()
    solver.loss_history, solver.train_acc_history, solver.val_acc_history, solver.best_params

data = {"X_train", "y_train", "X_val", "y_val"}. The epochs, minibatch order and per-epoch
lr_decay are striate.training.loop's, the same code that runs `striate train`. The accuracy
histories, best_params and the checkpoints are cs231n's: check_accuracy on `num_train_samples`
training and `num_val_samples` validation examples after the first iteration ("Epoch 0") and
at the end of every epoch, so each history has num_epochs + 1 entries.

A checkpoint is `{checkpoint_name}_epoch_{epoch}.safetensors`, not cs231n's pickle: the model's
params as tensors and the Solver's other fields as JSON in the file's metadata (read_checkpoint).
Loading it runs no code.
"""

import json
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save

from striate.config import OptimConfig, ScheduleConfig, StopConfig, TrainConfig
from striate.files import atomic_write_bytes
from striate.numpy.learner import NumpyLearner
from striate.training.learner import StepRecorder
from striate.training.loop import Loop

UPDATE_RULES = {"sgd": "sgd", "sgd_momentum": "momentum", "nesterov": "nesterov",
                "adagrad": "adagrad", "rmsprop": "rmsprop", "adam": "adam"}
# cs231n optim_config keys -> OptimConfig fields
OPTIM_KEYS = {"learning_rate": "lr", "momentum": "momentum", "decay_rate": "rho",
              "beta1": "beta1", "beta2": "beta2", "epsilon": "eps"}


class Solver:
    def __init__(self, model, data: dict, update_rule: str = "sgd", optim_config: dict = None,
                 lr_decay: float = 1.0, batch_size: int = 100, num_epochs: int = 10,
                 num_train_samples: int | None = 1000, num_val_samples: int | None = None,
                 checkpoint_name: str | None = None, print_every: int = 10,
                 verbose: bool = True, seed: int = 0):
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"update_rule must be one of {', '.join(UPDATE_RULES)}")
        unknown = set(optim_config or {}) - set(OPTIM_KEYS)
        if unknown:
            raise ValueError(f"unknown optim_config keys {sorted(unknown)}; use {list(OPTIM_KEYS)}")
        optim = OptimConfig(optimizer=UPDATE_RULES[update_rule], batch_size=batch_size,
                            weight_decay=0.0,
                            **{OPTIM_KEYS[k]: v for k, v in (optim_config or {}).items()})
        self.config = TrainConfig(optim=optim,
                                  schedule=ScheduleConfig(schedule="exponential",
                                                          lr_decay=lr_decay),
                                  stop=StopConfig(epochs=num_epochs, early_stopping="none"))
        self.config = self.config.resolve()
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        splits = {"train": (self.X_train, self.y_train), "valid": (self.X_val, self.y_val)}
        self.model, self.verbose, self.print_every = model, verbose, print_every
        self.update_rule, self.optim_config = update_rule, dict(optim_config or {})
        self.lr_decay, self.batch_size, self.num_epochs = lr_decay, batch_size, num_epochs
        self.num_train_samples, self.num_val_samples = num_train_samples, num_val_samples
        self.checkpoint_name = checkpoint_name
        # check_accuracy's subsamples; the learner's minibatch order has its own stream
        self.rng = np.random.default_rng(seed)
        self.learner = StepRecorder(NumpyLearner(model, splits, optim, seed), self.after_step)
        self.num_iterations = num_epochs * self.learner.batches_per_epoch
        self.epoch = 0
        self.train_acc_history, self.val_acc_history = [], []
        self.best_val_acc, self.best_params, self.best = 0.0, {}, None

    def train(self) -> None:
        """Train; then the model holds best_params, the params of the best validation
        accuracy (the first of equals), as in cs231n."""
        Loop(self.learner, self.config).run(on_epoch_end=self.end_epoch)
        # The loop restored its own best (validated on its schedule); cs231n's is this one.
        self.learner.set_state(self.best)

    def after_step(self, iteration: int, loss: float) -> None:
        if self.verbose and (iteration - 1) % self.print_every == 0:   # 1, 1 + every, ...
            print(f"(Iteration {iteration} / {self.num_iterations}) loss: {loss:.6f}")
        # cs231n checks after the first iteration too ("Epoch 0"), unless it also ends an epoch
        if iteration == 1 and self.learner.batches_per_epoch > 1:
            self.check_point()

    def end_epoch(self, loop: Loop, improved: bool) -> None:
        self.epoch = loop.state.epoch
        self.check_point()

    def check_point(self) -> None:
        """cs231n's: both accuracies, a checkpoint, the epoch line, the best params."""
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.save_checkpoint()
        if self.verbose:
            print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:.6f}; "
                  f"val_acc: {val_acc:.6f}")
        if val_acc > self.best_val_acc or self.best is None:
            self.best_val_acc, self.best = val_acc, self.learner.copy_state()
            self.best_params = self.best["params"]

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                       batch_size: int = 100) -> float:
        """Fraction of X (N, ...) whose highest test-mode score is its label y (N,); of
        num_samples examples drawn with replacement by the Solver's generator (as cs231n's
        np.random.choice draws them) when N is larger, scored batch_size at a time."""
        if num_samples is not None and len(y) > num_samples:
            mask = self.rng.choice(len(y), num_samples)
            X, y = X[mask], y[mask]
        predicted = [np.argmax(self.model.loss(X[start:start + batch_size]), axis=1)
                     for start in range(0, len(y), batch_size)]
        return float(np.mean(np.concatenate(predicted) == y))

    def save_checkpoint(self) -> None:
        if self.checkpoint_name is None:
            return
        fields = {"update_rule": self.update_rule, "lr_decay": self.lr_decay,
                  "optim_config": self.optim_config, "batch_size": self.batch_size,
                  "num_train_samples": self.num_train_samples,
                  "num_val_samples": self.num_val_samples, "epoch": self.epoch,
                  "loss_history": self.loss_history,
                  "train_acc_history": self.train_acc_history,
                  "val_acc_history": self.val_acc_history}
        tensors = {name: np.ascontiguousarray(value)
                   for name, value in self.model.params.items()}
        data = save(tensors, metadata={key: json.dumps(value) for key, value in fields.items()})
        atomic_write_bytes(Path(f"{self.checkpoint_name}_epoch_{self.epoch}.safetensors"), data)

    @property
    def loss_history(self) -> list[float]:
        return self.learner.losses


def read_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """(params, the other fields) of a file Solver.save_checkpoint wrote."""
    with safe_open(path, framework="numpy") as f:
        return ({name: f.get_tensor(name) for name in f.keys()},
                {key: json.loads(value) for key, value in (f.metadata() or {}).items()})
