"""TensorBoardLog: metrics.csv rows, steps, settings and pictures in, the same numbers out of
TensorBoard's own event reader."""

import io
import json
import math
import sys

import numpy as np
import pytest

from helpers import csv_column, train_run
from striate.errors import StriateError
from striate.training.tensorboard import CELL, TAGS, TensorBoardLog, summary_writer_class

ROWS = [{"epoch": 1, "iteration": 10, "lr": 0.1, "train_loss": 1.5, "train_error": 0.5,
         "valid_loss": 1.25, "valid_error": 0.4, "valid_accuracy": 0.6,
         "best_valid_error": 0.4, "time_s": 2.0},
        # as csv.DictReader gives a row back: strings
        {"epoch": "2", "iteration": "20", "lr": "0.05", "train_loss": "0.75",
         "train_error": "0.25", "valid_loss": "nan", "valid_error": "0.3",
         "valid_accuracy": "0.7", "best_valid_error": "0.3", "time_s": "4.0"}]


def test_rows_become_scalars_per_epoch(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with TensorBoardLog(tmp_path) as log:
        for row in ROWS:
            log.write(row)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == sorted(TAGS.values())
    for column, tag in TAGS.items():
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx(
            [float(row[column]) for row in ROWS], nan_ok=True)


def test_missing_package_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    for make in (summary_writer_class, lambda: TensorBoardLog(tmp_path)):
        with pytest.raises(StriateError, match=r"pip install tensorboard"):
            make()
    assert not (tmp_path / "tensorboard").exists()


def test_training_with_tensorboard_logs_every_epoch(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train_run("--dataset", "digits", "--model", "logreg", "--epochs", "3", "--tensorboard",
                    "--out-dir", tmp_path, "--name", "run")
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    errors = csv_column(run, "valid_error")
    assert len(errors) == 3
    assert [s.value for s in events.Scalars("error/valid")] == pytest.approx(errors)


def test_missing_package_leaves_no_run_directory(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    result = cli("train", "--dataset", "digits", "--model", "logreg", "--epochs", "1",
                 "--tensorboard", "--out-dir", tmp_path / "runs")
    assert result.code == 2 and "pip install tensorboard" in result.err
    assert not any((tmp_path / "runs").glob("*/*"))


def test_steps_hparams_and_pictures_are_logged(tmp_path):
    """Every step's loss and rate (the first loss of a zero-initialised logreg is ln 10), the
    settings with metrics.json's figures, the filters and the confusion matrix of the test."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
    from PIL import Image

    from striate.viz.plots import Subject

    run = train_run("--dataset", "digits", "--model", "logreg", "--epochs", "2", "--lr", "0.1",
                    "--tensorboard", "--out-dir", tmp_path, "--name", "run")
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    iterations = int(csv_column(run, "iteration")[-1])
    losses, rates = events.Scalars("steps/train_loss"), events.Scalars("steps/lr")
    assert [s.step for s in losses] == [s.step for s in rates] == list(range(1, iterations + 1))
    assert losses[0].value == pytest.approx(math.log(10), rel=1e-6)
    assert rates[-1].value == pytest.approx(csv_column(run, "lr")[-1])

    metrics = json.loads((run / "metrics.json").read_text())
    assert events.Scalars("final/test_accuracy")[0].value == pytest.approx(metrics["test_accuracy"])
    start = HParamsPluginData.FromString(
        events.PluginTagToContent("hparams")["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["optim.lr"].number_value == 0.1
    assert start.hparams["model.model"].string_value == "logreg"

    counts = Subject(run).predictions.confusion()                    # (10, 10)
    [picture] = events.Images("confusion/test")
    with Image.open(io.BytesIO(picture.encoded_image_string)) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.float64)   # (160, 160)
    centres = pixels[CELL // 2::CELL, CELL // 2::CELL] / 255
    assert centres == pytest.approx(counts / counts.sum(axis=1, keepdims=True), abs=1 / 255)
    [filters] = events.Images("filters/first_layer")
    # the affine layer's ten rows as 8x8 images, in TensorBoard's grid of 8 a row
    assert (filters.width, filters.height) == (8 * 8, 2 * 8)
