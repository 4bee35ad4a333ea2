"""The engine boundary: what the loop, the checks, lr-find and the Solver ask of a learner.

An engine (striate.torch, striate.numpy) implements `Learner` and computes the mathematics;
everything above this protocol is written once for both. Evaluation is defined here too, once:
the mean negative log-likelihood and the zero-one error of the class log-probabilities an engine
computes, with test-time augmentation as the mean of the probabilities of an image's views
(TTA: the image, its shifts, their mirror images).
"""

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple, Protocol, SupportsFloat

import numpy as np

from striate.errors import StriateError
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


@dataclass(frozen=True)
class TTA:
    """Test-time augmentation: the views of each image whose class probabilities are averaged.
    The image itself; with shift, the image moved `shift` pixels right, left, down and up (the
    border repeated); with mirror, the mirror image of each."""
    mirror: bool = False
    shift: int = 0

    def __post_init__(self):
        if not isinstance(self.mirror, (bool, np.bool_)):
            raise StriateError(f"the test-time mirror must be True or False, got {self.mirror!r}")
        whole = isinstance(self.shift, (int, np.integer)) and not isinstance(self.shift, bool)
        if not whole or self.shift < 0:
            raise StriateError(f"the test-time shift must be a whole number of pixels >= 0, "
                               f"got {self.shift!r}")

    @property
    def views(self) -> list[tuple[int, int, bool]]:
        """(rows down, columns right, mirrored) of each view, the image itself first."""
        s = self.shift
        offsets = [(0, 0)] + ([(0, s), (0, -s), (s, 0), (-s, 0)] if s else [])
        return [(dy, dx, mirrored) for mirrored in (False, True)[:1 + self.mirror]
                for dy, dx in offsets]

    def __bool__(self) -> bool:
        return bool(self.mirror or self.shift > 0)


def as_tta(tta: "bool | TTA") -> TTA:
    """--tta alone (True) mirrors; a TTA says what it does."""
    return tta if isinstance(tta, TTA) else TTA(mirror=bool(tta))


def view(images, dy: int, dx: int, mirrored: bool):
    """(N, C, H, W) images, NumPy or torch, moved dy rows down and dx columns right with the
    border repeated, then mirrored left to right if asked. Index lists, which both libraries
    and an exported ONNX graph (a Gather) take alike; the image itself is returned as it is."""
    height, width = images.shape[-2:]
    if dy:
        images = images[..., [min(max(row - dy, 0), height - 1) for row in range(height)], :]
    if dx or mirrored:
        columns = [min(max(column - dx, 0), width - 1) for column in range(width)]
        images = images[..., columns[::-1] if mirrored else columns]
    return images


def views_averaged(log_probas: list[np.ndarray]) -> np.ndarray:
    """Log of the mean of the views' (N, classes) probabilities."""
    if len(log_probas) == 1:
        return log_probas[0]
    stacked = np.stack(log_probas)                          # (V, N, classes)
    return np.logaddexp.reduce(stacked, axis=0) - math.log(len(log_probas))


@dataclass
class Tally:
    """Sums over evaluated examples, added up chunk by chunk (and over data-parallel ranks)."""
    nll: float = 0.0
    wrong: int = 0
    count: int = 0

    def add(self, log_proba: np.ndarray, labels: np.ndarray) -> None:
        """log_proba: (N, classes) float; labels: (N,) int."""
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
