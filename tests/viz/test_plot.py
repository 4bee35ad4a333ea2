"""`striate plot` on real tiny runs and a study: every plot kind is a real picture, the numbers
behind the cheap ones are right, and bad input is one line and exit 2."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from PIL import Image

from helpers import train_run, tree_snapshot
from striate.inference import evaluate
from striate.torch.hooks import feature_maps
from striate.viz.plots import PlotOptions, Subject
from striate.viz.study import (cross_validation_figure, fold_curves_figure, heatmap_figure,
                               read_study)
from striate.viz.weights import layer_filters, max_pool_2x2, random_filter_responses

RUN_PLOTS = {"loss", "error", "lr", "filters", "features-features.conv1.conv",
             "features-features.conv2.conv", "confusion", "wrong"}


def assert_pictures(paths, names):
    """Each is a PNG of at least 300 x 250 pixels with something drawn on it."""
    assert {path.stem for path in paths} == set(names)
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 300 and image.height >= 250, path
            assert np.asarray(image.convert("L")).std() > 5, f"{path} is blank"


def written(result):
    """The PNG files a plot command names, one per line (other lines say something else)."""
    assert result.code == 0, result.err
    return [Path(line) for line in result.out.splitlines() if line.endswith(".png")]


def test_every_run_plot_is_drawn_by_default(cli, lenet_run, tmp_path):
    assert_pictures(written(cli("plot", lenet_run, "--out", tmp_path)), RUN_PLOTS)


def test_plots_go_to_run_plots_and_touch_nothing_else(cli, lenet_run, tmp_path):
    run = shutil.copytree(lenet_run, tmp_path / "run")
    before = tree_snapshot(run)
    paths = written(cli("plot", run, "--what", "loss,lr"))
    assert paths == [run / "plots" / "loss.png", run / "plots" / "lr.png"]
    after = tree_snapshot(run)
    assert {name: digest for name, digest in after.items()
            if not name.startswith("plots/")} == before


def test_checkpoint_file_gets_the_model_plots(cli, lenet_run, tmp_path):
    paths = written(cli("plot", lenet_run / "model.safetensors", "--what", "filters,confusion",
                        "--out", tmp_path))
    assert_pictures(paths, {"filters", "confusion"})


def test_logreg_filters_are_its_weight_rows_as_images(cli, logreg_run, tmp_path):
    paths = written(cli("plot", logreg_run, "--out", tmp_path))
    assert_pictures(paths, RUN_PLOTS - {"features-features.conv1.conv",
                                        "features-features.conv2.conv"})
    subject = Subject(logreg_run)
    name, weight = subject.engine.first_layer(subject.model)
    rows = layer_filters(name, weight, (1, 8, 8))                     # (10, 1, 8, 8)
    assert name == "output" and rows.shape == (10, 1, 8, 8)
    np.testing.assert_array_equal(rows[3].reshape(-1),
                                  subject.model.output.weight[3].detach().numpy())


@pytest.mark.parametrize("model", ["svm", "twolayer"])
def test_numpy_only_models_are_plotted_through_their_engine(cli, tmp_path, model):
    """svm and twolayer exist in the NumPy engine only: their filters are W1's columns."""
    run = train_run("--engine", "numpy", "--model", model, "--dataset", "digits", "--epochs", "1",
                    "--progress", "off", "--out-dir", tmp_path, "--name", model)
    paths = written(cli("plot", run, "--out", tmp_path / "plots"))
    assert_pictures(paths, {"loss", "error", "lr", "filters", "confusion", "wrong"})
    subject = Subject(run)
    name, rows = subject.engine.first_layer(subject.model)            # (units, 64)
    assert name == "W1"
    np.testing.assert_array_equal(rows, subject.model.params["W1"].T)
    features = cli("plot", run, "--what", "features", "--layers", "W1")
    assert features.code == 2 and "NumPy engine's only" in features.err


def test_flat_layers_show_as_units(cli, logreg_run, tmp_path):
    missing = cli("plot", logreg_run, "--what", "features", "--out", tmp_path)
    assert missing.code == 2 and "--layers" in missing.err
    paths = written(cli("plot", logreg_run, "--what", "features", "--layers", "output",
                        "--out", tmp_path))
    assert_pictures(paths, {"features-output"})


def test_feature_maps_are_the_layers_outputs(lenet_run):
    subject = Subject(lenet_run, PlotOptions(index=5))
    image, picture, caption = subject.feature_input()
    maps = feature_maps(subject.model, ["features.conv1.conv", "features.conv2"], image)
    x = torch.from_numpy(image[np.newaxis])                            # (1, 1, 8, 8)
    with torch.no_grad():
        conv1 = subject.model.features.conv1.conv(x)
        stage2 = subject.model.features.conv2(subject.model.features.conv1(x))
    np.testing.assert_allclose(maps["features.conv1.conv"], conv1[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(maps["features.conv2"], stage2[0].numpy(), rtol=1e-6)
    assert maps["features.conv1.conv"].shape == (4, 6, 6) and picture.shape == (8, 8)
    assert caption.startswith("test image #5: ")


def test_feature_maps_of_an_image_file(cli, lenet_run, tmp_path):
    digit = np.zeros((32, 32), dtype=np.uint8)
    digit[4:28, 14:18] = 255                                            # a "1"
    Image.fromarray(digit).save(tmp_path / "one.png")
    paths = written(cli("plot", lenet_run, "--what", "features", "--layers",
                        "features.conv1.conv", "--image", tmp_path / "one.png",
                        "--out", tmp_path / "plots"))
    assert_pictures(paths, {"features-features.conv1.conv"})


def test_confusion_matrix_counts_every_test_image_once(lenet_run):
    predictions = Subject(lenet_run).predictions
    counts = predictions.confusion()
    measured = evaluate(lenet_run, "test", device="cpu")
    assert counts.sum() == measured["examples"]
    assert np.trace(counts) / counts.sum() == pytest.approx(measured["accuracy"], abs=1e-12)
    metrics = json.loads((lenet_run / "metrics.json").read_text())
    assert abs(np.trace(counts) / counts.sum() - metrics["test_accuracy"]) <= 1 / counts.sum()
    per_class = predictions.per_class()
    assert [row["examples"] for row in per_class] == list(counts.sum(axis=1))
    assert [row["correct"] for row in per_class] == list(np.diag(counts))


def test_most_confidently_wrong_are_wrong_and_most_confident(lenet_run):
    predictions = Subject(lenet_run).predictions
    shown = predictions.most_confidently_wrong(16)
    predicted, labels = predictions.predicted, predictions.labels
    assert len(shown) == min(16, int((predicted != labels).sum())) > 0
    assert (predicted[shown] != labels[shown]).all()
    confidence = predictions.probabilities.max(axis=1)
    assert (np.diff(confidence[shown]) <= 0).all()
    others = np.setdiff1d(np.flatnonzero(predicted != labels), shown)
    assert (confidence[others] <= confidence[shown].min()).all()


def test_random_filters_respond_to_edges_only(cli, tmp_path):
    step = np.zeros((40, 40, 3), dtype=np.uint8)
    step[:, 20:] = 255                                                  # one vertical edge
    Image.fromarray(step).save(tmp_path / "step.png")
    responses = random_filter_responses(step.transpose(2, 0, 1), seed=23455)  # (2, 32, 32)
    flat = np.concatenate([responses[:, :, :8], responses[:, :, -8:]], axis=2)
    edge = responses[:, :, 12:20]                  # windows that straddle the edge
    assert flat.std(axis=1).max() < 1e-12 and edge.std(axis=2).min() > 1e-3
    np.testing.assert_array_equal(responses, random_filter_responses(
        step.transpose(2, 0, 1), seed=23455))
    assert_pictures(written(cli("plot", "--random-filters", "--image", tmp_path / "step.png",
                                "--out", tmp_path)), {"random-filters"})


def test_random_filters_print_the_tutorials_shapes_and_pool(cli, tmp_path):
    # The tutorials' photo is 639 rows by 516 columns: (1, 3, 639, 516) as a minibatch.
    photo = np.random.default_rng(0).integers(0, 256, (639, 516, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "wolf.png")
    result = cli("plot", "--random-filters", "--image", tmp_path / "wolf.png", "--out", tmp_path)
    assert result.out.splitlines()[:2] == ["convolution output: (1, 2, 631, 508)",
                                           "max-pooled output: (1, 2, 315, 254)"]
    maps = np.random.default_rng(1).random((2, 5, 7))
    pooled = max_pool_2x2(maps)
    assert pooled.shape == (2, 2, 3)
    assert pooled[1, 1, 2] == maps[1, 2:4, 4:6].max()  # the last row and column are dropped


def test_random_filters_default_to_a_photo(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_pictures(written(cli("plot", "--random-filters")), {"random-filters"})
    assert (tmp_path / "plots" / "random-filters.png").is_file()


def test_study_plots(cli, grid_study, tmp_path):
    assert_pictures(written(cli("plot", grid_study, "--out", tmp_path)), {"cv", "heatmap"})
    study = read_study(grid_study)
    figure = cross_validation_figure(study, "lr")
    assert figure.axes[0].get_xscale() == "log"          # 1e-3 .. 1e-1
    # one scatter of its 3 folds per completed trial; the pruned trial has nothing to show
    folds = [len(c.get_offsets()) for c in figure.axes[0].collections
             if isinstance(c, PathCollection)]
    assert folds == [3] * 6
    heatmap = heatmap_figure(study, "weight_decay", "lr").axes[0]
    assert (heatmap.get_xscale(), heatmap.get_yscale()) == ("linear", "log")  # 0 is not log


def test_a_cv_directory_plots_its_folds(cli, tmp_path):
    assert cli("cv", "--dataset", "digits", "--model", "logreg", "--epochs", "2", "--folds", "3",
               "--out-dir", tmp_path, "--name", "cv", "--progress", "off").code == 0
    directory = tmp_path / "cv-cv"
    assert_pictures(written(cli("plot", directory, "--out", tmp_path / "plots")), {"cv", "folds"})
    study = read_study(directory)
    axes = cross_validation_figure(study, None).axes[0]
    [scatter] = [c for c in axes.collections if isinstance(c, PathCollection)]
    accuracies = 1 - np.asarray(study["trials"][0]["fold_valid_errors"])
    np.testing.assert_allclose(np.sort(scatter.get_offsets()[:, 1]), np.sort(accuracies))
    [label] = [label.get_text() for label in axes.get_xticklabels()]
    assert label == "cv-cv"
    # two curves (validation, training) per fold, each as long as the fold's epochs
    curves = fold_curves_figure(directory, study).axes[0].get_lines()
    assert [len(line.get_xdata()) for line in curves] == [2] * 6


def test_study_of_one_parameter_draws_cross_validation_only(cli, make_study, tmp_path):
    study = make_study(tmp_path / "one", ["optimizer"],
                       [({"optimizer": "sgd"}, [0.3, 0.2], "COMPLETE"),
                        ({"optimizer": "adam"}, [0.1, 0.15], "COMPLETE")], folds=2)
    assert_pictures(written(cli("plot", study, "--out", tmp_path)), {"cv"})
    axes = cross_validation_figure(read_study(study), "optimizer").axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["adam", "sgd"]


@pytest.mark.parametrize("args, message", [
    (("plot", "{tmp}"), "is not a run directory"),
    (("plot", "{run}", "--what", "loss,scatter"), "unknown plot 'scatter' in --what"),
    (("plot", "{run}", "--what", "features", "--layers", "features.conv9"),
     "has no layer 'features.conv9'"),
    (("plot", "{run}", "--what", "features", "--index", "100000"), "--index 100000 is outside"),
    (("plot", "{run}", "--what", "cv"), "--what cv needs a study directory"),
    (("plot", "{study}", "--what", "heatmap", "--x", "lr", "--y", "lr"), "both lr"),
    (("plot", "{study}", "--x", "momentum"), "--x momentum: the study varied lr, weight_decay"),
    (("plot", "{study}", "--what", "loss"), "--what loss needs a run directory"),
    (("plot",), "give RUN"),
    (("plot", "{run}", "--random-filters"), "drop RUN"),
    (("plot", "--random-filters", "--image", "{tmp}/none.png"), "not a readable image"),
    (("plot", "{run}", "--device", "tpu"), "--device"),
    (("report", "{study}"), "use `striate plot`"),
])
def test_bad_input_is_one_line_and_changes_nothing(cli, lenet_run, grid_study, tmp_path, args,
                                                    message):
    run = shutil.copytree(lenet_run, tmp_path / "run")
    before = tree_snapshot(tmp_path)
    words = [word.format(tmp=tmp_path / "empty", run=run, study=grid_study) for word in args]
    (tmp_path / "empty").mkdir(exist_ok=True)
    result = cli(*words)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("striate: error: ") and result.err.count("\n") == 1
    assert message in result.err
    assert tree_snapshot(tmp_path) == before


def test_broken_study_file_is_refused(cli, make_study, tmp_path):
    (tmp_path / "study.json").write_text("{not json")
    result = cli("plot", tmp_path)
    assert result.code == 2 and "not a study file" in result.err
    make_study(tmp_path, ["lr"], [({"lr": 0.1}, None, "RUNNING")])
    result = cli("plot", tmp_path)
    assert result.code == 2 and "no completed trial yet" in result.err
