"""Plots of a hyperparameter study (its study.json): cs231n's cross-validation scatter, and the
validation accuracy over two parameters (learning rate x regularization) as a colour map."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from striate.errors import StriateError
from striate.viz.figures import looks_log_spaced, new_figure

STUDY_FILE = "study.json"


def read_study(directory: Path) -> dict:
    path = Path(directory) / STUDY_FILE
    try:
        study = json.loads(path.read_text())
        # `striate cv` writes a study of one configuration: no parameters, k folds
        varied = study["params"] or study.get("strategy") == "cv"
        valid = isinstance(study["params"], list) and varied and \
            isinstance(study["trials"], list) and \
            all(isinstance(trial["params"], dict) for trial in study["trials"])
    except (OSError, ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise StriateError(f"{path} is missing or not a study file (params and trials); give "
                           "the directory `striate tune` or `striate cv` wrote")
    return study


def completed(study: dict) -> list[dict]:
    """The trials that finished with a validation error; pruned, failed and running ones have
    none to plot."""
    trials = [trial for trial in study["trials"]
              if trial.get("state") == "COMPLETE" and trial.get("valid_error") is not None]
    if not trials:
        raise StriateError(f"study {study.get('study', '')!r} has no completed trial yet; plot "
                           "it once a trial has finished")
    return trials


def check_param(study: dict, name: str, flag: str) -> None:
    if name not in study["params"]:
        raise StriateError(f"{flag} {name}: the study varied {', '.join(study['params'])}; "
                           f"choose {flag} among those")


@dataclass(frozen=True)
class Axis:
    """Where parameter values go on an axis: numbers as they are (on a log scale when they span
    a decade or more), anything else (an optimizer's name) as evenly spaced categories."""
    name: str
    positions: np.ndarray       # (trials,)
    categories: list[str]       # tick labels of a categorical axis; empty for numbers

    @classmethod
    def of(cls, name: str, values: list) -> "Axis":
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return cls(name, np.asarray(values, dtype=np.float64), [])
        categories = sorted({str(v) for v in values})
        return cls(name, np.array([categories.index(str(v)) for v in values], dtype=np.float64),
                   categories)

    def label(self, axes, which: str) -> None:
        """Scale, ticks and label of axes' `which` ("x" or "y") axis; after plotting, since a
        log scale on an empty axis makes matplotlib warn."""
        set_scale, set_ticks, set_label = (
            (axes.set_xscale, axes.set_xticks, axes.set_xlabel) if which == "x" else
            (axes.set_yscale, axes.set_yticks, axes.set_ylabel))
        if self.categories:
            set_ticks(range(len(self.categories)), self.categories)
        elif looks_log_spaced(self.positions):
            set_scale("log")
        set_label(self.name)


def cross_validation_figure(study: dict, x: str | None):
    """Each fold's validation accuracy against parameter `x`, and each trial's mean +- std over
    its folds as an error bar (a study without folds has one point per trial; a `striate cv`
    study, x None, is one column of folds)."""
    if x is not None:
        check_param(study, x, "--x")
    trials = [trial for trial in completed(study) if x is None or x in trial["params"]]
    figure = new_figure()
    axes = figure.add_subplot()
    x_axis = Axis.of(x or "configuration", [trial["params"][x] if x else study.get("study", "")
                                            for trial in trials])
    for position, trial in zip(x_axis.positions, trials):
        accuracies = 1 - np.asarray(trial.get("fold_valid_errors") or [trial["valid_error"]])
        # ddof=1, as `striate cv` and `tune` print it: k folds are a sample of the splits
        spread = accuracies.std(ddof=1) if len(accuracies) > 1 else 0.0
        axes.scatter(np.full(len(accuracies), position), accuracies, s=12, color="tab:blue")
        axes.errorbar(position, accuracies.mean(), yerr=spread, color="tab:orange",
                      marker="_", markersize=12, capsize=4)
    x_axis.label(axes, "x")
    folds = study.get("folds")
    axes.set_title(f"{folds}-fold cross-validation" if folds else "validation accuracy per trial")
    axes.set_ylabel("validation accuracy")
    axes.grid(alpha=0.3)
    return figure


def heatmap_figure(study: dict, x: str, y: str):
    """Validation accuracy of every trial as a coloured square at (x, y): cs231n's plot, which
    reads the same for a grid and for random search."""
    check_param(study, x, "--x")
    check_param(study, y, "--y")
    if x == y:
        raise StriateError(f"--x and --y are both {x}; choose two different parameters")
    trials = [trial for trial in completed(study) if x in trial["params"] and
              y in trial["params"]]
    figure = new_figure(6.5, 5)
    axes = figure.add_subplot()
    x_axis = Axis.of(x, [trial["params"][x] for trial in trials])
    y_axis = Axis.of(y, [trial["params"][y] for trial in trials])
    xs, ys = x_axis.positions, y_axis.positions
    accuracy = [1 - trial["valid_error"] for trial in trials]
    shown = axes.scatter(xs, ys, c=accuracy, s=200, marker="s", cmap="viridis")
    figure.colorbar(shown, ax=axes, label="validation accuracy")
    best = int(np.argmax(accuracy))
    axes.scatter(xs[best], ys[best], s=500, facecolors="none", edgecolors="red")
    x_axis.label(axes, "x")
    y_axis.label(axes, "y")
    axes.set_title(f"{study.get('study', 'study')}: validation accuracy "
                   f"(best {accuracy[best]:.2%}, circled)")
    return figure


def fold_curves_figure(directory: Path, study: dict):
    """A `striate cv` study's folds, epoch by epoch: validation accuracy solid, training
    accuracy dashed in the same colour, so each fold's overfitting gap shows."""
    from matplotlib.ticker import MaxNLocator

    from striate.viz.curves import read_history

    figure = new_figure()
    axes = figure.add_subplot()
    for index, run in enumerate(study["trials"][0]["runs"]):
        history = read_history(Path(directory) / run)
        colour = f"C{index}"
        axes.plot(history["epoch"], [1 - e for e in history["valid_error"]], color=colour,
                  label=f"{run} validation")
        axes.plot(history["epoch"], [1 - e for e in history["train_error"]], color=colour,
                  linestyle="--", label=f"{run} training")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("accuracy")
    axes.set_title(f"{study.get('study', '')}: each fold's curves")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure
