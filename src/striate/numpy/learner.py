"""The NumPy learner: what the engine-independent loop calls, computed with NumPy models.

It mirrors striate.torch.learner.TorchLearner: minibatch gradients from `model.loss(X, y)`, the
update rules of striate.numpy.optim, the tutorials' L1/L2 penalties on weights, and evaluation.
"""

import copy
import math

import numpy as np
import torch

from striate.config import OptimConfig
from striate.numpy import optim
from striate.numpy.losses import softmax_loss
from striate.training.order import epoch_order
from striate.training.world import World

EVAL_BATCH = 1000        # examples per evaluation forward pass
TRAIN_ERROR_SAMPLE = 1000  # training error is measured on this many examples, as cs231n does

RULES = {"sgd": optim.sgd, "momentum": optim.sgd_momentum, "nesterov": optim.nesterov,
         "rmsprop": optim.rmsprop, "adam": optim.adam}


def is_weight(name: str) -> bool:
    """cs231n names weights W1, W2, ...; biases (b), gamma and beta are never penalised."""
    return name.startswith("W")


def rule_config(config: OptimConfig, decay: float) -> dict:
    """The per-parameter config dict of the update rule named by --optimizer."""
    settings = {"learning_rate": config.lr, "weight_decay": decay}
    if config.optimizer in ("momentum", "nesterov"):
        settings["momentum"] = config.momentum
    elif config.optimizer == "rmsprop":
        settings.update(decay_rate=config.rho, epsilon=config.eps)
    elif config.optimizer == "adam":
        settings.update(beta1=config.beta1, beta2=config.beta2, epsilon=config.eps)
    return settings


class NumpyLearner:
    world = World()  # one process: data-parallel training is the torch engine's

    def __init__(self, model, splits: dict[str, tuple[np.ndarray, np.ndarray]],
                 config: OptimConfig, seed: int):
        self.model = model
        self.splits = splits          # name -> (images (N, C, H, W) float32, labels (N,) int64)
        self.config = config
        self.seed = seed
        self.rule = RULES[config.optimizer]
        self.rule_configs = {name: rule_config(config, config.weight_decay if is_weight(name)
                                               else 0.0) for name in model.params}
        self.best = self.copy_state()
        self.order = None

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.splits["train"][1]) / self.config.batch_size)

    def start_epoch(self, epoch: int) -> None:
        self.order = epoch_order(self.seed, epoch, len(self.splits["train"][1]))
        self.loss_sum = 0.0

    def train_step(self, batch: int, lr: float) -> None:
        images, labels = self.splits["train"]
        size = self.config.batch_size
        index = self.order[batch * size:(batch + 1) * size]
        loss, grads = self.model.loss(images[index], labels[index])  # data loss (reg is 0)
        self.add_penalty_gradients(grads)
        for name, value in self.model.params.items():
            self.rule_configs[name]["learning_rate"] = lr
            self.model.params[name], self.rule_configs[name] = self.rule(
                value, grads[name], self.rule_configs[name])
        self.loss_sum += float(loss) * len(index)

    def add_penalty_gradients(self, grads: dict) -> None:
        """d/dW of lambda_1 * sum|W| + lambda_2 * sum W^2, the tutorials' L1 and L2_sqr terms."""
        l1, l2 = self.config.l1, self.config.l2
        for name, weight in self.model.params.items():
            if is_weight(name) and (l1 or l2):
                grads[name] = grads[name] + l1 * np.sign(weight) + 2 * l2 * weight

    def end_epoch(self) -> tuple[float, float]:
        """Mean training data loss over the epoch's minibatches; error on a fixed sample."""
        images, labels = self.splits["train"]
        sample = np.arange(min(TRAIN_ERROR_SAMPLE, len(labels)))
        scores = self.scores(images[sample])
        return self.loss_sum / len(labels), float(np.mean(scores.argmax(1) != labels[sample]))

    def scores(self, images: np.ndarray) -> np.ndarray:
        """(N, classes) class scores in test mode, in batches."""
        return np.concatenate([self.model.loss(images[start:start + EVAL_BATCH])
                               for start in range(0, len(images), EVAL_BATCH)])

    def evaluate(self, split: str) -> tuple[float, float]:
        """Mean softmax cross-entropy and zero-one error of the current weights on a split."""
        if split not in self.splits:
            return math.nan, math.nan
        images, labels = self.splits[split]
        scores = self.scores(images)
        loss, _ = softmax_loss(scores, labels)
        return float(loss), float(np.mean(scores.argmax(1) != labels))

    def copy_state(self) -> dict:
        return copy.deepcopy({"params": self.model.params,
                              "bn_params": getattr(self.model, "bn_params", [])})

    def set_state(self, state: dict) -> None:
        self.model.params = copy.deepcopy(state["params"])
        if hasattr(self.model, "bn_params"):
            self.model.bn_params = copy.deepcopy(state["bn_params"])

    def keep_best(self) -> None:
        self.best = self.copy_state()

    def restore_best(self) -> None:
        self.set_state(self.best)

    def best_weights(self) -> dict[str, np.ndarray]:
        from striate.numpy.engine import to_checkpoint
        return to_checkpoint(self.model, self.best)

    def state_dict(self) -> dict:
        # numpy arrays become tensors so that the file loads with torch.load(weights_only=True)
        return to_tensors({"current": self.copy_state(), "best": self.best,
                           "rules": self.rule_configs,
                           # where dropout's mask stream stands: a resume must draw the same masks
                           "model_rng": self.model.rng.bit_generator.state})

    def load_state_dict(self, state: dict) -> None:
        state = to_arrays(state)
        self.set_state(state["current"])
        self.best = state["best"]
        self.rule_configs = state["rules"]
        self.model.rng.bit_generator.state = state["model_rng"]


def to_tensors(value):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {key: to_tensors(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_tensors(item) for item in value]
    return value


def to_arrays(value):
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {key: to_arrays(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_arrays(item) for item in value]
    return value
