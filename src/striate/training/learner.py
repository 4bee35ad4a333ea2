"""The engine boundary: what the loop, the checks, lr-find and the Solver ask of a learner.

An engine (striate.torch, striate.numpy) implements `Learner` and computes the mathematics;
everything above this protocol is written once for both. Evaluation is defined here too, once:
the mean negative log-likelihood and the zero-one error of the class log-probabilities an engine
computes, with test-time augmentation as the mean of the probabilities of an image and of its
mirror image.
"""

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple, Protocol, SupportsFloat

import numpy as np

from striate.training.world import World


class Evaluation(NamedTuple):
    loss: float   # mean negative log-likelihood
    error: float  # fraction of examples whose most probable class is not their label


NOT_EVALUATED = Evaluation(math.nan, math.nan)


class Learner(Protocol):
    """A model, its data and its update rule, as the engine-independent code drives them.

    Training error has one meaning in both engines: the fraction of the epoch's training
    examples misclassified by the minibatch step that trained on them (as the network was while
    learning, with dropout and augmentation), reported by end_epoch with the epoch's mean loss.
    """
    world: World

    @property
    def batches_per_epoch(self) -> int: ...

    def start_epoch(self, epoch: int) -> None: ...

    def train_step(self, batch: int, lr: float) -> SupportsFloat:
        """One update on minibatch `batch` of the epoch at learning rate `lr`; its mean data loss
        (float() of it may wait for a GPU: the loop never reads it)."""

    def end_epoch(self) -> tuple[float, float]:
        """(mean training loss, training error) over the epoch's minibatches."""

    def evaluate(self, split: str) -> Evaluation:
        """Of the current weights on a split it was given; NOT_EVALUATED for one it was not."""

    def weights(self) -> dict[str, np.ndarray]:
        """The penalised weights (matrices and filters), copied, under checkpoint names."""

    def keep_best(self) -> None: ...

    def restore_best(self) -> None: ...

    def best_weights(self) -> dict[str, np.ndarray]: ...

    def current_weights(self) -> dict[str, np.ndarray]:
        """What best_weights holds (the checkpoint's arrays), of the weights as they are now."""

    def state_dict(self) -> dict:
        """Everything a resumed run needs, as nested dicts, lists and tuples of numbers, strings
        and numpy arrays (no tensors): striate.checkpoint.save_state writes it."""

    def load_state_dict(self, state: dict) -> None: ...


def mirror_averaged(log_proba: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """Test-time augmentation: log of the mean of two (N, classes) probability rows."""
    return np.logaddexp(log_proba, mirrored) - math.log(2.0)


@dataclass
class Tally:
    """Sums over evaluated examples, added up chunk by chunk (and over data-parallel ranks)."""
    nll: float = 0.0
    wrong: int = 0
    count: int = 0

    def add(self, log_proba: np.ndarray, labels: np.ndarray,
            mirrored: np.ndarray | None = None) -> None:
        """log_proba, mirrored: (N, classes) float; labels: (N,) int."""
        if mirrored is not None:
            log_proba = mirror_averaged(log_proba, mirrored)
        picked = np.take_along_axis(log_proba, labels[:, None], axis=1)
        self.nll -= float(picked.sum(dtype=np.float64))
        self.wrong += int((log_proba.argmax(axis=1) != labels).sum())
        self.count += len(labels)

    def result(self) -> Evaluation:
        if not self.count:
            return NOT_EVALUATED
        return Evaluation(self.nll / self.count, self.wrong / self.count)


def train_minibatches(learner: Learner, lrs: Iterable[float]) -> Iterator[float]:
    """Train one minibatch per learning rate in `lrs`, epoch after epoch; yields each step's
    minibatch loss as a float, which lets a caller stop at the first non-finite one."""
    for step, lr in enumerate(lrs):
        epoch, batch = divmod(step, learner.batches_per_epoch)
        if batch == 0:
            learner.start_epoch(epoch)
        yield float(learner.train_step(batch, lr))


class LayerOutput(NamedTuple):
    """What one activation layer output in a training-mode forward pass (an engine's report for
    `striate check`, which judges whether its units still learn)."""
    layer: str
    kind: str            # "relu", "tanh" or "sigmoid"
    output: np.ndarray   # (N, units) or (N, units, H, W): a convolution's unit is a channel


class StepRecorder:
    """A learner that also keeps every minibatch loss (cs231n's loss_history), and shows every
    `every`-th with show(iteration, loss); everything else is the wrapped learner's."""

    def __init__(self, learner: Learner, show=None, every: int = 1):
        self.learner, self.show, self.every = learner, show, every
        self.losses: list[float] = []

    def train_step(self, batch: int, lr: float) -> float:
        self.losses.append(float(self.learner.train_step(batch, lr)))
        if self.show and len(self.losses) % self.every == 0:
            self.show(len(self.losses), self.losses[-1])
        return self.losses[-1]

    def __getattr__(self, name: str):
        return getattr(self.learner, name)
