"""Learning-rate schedules, as functions of training progress measured in epochs.

`progress` is fractional (epoch + batch / batches_per_epoch): cosine and warm-up move every
iteration, while the cs231n-style schedules (exponential, step, inverse-time) change once per
epoch, as the tutorials apply them.
"""

import math

from striate.config import ScheduleConfig


class Schedule:
    def __init__(self, config: ScheduleConfig, eta0: float, epochs: int, batches_per_epoch: int):
        self.config = config
        self.eta0 = eta0
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.plateau_scale = 1.0  # the plateau rule's running product of --plateau-factor
        self.flat_epochs = 0      # validated epochs since the last new best

    def lr(self, progress: float) -> float:
        c = self.config
        epoch = math.floor(progress)
        if c.schedule == "constant":
            rate = self.eta0
        elif c.schedule == "inverse-time":
            rate = self.eta0 / (1 + c.inverse_time_decay * epoch)
        elif c.schedule == "exponential":
            rate = self.eta0 * c.lr_decay ** epoch
        elif c.schedule == "step":
            rate = self.eta0 * c.lr_decay ** (epoch // c.step_epochs)
        elif c.schedule == "plateau":
            rate = self.eta0 * self.plateau_scale
        else:  # cosine, annealed to zero at the last epoch
            rate = self.eta0 * 0.5 * (1 + math.cos(math.pi * min(progress / self.epochs, 1.0)))
        if c.warmup_epochs:  # linear from one step's worth, so the first step is not wasted
            steps = c.warmup_epochs * self.batches_per_epoch
            rate *= min(1.0, (progress * self.batches_per_epoch + 1) / steps)
        return rate

    def end_epoch(self, improved: bool) -> bool:
        """Tell the schedule whether validation improved this (validated) epoch; True means
        "stop training": the plateau rule has cut the rate below --min-lr-ratio."""
        if self.config.schedule != "plateau":
            return False
        self.flat_epochs = 0 if improved else self.flat_epochs + 1
        if self.flat_epochs < self.config.plateau_epochs:
            return False
        self.plateau_scale *= self.config.plateau_factor
        self.flat_epochs = 0  # the lowered rate gets its own n epochs to find a new best
        return self.plateau_scale < self.config.min_lr_ratio

    def state_dict(self) -> dict:
        return {"plateau_scale": self.plateau_scale, "flat_epochs": self.flat_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.plateau_scale = float(state["plateau_scale"])
        # a run saved before --plateau-epochs existed cut the rate after every flat epoch
        self.flat_epochs = int(state.get("flat_epochs", 0))
