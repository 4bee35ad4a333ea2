"""Run directories: one per training run, never overwritten, readable without striate.

    runs/<name>/
      config.yaml        the resolved TrainConfig (flags and YAML merged)
      run.json           seed, command line, versions, host, start time; at the end, the
                         finish time and the seconds spent training (across resumes)
      metrics.csv        one row per epoch (rewritten atomically from the history)
      metrics.json       final figures: best validation, test at best, epochs, why it stopped;
                         no clock readings, so the same seed and config give the same file
      model.safetensors  weights at the best validation point, with the model's metadata
      last.safetensors   weights at the end of the last epoch, the same kind of file
      preprocess.safetensors
                         the preprocessing fitted on the training split, which both use
      train_state.safetensors
                         everything needed to resume: its arrays as tensors, the rest as JSON
"""

import csv
import fcntl
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

from striate.version import __version__
from striate.config import TrainConfig, config_from_yaml, to_yaml
from striate.errors import StriateError
from striate.files import atomic_write_text, make_directory

CONFIG, RUN_INFO = "config.yaml", "run.json"
METRICS_CSV, METRICS_JSON = "metrics.csv", "metrics.json"
TRAIN_STATE = "train_state.safetensors"
COUNTS = ("epoch", "iteration")   # metrics.csv's whole-number columns


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, config: TrainConfig) -> "RunDir":
        parent = Path(config.run.out_dir)
        make_directory(parent, "pass a writable --out-dir")
        # package.module:Class is named by its class: a colon has no place in a file name
        model = config.model.model.rpartition(":")[2].rpartition(".")[2]
        base = config.run.name or (f"{time.strftime('%Y%m%d-%H%M%S')}-"
                                   f"{model}-{config.data.dataset}")
        for suffix in range(1000):
            path = parent / (base if suffix == 0 else f"{base}-{suffix}")
            try:
                path.mkdir()  # exclusive: two runs can never share a directory
                return cls(path)
            except FileExistsError:
                continue
            except OSError as error:
                raise StriateError(f"cannot create {path}: {error.strerror}; "
                                   "pass a writable --out-dir") from None
        raise StriateError(f"too many runs named {base} in {parent}; pass another --name")

    @classmethod
    def open(cls, path) -> "RunDir":
        run = cls(Path(path))
        if not (run.path / CONFIG).is_file():
            raise StriateError(f"{path} is not a striate run directory (no {CONFIG}): give the "
                               "directory `striate train` printed; a run stopped before it "
                               "wrote that file has nothing to resume, so start a new run")
        return run

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def lock(self) -> None:
        """Hold the run for this process until unlock() or its exit: a second process that
        would train it too (two --resume at once) is refused, instead of both writing its
        files. An flock on the directory itself, so no lock file is left behind, and the
        kernel drops it with the process, however that ends."""
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            raise StriateError(f"{self.path} is being trained by another process; let it "
                               "finish (or stop it), then resume") from None
        self.locked = descriptor

    def unlock(self) -> None:
        descriptor = getattr(self, "locked", None)
        if descriptor is not None:
            os.close(descriptor)   # closing the descriptor releases the flock
            self.locked = None

    def write_config(self, config: TrainConfig) -> None:
        atomic_write_text(self / CONFIG, to_yaml(config))

    def write_start(self, config: TrainConfig, versions: dict, data: dict | None = None) -> None:
        """config.yaml and run.json; `data`: the splits' fingerprint (RunData.fingerprint), which
        a resume checks."""
        self.write_config(config)
        # started_unix: seconds since the epoch as training begins (data loaded, model built),
        # which a benchmark subtracts its own launch time from to get the start-up time
        info = {"seed": config.run.seed, "command": sys.argv, "started": time.strftime("%FT%T%z"),
                "started_unix": time.time(),
                "host": platform.node(), "versions": {"striate": __version__,
                                                       "python": platform.python_version(),
                                                       **versions}, "data": data}
        self.write_info(info)

    def write_finish(self, training_time_s: float) -> None:
        """The clock readings stay here, out of metrics.json, which they would make differ
        between two otherwise identical runs."""
        self.write_info({**self.info(), "finished": time.strftime("%FT%T%z"),
                         "training_time_s": round(training_time_s, 3)})

    def info(self) -> dict:
        """run.json; {} when it is missing or unreadable, since nothing depends on it."""
        try:
            return json.loads((self / RUN_INFO).read_text())
        except (OSError, ValueError):
            return {}

    def write_info(self, info: dict) -> None:
        atomic_write_text(self / RUN_INFO, json.dumps(info, indent=2) + "\n")

    def config(self) -> TrainConfig:
        return config_from_yaml(self / CONFIG)

    def write_history(self, rows: list[dict]) -> None:
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self / METRICS_CSV, buffer.getvalue())

    def history(self) -> list[dict]:
        """metrics.csv's rows, one per epoch, numbers as floats; ValueError where the file is
        missing, empty or not such a table."""
        try:
            with open(self / METRICS_CSV, newline="") as handle:
                rows = list(csv.DictReader(handle))
            return [{column: int(value) if column in COUNTS else float(value)
                     for column, value in row.items()} for row in rows]
        except (OSError, KeyError, TypeError, ValueError):
            raise ValueError(f"{self / METRICS_CSV} is not a metrics table") from None

    def metrics(self) -> dict:
        """metrics.json: the run's results; {} before the run has finished."""
        try:
            return json.loads((self / METRICS_JSON).read_text())
        except (OSError, ValueError):
            return {}

    def write_metrics(self, metrics: dict) -> None:
        atomic_write_text(self / METRICS_JSON, json.dumps(metrics, indent=2) + "\n")
