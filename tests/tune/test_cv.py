"""k-fold cross-validation: the folds' arithmetic, and `striate cv` against its own fold runs."""

import csv
import json

import numpy as np
import pytest

from striate.config import TrainConfig
from striate.data.splits import stratified_fold
from striate.data.pipeline import load_data, split

QUICK = ("--dataset", "digits", "--model", "logreg", "--epochs", "2", "--progress", "off")


def digits_pool_labels():
    config = TrainConfig()
    config.data.dataset = "digits"
    return load_data(config.data).train.labels


@pytest.mark.parametrize("folds", [3, 5])
def test_folds_partition_stratify_and_balance(folds):
    labels = digits_pool_labels()
    valids = [stratified_fold(labels, folds, fold, seed=0) for fold in range(1, folds + 1)]
    held_out = np.concatenate([valid for _, valid in valids])
    assert np.array_equal(np.sort(held_out), np.arange(len(labels)))  # each example once
    sizes = [len(valid) for _, valid in valids]
    assert max(sizes) - min(sizes) <= 1
    classes = np.unique(labels)
    whole = np.bincount(labels, minlength=len(classes)) / folds
    for train, valid in valids:
        assert np.intersect1d(train, valid).size == 0 and len(train) + len(valid) == len(labels)
        # each class is in every fold in the proportion of the whole, within one example
        assert np.all(np.abs(np.bincount(labels[valid], minlength=len(classes)) - whole) <= 1)


def test_folds_are_dealt_by_the_seed():
    labels = digits_pool_labels()
    first, again = (stratified_fold(labels, 4, 2, seed=7)[1] for _ in range(2))
    other = stratified_fold(labels, 4, 2, seed=8)[1]
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_a_class_smaller_than_the_folds_is_missing_from_some_and_too_many_folds_are_refused():
    import warnings

    from striate.errors import StriateError

    labels = np.array([0] * 5 + [1] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no scikit-learn warning reaches the user
        valids = [stratified_fold(labels, 3, fold, seed=0)[1] for fold in (1, 2, 3)]
    assert np.array_equal(np.sort(np.concatenate(valids)), np.arange(7))
    assert sorted(int((labels[valid] == 1).sum()) for valid in valids) == [0, 1, 1]
    with pytest.raises(StriateError, match=r"^--folds 6 does not fit data whose largest class "
                                           r"has 5 examples; choose 2 to 5$"):
        stratified_fold(labels, 6, 1, seed=0)


def test_a_fold_run_validates_on_its_fold():
    config = TrainConfig()
    config.data.dataset, config.data.folds, config.data.fold = "digits", 4, 3
    dataset = load_data(config.data)
    splits = split(dataset, config.data, config.run.seed)
    _, valid = stratified_fold(dataset.train.labels, 4, 3, config.run.seed)
    assert np.array_equal(splits["valid"].labels, dataset.train.labels[valid])
    assert len(splits["train"]) + len(splits["valid"]) == len(dataset.train)
    assert len(splits["test"]) == len(dataset.test)  # the test set is never dealt


def test_cv_reports_mean_and_std_of_its_fold_runs(cli, tmp_path):
    result = cli("cv", *QUICK, "--folds", "3", "--out-dir", tmp_path, "--name", "logreg")
    assert result.code == 0, result.err
    directory = tmp_path / "cv-logreg"
    errors = [json.loads((directory / f"fold-{fold}" / "metrics.json").read_text())
              ["best_valid_error"] for fold in (1, 2, 3)]
    mean, std = np.mean(errors), np.std(errors, ddof=1)
    assert f"validation accuracy {1 - mean:.2%} ± {std:.2%}" in result.out
    for fold, error in enumerate(errors, 1):
        assert f"fold {fold}/3: validation accuracy {1 - error:.2%}" in result.out
    rows = list(csv.DictReader((directory / "cv.csv").open()))
    assert [float(row["valid_error"]) for row in rows] == errors
    train = [json.loads((directory / f"fold-{fold}" / "metrics.json").read_text())
             ["best_train_error"] for fold in (1, 2, 3)]
    assert [float(row["train_accuracy"]) for row in rows] == [1 - e for e in train]
    assert f"training accuracy {1 - train[0]:.2%}) in" in result.out
    study = json.loads((directory / "study.json").read_text())
    assert study["folds"] == 3 and study["params"] == [] and len(study["trials"]) == 1
    trial = study["trials"][0]
    assert trial["state"] == "COMPLETE" and trial["fold_valid_errors"] == errors
    assert trial["valid_error"] == pytest.approx(mean) == study["best"]["valid_error"]
    assert trial["runs"] == ["fold-1", "fold-2", "fold-3"]
    assert trial["train_error"] == pytest.approx(np.mean(train))
    assert all((directory / run / "model.safetensors").is_file() for run in trial["runs"])


@pytest.mark.parametrize("args, message", [
    ((), "striate cv needs --folds K"),
    (("--folds", "1"), "--folds must be at least 2"),
    (("--folds", "3", "--fold", "2"), "striate cv trains every fold; drop --fold"),
    (("--folds", "3", "--model-arg", "hidden=5"), "model logreg has no option 'hidden'"),
    (("--folds", "500"), "--folds 500 does not fit data whose largest class has 146 examples"),
])
def test_cv_mistakes_are_one_line(cli, tmp_path, args, message):
    result = cli("cv", *QUICK, "--out-dir", tmp_path, *args)
    assert result.code == 2 and result.err.startswith(f"striate: error: {message}")
    assert result.err.count("\n") == 1 and not list(tmp_path.iterdir())
