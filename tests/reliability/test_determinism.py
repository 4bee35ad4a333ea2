"""Determinism on the CPU: the same seed and config give the same files, on either engine."""

import json

import numpy as np
import pytest

from striate.checkpoint import load_weights

ENGINE_ARGS = {
    "torch": ("--engine", "torch", "--model", "lenet", "--model-arg", "filter_size=3",
              "--model-arg", "nkerns=4,8", "--model-arg", "hidden=16", "--model-arg", "pool=1"),
    "numpy": ("--engine", "numpy", "--model", "fcnet", "--model-arg", "hidden_dims=32,32",
              "--model-arg", "dropout=0.2"),
}


def train(cli, out_dir, *args):
    result = cli("train", "--dataset", "digits", "--epochs", "2", "--batch-size", "64",
                 "--progress", "off", "--out-dir", out_dir, "--name", "run", *args)
    assert result.code == 0, result.err
    return out_dir / "run"


def files_without_clock(run) -> dict:
    """metrics.json as bytes, metrics.csv without its time_s column, and the weights."""
    rows = [line.rsplit(",", 1)[0] for line in (run / "metrics.csv").read_text().splitlines()]
    return {"metrics.json": (run / "metrics.json").read_bytes(), "metrics.csv": rows,
            "weights": load_weights(run)[0]}


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_the_same_seed_gives_identical_files_and_another_seed_does_not(cli, tmp_path, engine):
    first = files_without_clock(train(cli, tmp_path / "first", *ENGINE_ARGS[engine]))
    second = files_without_clock(train(cli, tmp_path / "second", *ENGINE_ARGS[engine]))
    other = files_without_clock(train(cli, tmp_path / "other", *ENGINE_ARGS[engine],
                                      "--seed", "1"))
    assert first["metrics.json"] == second["metrics.json"]
    assert first["metrics.csv"] == second["metrics.csv"]
    for name, array in first["weights"].items():
        np.testing.assert_array_equal(second["weights"][name], array)
    assert first["metrics.csv"] != other["metrics.csv"]


def test_the_clock_is_in_run_json_not_in_metrics_json(cli, tmp_path):
    run = train(cli, tmp_path, *ENGINE_ARGS["numpy"])
    metrics, info = (json.loads((run / name).read_text()) for name in ("metrics.json",
                                                                       "run.json"))
    assert not any("time" in key for key in metrics)
    assert info["training_time_s"] >= 0 and info["finished"] >= info["started"]
