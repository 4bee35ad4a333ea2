"""What a study leaves on disk: study.json (read by `striate plot`), trials.csv, and the table
printed at the end. Both `striate tune` and `striate cv` write them from trial records:

    {"trial": int, "state": "COMPLETE"|"PRUNED"|"FAIL"|"RUNNING", "params": {...},
     "valid_error": float|None, "fold_valid_errors": [float, ...]|None,
     "train_error": float|None (at the best epoch; the mean over folds),
     "runs": [run directories, relative to the study directory], "duration_s": float|None}
"""

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from striate.files import atomic_write_text

STUDY_JSON, TRIALS_CSV = "study.json", "trials.csv"
TRIAL_COLUMNS = ("trial", "state", "train_error", "valid_error", "valid_error_std", "duration_s", "run")


@dataclass(frozen=True)
class Study:
    """What striate.search returns (`striate tune` prints it): every trial so far, this worker's
    and the others', and the best finished one."""
    directory: Path           # <out_dir>/tune-<study>: trials.csv, study.json, best.yaml
    trials: list[dict]        # trials.csv's rows: trial, state, errors, duration, run, params
    best: dict | None         # the best finished trial's record (trial, params, valid_error,
                              # fold_valid_errors, train_error, runs, duration_s); None if none

    @property
    def best_params(self) -> dict:
        """The best trial's values of the searched options ({} while none has finished)."""
        return dict(self.best["params"]) if self.best else {}


@dataclass(frozen=True)
class CrossValidation:
    """What striate.cross_validate returns (`striate cv` prints it)."""
    directory: Path           # <out_dir>/cv-<name>: cv.csv, study.json, fold-1 ... fold-k
    folds: list[dict]         # cv.csv's rows: fold, valid_error, valid_accuracy,
                              # train_accuracy, best_epoch, run
    valid_accuracy: float     # the mean over the folds
    valid_accuracy_std: float  # their sample standard deviation (ddof=1)


def mean_and_std(errors: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1: k folds are a sample of possible splits)."""
    std = statistics.stdev(errors) if len(errors) > 1 else 0.0
    return statistics.fmean(errors), std


def best_record(records: list[dict]) -> dict | None:
    """The finished trial with the lowest validation error (pruned and failed trials never win:
    a pruned trial's figure is from before it was stopped)."""
    complete = [r for r in records if r["state"] == "COMPLETE" and r["valid_error"] is not None]
    return min(complete, key=lambda r: (r["valid_error"], r["trial"]), default=None)


def write_study_json(directory: Path, header: dict, param_names: list[str],
                     records: list[dict]) -> None:
    """header: study, storage, strategy, folds. `best` is null until a trial completes."""
    best = best_record(records)
    study = {**header, "objective": "valid_error", "params": param_names,
             "best": best and {key: best[key] for key in ("trial", "params", "valid_error")},
             "trials": records}
    atomic_write_text(directory / STUDY_JSON, json.dumps(study, indent=2) + "\n")


def trial_rows(records: list[dict], param_names: list[str]) -> list[dict]:
    """trials.csv rows: one per trial, a column per parameter; `run` is the trial's directory."""
    rows = []
    for record in records:
        folds = record["fold_valid_errors"]
        std = mean_and_std(folds)[1] if folds else None
        run = Path(record["runs"][0]).parts[0] if record["runs"] else None
        rows.append({"trial": record["trial"], "state": record["state"],
                     "train_error": record.get("train_error"),  # older studies lack it
                     "valid_error": record["valid_error"], "valid_error_std": std,
                     "duration_s": record["duration_s"], "run": run,
                     **{name: record["params"].get(name) for name in param_names}})
    return rows


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: csv_value(row[key]) for key in columns} for row in rows)
    atomic_write_text(path, buffer.getvalue())


def csv_value(value):
    """Empty for a missing figure; lists (model_args.hidden) as JSON, as the spec wrote them."""
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def table(rows: list[dict], columns: list[str]) -> str:
    """The rows as aligned text columns: errors as percentages, seconds to 0.1."""
    cells = [columns] + [[display(column, row[column]) for column in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in cells)


def display(column: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column.startswith(("valid_error", "train_error")):
        return f"{value:.2%}"
    if column == "duration_s":
        return f"{value:.1f}"
    return brief(value)


def brief(value) -> str:
    """A parameter value as a reader wants it: 0.01178, not 0.011781448719376511."""
    return f"{value:.4g}" if isinstance(value, float) else str(csv_value(value))
