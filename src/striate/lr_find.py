"""`striate lr-find`: the learning-rate range test (Smith 2015, "Cyclical Learning Rates for
Training Neural Networks"; fastai's lr_find).

A fresh model trains one minibatch per step while the learning rate grows exponentially from
--start-lr to --end-lr. The loss barely moves while the rate is too small, falls while it is
useful and shoots up once it is too large; the sweep stops there. Suggested rate: the one at
the minimum of the smoothed loss, divided by 10. At the minimum the loss has just stopped
falling, so that rate is already at the edge of divergence; a tenth of it still learns fast
(fastai's `lr_min` rule).
"""

import argparse
import json
import math
import shlex
import time
from dataclasses import dataclass, replace

from striate.config import TrainConfig, flag_name
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


def sweep(config: TrainConfig, lrs: list[float], show_progress: bool) -> tuple[Sweep, str]:
    """Train a fresh model through `lrs`; (the sweep, a one-line description of the data)."""
    from tqdm import tqdm

    from striate.torch.learner import train_minibatches
    from striate.torch.engine import build_learner
    from striate.training.session import preprocessed, training_data

    dataset, splits, preprocess = training_data(config)
    train = splits["train"]
    learner = build_learner(config, dataset,
                            preprocessed({"train": train}, preprocess, dataset.pixel_max),
                            preprocess)
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
    return result, f"{config.model.model} on {dataset.name} ({len(train)} training examples)"


def train_command(args: argparse.Namespace, given: dict, lr: float) -> str:
    """`striate train` with the same settings as this lr-find, at the learning rate `lr`."""
    words = ["striate", "train"]
    for flag in ("recipe", "config"):
        if getattr(args, flag):
            words += [f"--{flag}", getattr(args, flag)]
    for name, value in given.items():
        if name == "lr":
            continue
        if isinstance(value, bool):
            words.append(flag_name(name) if value else f"--no-{flag_name(name)[2:]}")
        elif isinstance(value, dict):
            for key, option in value.items():
                text = option if isinstance(option, str) else json.dumps(option)
                words += ["--model-arg", f"{key}={text}"]
        else:
            words += [flag_name(name), str(value)]
    return shlex.join([*words, "--lr", f"{lr:.2g}"])


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


def cmd_lr_find(args: argparse.Namespace) -> None:
    from striate.cli import config_from_args, show_progress, stop_on_sigterm

    check_sweep(args.start_lr, args.end_lr, args.steps)
    config, given = config_from_args(args)
    config.validate()
    if config.run.engine != "torch":
        raise StriateError(f"lr-find runs on the torch engine only; drop --engine "
                           f"{config.run.engine}")
    stop_on_sigterm()
    lrs = learning_rates(args.start_lr, args.end_lr, args.steps)
    result, described = sweep(config, lrs, show_progress(config.run.progress))
    if len(result.lrs) < 2:
        raise StriateError(f"the loss was not finite from the first steps (lr "
                           f"{args.start_lr:g}); lower --start-lr")
    command = train_command(args, given, result.suggestion())
    settings = {"start_lr": args.start_lr, "end_lr": args.end_lr, "steps": args.steps,
                "smoothing": SMOOTHING, "divergence": DIVERGENCE}
    folder = write_results(config, result, settings, command)
    print(f"lr-find {described}: {len(result.lrs)} of {args.steps} steps, lr "
          f"{result.lrs[0]:.1e} to {result.lrs[-1]:.1e}, stopped by {result.stopped_by}")
    print(summary(result))
    print(f"train with: {command}")
    print(f"files in {folder}: lr_find.csv, lr_find.json, lr_find.png")


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


def add_commands(commands) -> None:
    """Add this module's subcommands to the `striate` parser's subparsers."""
    from striate.cli import add_config_flags, add_settings_sources

    parser = commands.add_parser(
        "lr-find", help="learning-rate range test: the loss as the rate grows, and a "
        "suggested --lr", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train a fresh model one minibatch per step while the learning rate grows "
        "from --start-lr to --end-lr; stop once the smoothed loss passes 4x its minimum. The "
        "training flags choose the model, data and update rule; the sweep sets the rate, so "
        "--lr and the schedule flags do not apply.")
    add_settings_sources(parser)
    sweep_flags = parser.add_argument_group("sweep options")
    sweep_flags.add_argument("--start-lr", type=float, default=1e-7,
                             help="learning rate of the first step")
    sweep_flags.add_argument("--end-lr", type=float, default=10.0,
                             help="learning rate of the last step")
    sweep_flags.add_argument("--steps", type=int, default=100,
                             help="minibatch steps; the rate grows by the same factor each step")
    add_config_flags(parser)
    parser.set_defaults(handler=cmd_lr_find)
