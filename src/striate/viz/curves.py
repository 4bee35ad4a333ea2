"""Training curves from a run's metrics.csv: loss, error and accuracy, learning rate per epoch."""

from pathlib import Path

from matplotlib.ticker import MaxNLocator

from striate.errors import StriateError
from striate.runs import METRICS_CSV, RunDir
from striate.viz.figures import looks_log_spaced, new_figure


def read_history(run_path: Path) -> dict[str, list[float]]:
    """metrics.csv as {column: values per epoch}; an epoch that never validated reads nan."""
    try:
        rows = RunDir(run_path).history()
        return {column: [row[column] for row in rows] for column in rows[0]}
    except (IndexError, ValueError):
        raise StriateError(f"{Path(run_path) / METRICS_CSV} is missing, empty or not a metrics "
                           "table; plot a run that has finished at least one epoch") from None


def loss_figure(history: dict[str, list[float]]):
    """Train and validation loss per epoch: the gap between them is the overfitting."""
    return curves_figure(history, ("train_loss", "valid_loss"), "cross-entropy loss")


def error_figure(history: dict[str, list[float]]):
    """Train and validation error (and validation accuracy on a second axis) per epoch."""
    figure = curves_figure(history, ("train_error", "valid_error", "best_valid_error"), "error")
    axes = figure.axes[0]
    accuracy = axes.secondary_yaxis("right", functions=(lambda e: 1 - e, lambda a: 1 - a))
    accuracy.set_ylabel("accuracy")
    return figure


def lr_figure(history: dict[str, list[float]]):
    """The learning rate at the end of each epoch (log scale when it decays by 10x or more)."""
    figure = curves_figure(history, ("lr",), "learning rate")
    if looks_log_spaced(history["lr"]):
        figure.axes[0].set_yscale("log")
    return figure


def curves_figure(history: dict[str, list[float]], columns, ylabel: str):
    figure = new_figure()
    axes = figure.add_subplot()
    for column in columns:
        axes.plot(history["epoch"], history[column], marker="o", markersize=3,
                  linestyle="--" if column.startswith("best") else "-",
                  label=column.replace("_", " "))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    if len(columns) > 1:
        axes.legend()
    return figure
