"""The training loop, the same for every engine; it reads top to bottom.

    for each epoch:
        for each minibatch:           lr from the schedule; one gradient step
            every validation_frequency iterations:
                validate; on a new best, keep the weights
            stop when the early-stopping rule says so, or when the validation loss is not finite
        stop when the epoch's training loss is not finite (diverged)
        record the epoch's row and show it (on the bar, or as a log line); save a resumable
        checkpoint (on_epoch_end, which may ask to stop)
    back to the best weights; measure the test split on them, once

A learner (striate.training.learner.Learner, implemented by each engine) does the mathematics:
start_epoch, train_step, end_epoch, evaluate, keep_best, restore_best, state_dict.
"""

import math
import sys
import time
from dataclasses import dataclass, field, fields

from tqdm.auto import tqdm  # a notebook bar in Jupyter, a text bar on a terminal

from striate.config import TrainConfig
from striate.training.learner import NOT_EVALUATED, Evaluation
from striate.training.schedules import Schedule
from striate.training.stopping import make_stopper


@dataclass
class LoopState:
    """Everything about the loop's progress that a resumed run must get back."""
    epoch: int = 0                 # epochs completed
    elapsed: float = 0.0           # seconds spent training, across resumes
    history: list = field(default_factory=list)  # metrics.csv rows
    best: dict = field(default_factory=dict)     # validation and test figures at the best point
    stopped_by: str | None = None  # patience, no-improvement, plateau, diverged, callback or
                                   # max-epochs
    divergence: dict | None = None  # where the loss was first seen not finite


def checked(state: LoopState) -> LoopState:
    """`state`, if every field holds its declared type and the history is a list of rows; else
    TypeError. A forged train state (a history that is a string, say) is refused on loading,
    not epochs later with the run's files half rewritten."""
    wrong = [f.name for f in fields(state) if not isinstance(getattr(state, f.name), f.type)]
    if wrong or not all(isinstance(row, dict) for row in state.history):
        raise TypeError(f"loop state fields of the wrong type: {wrong or ['history']}")
    return state


def can_draw_bar() -> bool:
    """A bar redraws itself in place (carriage returns), which a file or a pipe would keep
    frame by frame: it is drawn in a Jupyter notebook, or when both outputs are a terminal
    (`> log.txt` from a terminal logs the epochs as lines)."""
    return "ipykernel" in sys.modules or (sys.stdout.isatty() and sys.stderr.isatty())


def epoch_line(row: dict, epochs: int, seconds: float) -> str:
    """One metrics.csv row as the log line of its epoch (Keras's verbose=2)."""
    valid = f"{row['valid_error']:.2%}" if math.isfinite(row["valid_error"]) else "-"
    return (f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f}, "
            f"train error {row['train_error']:.2%}, valid error {valid}, "
            f"lr {row['lr']:.4g}, {seconds:.2f} s")


class Progress:
    """What the loop shows while it trains: a bar where one can be drawn, else one line per
    epoch through `echo`, or nothing when `show` is False. It shows only figures the loop reads
    anyway (once per epoch, and at validation): reading each step's loss would stall a GPU."""

    def __init__(self, show: bool, epochs: int, batches_per_epoch: int, first_epoch: int,
                 echo=print):
        self.epochs, self.echo = epochs, echo
        self.lines = show and not can_draw_bar()
        self.bar = tqdm(total=epochs * batches_per_epoch, initial=first_epoch * batches_per_epoch,
                        unit="batch", dynamic_ncols=True, disable=not show or self.lines)
        self.postfix = {}

    def start_epoch(self, epoch: int) -> None:
        self.bar.set_description_str(f"epoch {epoch + 1}/{self.epochs}", refresh=False)

    def step(self) -> None:
        self.bar.update()

    def show(self, **figures: str) -> None:
        self.postfix.update(figures)
        self.bar.set_postfix(self.postfix)

    def end_epoch(self, row: dict, seconds: float) -> None:
        self.show(train_loss=f"{row['train_loss']:.4f}")
        if self.lines:
            self.echo(epoch_line(row, self.epochs, seconds))

    def close(self) -> None:
        self.bar.close()


