"""`striate lr-find`: the learning-rate range test (Smith 2015, "Cyclical Learning Rates for
Training Neural Networks"; fastai's lr_find).

A fresh model trains one minibatch per step while the learning rate grows exponentially from
--start-lr to --end-lr. The loss barely moves while the rate is too small, falls while it is
useful and shoots up once it is too large; the sweep stops there. Suggested rate: the one at
the minimum of the smoothed loss, divided by 10. At the minimum the loss has just stopped
falling, so that rate is already at the edge of divergence; a tenth of it still learns fast
(fastai's `lr_min` rule).
"""

import json
import math
import time
from dataclasses import dataclass, replace

from striate.config import TrainConfig
from striate.errors import StriateError

# Each step's loss is one minibatch's, so the curve is smoothed by an exponential moving average
# (with Adam's bias correction, else it starts near 0). It lags by about beta / (1 - beta) = 9
# steps, under a decade of the default sweep (100 steps over 8 decades); fastai's 0.98 would
# lag by 49 steps, half the sweep.
SMOOTHING = 0.9
DIVERGENCE = 4.0      # stop once the smoothed loss exceeds this many times its minimum
SUGGESTION_FACTOR = 10.0


@dataclass
class Sweep:
    lrs: list[float]        # one per completed step
    losses: list[float]     # the step's minibatch loss (NLL)
    smoothed: list[float]
    stopped_by: str         # "divergence", "non-finite loss" or "end of sweep"

    def suggestion(self) -> float:
        return self.lrs[self.minimum()] / SUGGESTION_FACTOR

    def minimum(self) -> int:
        return min(range(len(self.smoothed)), key=self.smoothed.__getitem__)


def learning_rates(start: float, end: float, steps: int) -> list[float]:
    """start * (end / start) ** (i / (steps - 1)) for i in 0..steps-1."""
    ratio = end / start
    return [start * ratio ** (step / (steps - 1)) for step in range(steps)]


def check_sweep(start: float, end: float, steps: int) -> None:
    for flag, value, usual in (("--start-lr", start, "1e-7"), ("--end-lr", end, "10")):
        if not (value > 0 and math.isfinite(value)):
            raise StriateError(f"{flag} must be a positive learning rate, got {value:g}; "
                               f"{usual} is usual")
    if start >= end:
        raise StriateError(f"--start-lr {start:g} must be below --end-lr {end:g}; the sweep "
                           "raises the rate, e.g. --start-lr 1e-7 --end-lr 10")
    if steps < 2:
        raise StriateError(f"--steps must be at least 2 to sweep a range, got {steps}; "
                           "100 is usual")


def sweep(config: TrainConfig, lrs: list[float], show_progress: bool,
          dataset=None) -> tuple[Sweep, str]:
    """Train a fresh model through `lrs`, on either engine; (the sweep, a one-line description
    of the data). config: resolved; dataset: in memory, in place of the one config names."""
    from tqdm.auto import tqdm

    from striate.data.pipeline import prepare
    from striate.engines import build_learner, get_engine
    from striate.threads import use_threads
    from striate.training.learner import train_minibatches

    engine = get_engine(config.run.engine)
    engine.check_model_options(config.model.model, config.model.model_args)
    use_threads(config.run.threads)
    data = prepare(config.data, config.run.seed, dataset)
    learner = build_learner(config, data.inputs(("train",)), data.dataset.num_classes,
                                   data.preprocess)
    result = Sweep([], [], [], "end of sweep")
    average = 0.0
    steps = tqdm(zip(lrs, train_minibatches(learner, lrs)), total=len(lrs), unit="step",
                 disable=not show_progress, dynamic_ncols=True)
    for step, (lr, loss) in enumerate(steps, start=1):
        if not math.isfinite(loss):
            result.stopped_by = "non-finite loss"
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        result.lrs.append(lr)
        result.losses.append(loss)
        result.smoothed.append(average / (1 - SMOOTHING ** step))
        if result.smoothed[-1] > DIVERGENCE * min(result.smoothed):
            result.stopped_by = "divergence"
            break
    steps.close()
    train = data.splits["train"]
    return result, (f"{config.model.model} on {data.dataset.name} ({len(train)} training "
                    "examples)")


def write_results(config: TrainConfig, result: Sweep, settings: dict, command: str):
    """<out-dir>/lr-find-<time>/ with lr_find.csv, lr_find.json and lr_find.png."""
    from striate.files import atomic_write_bytes, atomic_write_text
    from striate.runs import RunDir
    from striate.viz.lr_find import plot_lr_find

    rows = [f"{lr!r},{loss!r},{smoothed!r}"
            for lr, loss, smoothed in zip(result.lrs, result.losses, result.smoothed)]
    minimum = result.minimum()
    summary = {"suggested_lr": result.suggestion(),
               "rule": f"lr at the smoothed loss's minimum / {SUGGESTION_FACTOR:g}",
               "minimum": {"lr": result.lrs[minimum], "smoothed_loss": result.smoothed[minimum]},
               "stopped_by": result.stopped_by, "last_lr": result.lrs[-1],
               "steps_done": len(result.lrs), "train_command": command,
               "settings": settings, "config": config.to_dict()}
    png = plot_lr_find(result.lrs, result.losses, result.smoothed, result.suggestion(),
                       title=f"lr-find: {config.model.model} on {config.data.dataset}")
    name = config.run.name or f"lr-find-{time.strftime('%Y%m%d-%H%M%S')}"
    folder = RunDir.create(replace(config, run=replace(config.run, name=name))).path
    atomic_write_text(folder / "lr_find.csv", "\n".join(["lr,loss,smoothed", *rows]) + "\n")
    atomic_write_text(folder / "lr_find.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_bytes(folder / "lr_find.png", png)
    return folder


def summary(result: Sweep) -> str:
    """Where the smoothed loss bottomed out, the suggestion, and a warning when the minimum
    sits at an end of the sweep (the range missed the useful rates)."""
    minimum = result.minimum()
    lines = [f"smoothed loss {result.smoothed[0]:.4f} at the start, minimum "
             f"{result.smoothed[minimum]:.4f} at lr {result.lrs[minimum]:.1e}",
             f"suggested lr {result.suggestion():.2g} (the minimum's lr / "
             f"{SUGGESTION_FACTOR:g})"]
    if minimum == 0:
        lines.append("note: the loss never fell below its start; sweep again with a lower "
                     "--start-lr")
    elif minimum == len(result.lrs) - 1:
        lines.append("note: the loss was still falling at the last step; sweep again with a "
                     "higher --end-lr")
    return "\n".join(lines)
