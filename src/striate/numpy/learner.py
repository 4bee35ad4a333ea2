"""The NumPy learner: what the engine-independent loop calls, computed with NumPy models.

It mirrors striate.torch.learner.TorchLearner: minibatch gradients from `model.loss(X, y)`, the
update rules of striate.numpy.optim, the tutorials' L1/L2 penalties on weights (--l2 lambda is
cs231n's reg = 2 * lambda: the models the engine builds have reg 0 and the penalty is added
here), the max-norm constraint, and evaluation.
"""

import copy

import numpy as np

from striate.config import OptimConfig
from striate.numpy import optim
from striate.numpy.losses import is_weight, weight_penalty
from striate.numpy.weights import checkpoint_layout, to_checkpoint
from striate.training.learner import NOT_EVALUATED, Evaluation, Tally
from striate.training.order import (examples_per_epoch, minibatches_per_epoch,
                                    training_order)
from striate.training.world import World

EVAL_BATCH = 1000        # examples per evaluation forward pass

RULES = {"sgd": optim.sgd, "momentum": optim.sgd_momentum, "nesterov": optim.nesterov,
         "adagrad": optim.adagrad, "rmsprop": optim.rmsprop, "adam": optim.adam}


def rule_config(config: OptimConfig, decay: float) -> dict:
    """The per-parameter config dict of the update rule named by --optimizer."""
    settings = {"learning_rate": config.lr, "weight_decay": decay}
    if config.optimizer in ("momentum", "nesterov"):
        settings["momentum"] = config.momentum
    elif config.optimizer == "adagrad":
        settings["epsilon"] = config.eps
    elif config.optimizer == "rmsprop":
        settings.update(decay_rate=config.rho, epsilon=config.eps)
    elif config.optimizer == "adam":
        settings.update(beta1=config.beta1, beta2=config.beta2, epsilon=config.eps)
    return settings


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """(N, classes) class scores -> log-probabilities; the max is subtracted so exp never
    overflows."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class NumpyLearner:
    """striate.training.learner.Learner for the NumPy models."""
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
        return minibatches_per_epoch(len(self.splits["train"][1]), self.config.batch_size,
                                     self.config.minibatch_order)

    def start_epoch(self, epoch: int) -> None:
        self.order = training_order(self.seed, epoch, len(self.splits["train"][1]),
                                    self.config.minibatch_order)
        self.loss_sum, self.wrong = 0.0, 0

    def train_step(self, batch: int, lr: float) -> float:
        """One update on minibatch `batch` of the epoch's order, then --max-norm; returns its
        mean data loss."""
        images, labels = self.splits["train"]
        size = self.config.batch_size
        index = self.order[batch * size:(batch + 1) * size]
        loss, grads, scores = self.forward_backward(images[index], labels[index])
        _, penalty_grads = weight_penalty(self.model.params, self.config.l1, self.config.l2)
        for name, value in self.model.params.items():
            grad = grads[name] + penalty_grads[name] if name in penalty_grads else grads[name]
            self.rule_configs[name]["learning_rate"] = lr
            value, self.rule_configs[name] = self.rule(value, grad, self.rule_configs[name])
            if self.config.max_norm is not None and is_weight(name):
                value = optim.max_norm(value, self.config.max_norm)
            self.model.params[name] = value
        self.loss_sum += float(loss) * len(index)
        self.wrong += int((scores.argmax(axis=1) != labels[index]).sum())
        return float(loss)

    def forward_backward(self, images: np.ndarray, labels: np.ndarray):
        """(data loss, grads, (B, classes) scores) of a minibatch in train mode. striate's models
        keep the scores their loss was computed from (Model.data_loss); a model of the reader's
        own, with only cs231n's params and loss(X, y=None), is asked for them again in test
        mode."""
        self.model.last_scores = None
        loss, grads = self.model.loss(images, labels)
        scores = self.model.last_scores
        return loss, grads, self.model.loss(images) if scores is None else scores

    def end_epoch(self) -> tuple[float, float]:
        """Mean training data loss and error over the epoch's minibatches (as trained on)."""
        n = examples_per_epoch(len(self.splits["train"][1]), self.config.batch_size,
                               self.config.minibatch_order)
        return self.loss_sum / n, self.wrong / n

    def evaluate(self, split: str) -> Evaluation:
        """Of the current weights, in test mode, EVAL_BATCH examples at a time."""
        if split not in self.splits:
            return NOT_EVALUATED
        images, labels = self.splits[split]
        tally = Tally()
        for start in range(0, len(images), EVAL_BATCH):
            scores = self.model.loss(images[start:start + EVAL_BATCH])       # (B, classes)
            tally.add(log_softmax(scores), labels[start:start + EVAL_BATCH])
        return tally.result()

    def weights(self) -> dict[str, np.ndarray]:
        stored = to_checkpoint(self.model, self.copy_state())
        names = checkpoint_layout(self.model)
        return {names[name][0]: stored[names[name][0]]
                for name in self.model.params if is_weight(name)}

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
        return to_checkpoint(self.model, self.best)

    def current_weights(self) -> dict[str, np.ndarray]:
        return to_checkpoint(self.model, self.copy_state())

    def state_dict(self) -> dict:
        # where dropout's mask stream stands: a resume must draw the same masks
        rng = getattr(self.model, "rng", None)       # a model of one's own may have none
        return {"current": self.copy_state(), "best": self.best, "rules": self.rule_configs,
                **({"model_rng": rng.bit_generator.state} if rng is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        """Refuses (ValueError) a state of other parameters than the model's: one copied from
        another run would otherwise fail at the first step."""
        for which in ("current", "best"):
            check_same_arrays(state[which]["params"], self.model.params)
        if set(state["rules"]) != set(self.model.params):
            raise ValueError("the update rules' state is for other parameters")
        self.set_state(state["current"])
        self.best = state["best"]
        self.rule_configs = state["rules"]
        if "model_rng" in state:
            self.model.rng.bit_generator.state = state["model_rng"]


def check_same_arrays(arrays: dict, like: dict) -> None:
    """Raise ValueError unless `arrays` has the names, shapes and dtypes of `like`."""
    if set(arrays) != set(like) or any(
            not isinstance(arrays[name], np.ndarray) or arrays[name].shape != like[name].shape
            or arrays[name].dtype != like[name].dtype for name in like):
        raise ValueError("the parameters are not the model's")