class Loop:
    def __init__(self, learner, config: TrainConfig, show_progress: bool = False, echo=print):
        """show_progress: a bar on a terminal or in a notebook, else a line per epoch through
        `echo` (a file, a pipe)."""
        self.learner = learner
        self.config = config
        self.schedule = Schedule(config.schedule, config.optim.lr, config.stop.epochs,
                                 learner.batches_per_epoch)
        self.stopper = make_stopper(config.stop)
        self.state = LoopState()
        # The current epoch's steps, (lr, loss as train_step returned it): the loss is kept
        # unread, for a reader once the epoch has ended (TensorBoard's per-step curve).
        self.epoch_steps: list[tuple[float, object]] = []
        self.show_progress = show_progress
        self.echo = echo

    def run(self, on_epoch_end=lambda loop, improved: None) -> LoopState:
        state, learner, stopper = self.state, self.learner, self.stopper
        n_batches = learner.batches_per_epoch
        frequency = self.config.stop.validation_frequency
        if frequency is None:
            frequency = stopper.validation_frequency(n_batches)
        # 0: no validation while training; validate_once judges the final weights at the end
        # (a fixed-length run whose rate anneals to zero needs no other: none is wasted).
        validates = frequency > 0
        started = time.perf_counter() - state.elapsed
        progress = Progress(self.show_progress, self.config.stop.epochs, n_batches, state.epoch,
                            self.echo)
        valid = NOT_EVALUATED
        for epoch in range(state.epoch, self.config.stop.epochs):
            if state.stopped_by:
                break
            learner.start_epoch(epoch)
            progress.start_epoch(epoch)
            validated = improved = False
            self.epoch_steps = []
            for batch in range(n_batches):
                iteration = epoch * n_batches + batch
                lr = self.schedule.lr(epoch + batch / n_batches)
                self.epoch_steps.append((lr, learner.train_step(batch, lr)))
                progress.step()
                if validates and (iteration + 1) % frequency == 0:
                    valid, validated = learner.evaluate("valid"), True
                    if not math.isfinite(valid.loss):
                        self.diverged(epoch, iteration, "validation loss", valid.loss)
                        break
                    if stopper.observe(iteration, valid.error, valid.loss):
                        improved = True
                        self.record_best(epoch, iteration, valid)
                    progress.show(valid_error=f"{valid.error:.4f}",
                                  best=f"{stopper.best_error:.4f}")
                if stopper.should_stop(iteration):
                    state.stopped_by = "patience"
                    break
            train_loss, train_error = learner.end_epoch()
            stopper.end_epoch()
            if not state.stopped_by:
                self.check_epoch_end(epoch, iteration, train_loss, validated, improved)
            elapsed_before = state.elapsed
            state.epoch, state.elapsed = epoch + 1, time.perf_counter() - started
            state.history.append({
                "epoch": epoch + 1, "iteration": iteration + 1, "lr": lr,
                "train_loss": train_loss, "train_error": train_error,
                "valid_loss": valid.loss, "valid_error": valid.error,
                "valid_accuracy": 1 - valid.error,
                "best_valid_error": stopper.best_error, "time_s": round(state.elapsed, 3)})
            progress.end_epoch(state.history[-1], state.elapsed - elapsed_before)
            if on_epoch_end(self, improved) and not state.stopped_by:
                state.stopped_by = "callback"   # it asked to stop after this epoch
        progress.close()
        if not state.best:
            self.validate_once()
        state.stopped_by = state.stopped_by or "max-epochs"
        learner.restore_best()
        self.test_best()
        return state

    def check_epoch_end(self, epoch: int, iteration: int, train_loss: float, validated: bool,
                        improved: bool) -> None:
        """Stop after this epoch if its loss is not finite, or the schedule or stopping rule
        says so. The loss is read once per epoch, summed on the device: reading every step's
        would stall a GPU, and a non-finite step makes the sum non-finite anyway."""
        if not math.isfinite(train_loss):
            self.diverged(epoch, iteration, "training loss", train_loss)
        # An epoch that never validated says nothing about a plateau.
        elif validated and self.schedule.end_epoch(improved):
            self.state.stopped_by = "plateau"
        elif self.stopper.should_stop(iteration):
            self.state.stopped_by = "no-improvement"

    def diverged(self, epoch: int, iteration: int, measured: str, loss: float) -> None:
        # The loss as text: JSON has no number for nan or inf.
        self.state.stopped_by = "diverged"
        self.state.divergence = {"epoch": epoch + 1, "iteration": iteration + 1,
                                 "measured": measured, "loss": str(loss)}

    def validate_once(self) -> None:
        """No validation point was reached (too few iterations, or a divergence before the
        first one): validate now the last weights or, after a divergence, the initial ones,
        which are then the only finite weights known (recorded as epoch 0, iteration 0)."""
        diverged = self.state.divergence is not None
        if diverged:
            self.learner.restore_best()
        epoch, iteration = ((-1, -1) if diverged else
                            (self.state.epoch - 1, self.state.history[-1]["iteration"] - 1))
        valid = self.learner.evaluate("valid")
        self.stopper.observe(iteration, valid.error, valid.loss)
        self.record_best(epoch, iteration, valid)

    def record_best(self, epoch: int, iteration: int, valid: Evaluation) -> None:
        self.learner.keep_best()
        self.state.best = {"epoch": epoch + 1, "iteration": iteration + 1,
                           "valid_loss": valid.loss, "valid_error": valid.error,
                           "valid_accuracy": 1 - valid.error}

    def test_best(self) -> None:
        """The test split, evaluated once, on the best weights when training ends (the model
        holds them): evaluating it at every improvement cost a test pass per epoch for a figure
        that only the last improvement keeps."""
        test = self.learner.evaluate("test")
        self.state.best.update(test_loss=test.loss, test_error=test.error)

    def state_dict(self) -> dict:
        return {"loop": vars(self.state), "schedule": self.schedule.state_dict(),
                "stopper": self.stopper.state_dict(), "learner": self.learner.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.state = checked(LoopState(**state["loop"]))
        self.schedule.load_state_dict(state["schedule"])
        self.stopper.load_state_dict(state["stopper"])
        self.learner.load_state_dict(state["learner"])
