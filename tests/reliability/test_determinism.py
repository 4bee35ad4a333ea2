"""Determinism on the CPU: the same seed and config give the same files, on either engine."""

import json
from datetime import datetime

import numpy as np
import pytest

from helpers import csv_column, train_run
from striate.checkpoint import load_weights

ENGINE_ARGS = {
    "torch": ("--engine", "torch", "--model", "lenet", "--model-arg", "filter_size=3",
              "--model-arg", "nkerns=4,8", "--model-arg", "hidden=16", "--model-arg", "pool=1"),
    "numpy": ("--engine", "numpy", "--model", "fcnet", "--model-arg", "hidden_dims=32,32",
              "--model-arg", "dropout=0.2"),
}

BASE = ("--dataset", "digits", "--epochs", "2", "--batch-size", "64", "--progress", "off",
        "--name", "run")


def files_without_clock(run) -> dict:
    """metrics.json as bytes, metrics.csv without its time_s column, and the weights."""
    rows = [line.rsplit(",", 1)[0] for line in (run / "metrics.csv").read_text().splitlines()]
    return {"metrics.json": (run / "metrics.json").read_bytes(), "metrics.csv": rows,
            "weights": load_weights(run)[0]}


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_the_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path, engine):
    args = (*BASE, *ENGINE_ARGS[engine])
    first = files_without_clock(train_run(*args, "--out-dir", tmp_path / "first"))
    second = files_without_clock(train_run(*args, "--out-dir", tmp_path / "second"))
    other = files_without_clock(train_run(*args, "--seed", "1", "--out-dir", tmp_path / "other"))
    assert first["metrics.json"] == second["metrics.json"]
    assert first["metrics.csv"] == second["metrics.csv"]
    for name, array in first["weights"].items():
        np.testing.assert_array_equal(second["weights"][name], array)
    assert first["metrics.csv"] != other["metrics.csv"]


def test_the_clock_is_in_run_json_not_in_metrics_json(tmp_path):
    run = train_run(*BASE, "--out-dir", tmp_path, *ENGINE_ARGS["numpy"])
    metrics, info = (json.loads((run / name).read_text()) for name in ("metrics.json",
                                                                       "run.json"))
    assert not any("time" in key for key in metrics)
    # run.json's training time is the loop's own clock: the last epoch's time_s in metrics.csv
    assert info["training_time_s"] == csv_column(run, "time_s")[-1] > 0
    # and it fits between the wall-clock readings around training, which are whole seconds
    started, finished = (datetime.strptime(info[key], "%Y-%m-%dT%H:%M:%S%z")
                         for key in ("started", "finished"))
    assert (finished - started).total_seconds() > info["training_time_s"] - 1
