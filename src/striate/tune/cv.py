"""k-fold cross-validation: one config trained k times, each fold held out once for validation.

The folds are config (`--folds k --fold i`, dealt by `data.splits.stratified_fold`), so a fold
is an ordinary run directory; this module trains all k and summarises them as mean ± std.

    runs/cv-<name>/
      fold-1/ ... fold-k/   the fold runs
      cv.csv                one row per fold: validation error and accuracy, best epoch, run
      study.json            the same file a `striate tune` study writes, with one trial
"""

import copy
import time
from pathlib import Path

from striate.config import TrainConfig
from striate.errors import StriateError
from striate.runs import RunDir
from striate.tune.results import CrossValidation, mean_and_std, write_csv, write_study_json

CV_CSV = "cv.csv"
CV_COLUMNS = ["fold", "valid_error", "valid_accuracy", "train_accuracy", "best_epoch", "run"]


def new_directory(config: TrainConfig, parent: Path | str, name: str) -> Path:
    """parent/name (or name-1, name-2...), created exclusively the way run directories are, so
    two processes never share one."""
    holder = copy.deepcopy(config)
    holder.run.out_dir, holder.run.name = str(parent), name
    return RunDir.create(holder).path


def train_folds(config: TrainConfig, directory: Path, progress: bool = False,
                on_epoch=lambda fold, row: None, echo=print):
    """Train fold 1..k of `config` into directory/fold-i; yields (fold, run, metrics) as each
    finishes. on_epoch(fold, row) sees every epoch's metrics row (and may stop by raising)."""
    from striate.training.session import train

    for fold in range(1, config.data.folds + 1):
        fold_config = copy.deepcopy(config)
        fold_config.data.fold = fold
        fold_config.run.out_dir, fold_config.run.name = str(directory), f"fold-{fold}"
        outcome = train(fold_config, show_progress=progress, echo=echo,
                        on_epoch=lambda row, fold=fold: on_epoch(fold, row))
        yield fold, outcome.run, outcome.metrics


def cross_validate(config: TrainConfig, progress: bool = False,
                   echo=print) -> CrossValidation:
    """`striate cv` and striate.cross_validate: train every fold into <out-dir>/cv-<name>/,
    writing cv.csv and study.json after each fold, and echo each fold's and the mean ± std
    validation accuracy. config: resolved."""
    if not config.data.folds:
        raise StriateError("striate cv needs --folds K (2 or more): the number of folds")
    if config.data.fold != 1:
        raise StriateError("striate cv trains every fold; drop --fold")
    name = config.run.name or (f"{time.strftime('%Y%m%d-%H%M%S')}-{config.model.model}-"
                               f"{config.data.dataset}")
    directory = new_directory(config, config.run.out_dir, f"cv-{name}")
    started, rows = time.perf_counter(), []
    try:
        for fold, run, metrics in train_folds(config, directory, progress,
                                              echo=lambda text: None):
            error = metrics["best_valid_error"]
            train_accuracy = 1 - metrics["best_train_error"]
            rows.append({"fold": fold, "valid_error": error, "valid_accuracy": 1 - error,
                         "train_accuracy": train_accuracy, "best_epoch": metrics["best_epoch"],
                         "run": run.path.name})
            echo(f"fold {fold}/{config.data.folds}: validation accuracy {1 - error:.2%} "
                 f"(error {error:.2%}, best epoch {metrics['best_epoch']}, training accuracy "
                 f"{train_accuracy:.2%}) in {run.path}")
            write_cv_results(directory, config, rows, time.perf_counter() - started)
    except StriateError:
        if not any(directory.iterdir()):  # a data mistake (--folds too many) stopped fold 1
            directory.rmdir()             # before it wrote anything: leave no empty directory
        raise
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted; the {len(rows)} finished folds of "
                                f"{config.data.folds} are in {directory} ({CV_CSV}); run the "
                                "command again to cross-validate from the start") from None
    mean, std = mean_and_std([row["valid_error"] for row in rows])
    echo(f"validation accuracy {1 - mean:.2%} ± {std:.2%} (mean ± std over "
         f"{config.data.folds} folds; error {mean:.2%})")
    echo(f"results in {directory}: {CV_CSV}, study.json, fold-1 ... fold-{config.data.folds}")
    return CrossValidation(directory, rows, 1 - mean, std)


def write_cv_results(directory: Path, config: TrainConfig, rows: list[dict],
                     duration_s: float) -> None:
    errors = [row["valid_error"] for row in rows]
    done = len(rows) == config.data.folds
    record = {"trial": 0, "state": "COMPLETE" if done else "RUNNING", "params": {},
              "valid_error": mean_and_std(errors)[0] if done else None,
              "fold_valid_errors": errors, "runs": [row["run"] for row in rows],
              "train_error": 1 - mean_and_std([row["train_accuracy"] for row in rows])[0]
              if done else None,
              "duration_s": round(duration_s, 3) if done else None}
    write_csv(directory / CV_CSV, rows, CV_COLUMNS)
    header = {"study": directory.name, "storage": None, "strategy": "cv",
              "folds": config.data.folds}
    write_study_json(directory, header, [], [record])
