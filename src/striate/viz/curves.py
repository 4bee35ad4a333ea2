"""Training curves of one run or several overlaid: loss and error per epoch from metrics.csv, and
the learning rate at every step, recomputed from config.yaml as the loop computed it."""

import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from striate.config import TrainConfig
from striate.errors import StriateError
from striate.runs import METRICS_CSV, RunDir
from striate.training.schedules import Schedule
from striate.viz.figures import new_figure

# train solid, validation dashed, the best so far dotted: overlaid runs differ by colour
LINE_STYLES = {"train": "-", "valid": "--", "best": ":"}


@dataclass(frozen=True)
class Curves:
    """What a run's curves are drawn from. lr_steps: (epochs done after each step, its learning
    rate), or None where config.yaml does not give back the rates metrics.csv recorded."""
    name: str
    history: dict[str, list[float]]
    lr_steps: tuple[list[float], list[float]] | None


def read_curves(run_path: Path, name: str | None = None) -> Curves:
    """A run directory's curves, named `name` in titles and legends (default: its folder's)."""
    history = read_history(run_path)
    return Curves(name or Path(run_path).name, history,
                  lr_per_step(RunDir(run_path).config(), history))


def read_history(run_path: Path) -> dict[str, list[float]]:
    """metrics.csv as {column: values per epoch}; an epoch that never validated reads nan."""
    try:
        rows = RunDir(run_path).history()
        return {column: [row[column] for row in rows] for column in rows[0]}
    except (IndexError, ValueError):
        raise StriateError(f"{Path(run_path) / METRICS_CSV} is missing, empty or not a metrics "
                           "table; plot a run that has finished at least one epoch") from None


def lr_per_step(config: TrainConfig, history: dict) -> tuple[list[float], list[float]] | None:
    """Every step's rate, Schedule.lr(epoch + batch / batches_per_epoch) as the loop asks it. The
    rate is a function of the config and the step, except the plateau rule's scale, which
    follows validation: it is read back from each epoch's recorded lr (its last step's rate).
    None when the recorded rates disagree: a run resumed with another --epochs (which reshapes
    a cosine), or stopped inside its only epoch (which hides the epoch's length)."""
    batches = history["iteration"][0]  # steps after epoch 1: every epoch but the last is whole
    schedule = Schedule(config.schedule, config.optim.lr, config.stop.epochs, batches)
    done, rates = [], []
    for epoch, steps_done, recorded in zip(history["epoch"], history["iteration"], history["lr"]):
        steps = steps_done - (epoch - 1) * batches    # fewer than `batches` in a stopped epoch
        progress = [epoch - 1 + batch / batches for batch in range(steps)]
        if config.schedule.schedule == "plateau":
            schedule.plateau_scale = 1.0
            schedule.plateau_scale = recorded / schedule.lr(progress[-1])
        epoch_rates = [schedule.lr(point) for point in progress]
        if not math.isclose(epoch_rates[-1], recorded, rel_tol=1e-9):
            return None
        done += [point + 1 / batches for point in progress]
        rates += epoch_rates
    return done, rates


def loss_figure(runs: list[Curves]):
    """Train and validation loss per epoch: the gap between them is the overfitting."""
    return curves_figure(runs, ("train_loss", "valid_loss"), "cross-entropy loss")


def error_figure(runs: list[Curves]):
    """Train and validation error (and validation accuracy on a second axis) per epoch."""
    figure = curves_figure(runs, ("train_error", "valid_error", "best_valid_error"), "error")
    accuracy = figure.axes[0].secondary_yaxis("right", functions=(lambda e: 1 - e,
                                                                  lambda a: 1 - a))
    accuracy.set_ylabel("accuracy")
    return figure


def lr_figure(runs: list[Curves]):
    """The rate of every step, and dots at the rate metrics.csv recorded at each epoch's end.
    A linear axis: a log one bends a cosine into an exponential-looking curve and stretches
    its last, smallest rates over half the height; the step sizes are what the optimizer saw."""
    figure, axes = curves_axes(runs, "learning rate")
    several = len(runs) > 1
    for index, run in enumerate(runs):
        colour = f"C{index}"
        if run.lr_steps:
            axes.plot(*run.lr_steps, color=colour, label=legend(run, "per step", several))
        axes.plot(run.history["epoch"], run.history["lr"], "o", markersize=3, color=colour,
                  label=legend(run, "at epoch end (metrics.csv)", several))
    axes.set_ylim(bottom=0)
    axes.legend()
    return figure


def curves_figure(runs: list[Curves], columns, ylabel: str):
    figure, axes = curves_axes(runs, ylabel)
    several = len(runs) > 1
    for index, run in enumerate(runs):
        for column in columns:
            axes.plot(run.history["epoch"], run.history[column], marker="o", markersize=3,
                      color=f"C{index}" if several else None,
                      linestyle=LINE_STYLES[column.split("_")[0]],
                      label=legend(run, column.replace("_", " "), several))
    axes.legend()
    return figure


def curves_axes(runs: list[Curves], ylabel: str):
    """A figure titled with the runs' names, epochs along x."""
    figure = new_figure()
    axes = figure.add_subplot()
    axes.set_title(" vs ".join(run.name for run in runs))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    return figure, axes


def legend(run: Curves, line: str, several: bool) -> str:
    return f"{run.name}: {line}" if several else line
