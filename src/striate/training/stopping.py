"""Early stopping, in the two forms users know.

`PatienceRule` is the Deep Learning Tutorials' rule, exactly: iterations are counted from 0, the
network is validated whenever (iter + 1) % validation_frequency == 0, a new best that beats the old
one by the improvement threshold extends patience to iter * patience_increase, and training stops
as soon as patience <= iter. `EpochsWithoutImprovement` is the common "stop after n flat epochs".
Both keep the best validation error and the iteration it was reached at; the loop restores the
weights from that point and reports the test error measured there, as the tutorials report it.
"""

import math

from striate.config import StopConfig


class BestTracker:
    def __init__(self):
        self.best_error = math.inf
        self.best_loss = math.inf
        self.best_iteration = -1

    def observe(self, iteration: int, error: float, loss: float = math.inf) -> bool:
        """Record a validation result; True when it is a new best.

        New best: a strictly lower error, or the same error with a lower loss. The tie-break
        matters on small validation sets, where equal error counts are common and keeping the
        first would favour an under-trained model; it never extends patience by itself."""
        if error < self.best_error or (error == self.best_error and loss < self.best_loss):
            self.on_improvement(iteration, error)
            self.best_error, self.best_loss, self.best_iteration = error, loss, iteration
            return True
        return False

    def on_improvement(self, iteration: int, error: float) -> None:
        pass

    def validation_frequency(self, batches_per_epoch: int) -> int:
        return batches_per_epoch

    def should_stop(self, iteration: int) -> bool:
        return False

    def end_epoch(self) -> None:
        pass

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)


class PatienceRule(BestTracker):
    def __init__(self, patience: int, patience_increase: float, improvement_threshold: float):
        super().__init__()
        self.patience = patience
        self.patience_increase = patience_increase
        self.improvement_threshold = improvement_threshold

    def validation_frequency(self, batches_per_epoch: int) -> int:
        # Validate at least once per epoch, and at least twice within the initial patience.
        return max(1, min(batches_per_epoch, self.patience // 2))

    def on_improvement(self, iteration: int, error: float) -> None:
        if error < self.best_error * self.improvement_threshold:
            self.patience = max(self.patience, int(iteration * self.patience_increase))

    def should_stop(self, iteration: int) -> bool:
        return self.patience <= iteration


class EpochsWithoutImprovement(BestTracker):
    """Counts validated epochs without a new best; an epoch that did not validate (a
    --validation-frequency longer than an epoch) is no evidence either way."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.flat_epochs = 0
        self.validated_this_epoch = self.improved_this_epoch = False

    def observe(self, iteration: int, error: float, loss: float = math.inf) -> bool:
        self.validated_this_epoch = True
        return super().observe(iteration, error, loss)

    def on_improvement(self, iteration: int, error: float) -> None:
        self.improved_this_epoch = True

    def end_epoch(self) -> None:
        if self.validated_this_epoch:
            self.flat_epochs = 0 if self.improved_this_epoch else self.flat_epochs + 1
        self.validated_this_epoch = self.improved_this_epoch = False

    def should_stop(self, iteration: int) -> bool:
        return self.flat_epochs >= self.epochs


def make_stopper(config: StopConfig) -> BestTracker:
    if config.early_stopping == "patience":
        return PatienceRule(config.patience, config.patience_increase,
                            config.improvement_threshold)
    if config.early_stopping == "epochs":
        return EpochsWithoutImprovement(config.stop_epochs)
    return BestTracker()
