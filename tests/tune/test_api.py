"""striate.search and striate.cross_validate: the search and the folds of `striate tune` and
`striate cv`, called from Python, with the same files and the figures returned."""

import csv
import json

import numpy as np
import pytest

import striate
from helpers import tree_snapshot

QUICK = {"epochs": 1, "progress": "off"}


def test_search_returns_every_trial_and_the_best_as_its_files_say(tmp_path):
    study = striate.search("logreg", "digits", space={"lr": [0.001, 0.3], "optimizer": ["sgd"]},
                           strategy="grid", out_dir=tmp_path, **QUICK)
    assert isinstance(study, striate.Study)
    assert study.directory == tmp_path / "tune-logreg-digits"
    saved = json.loads((study.directory / "study.json").read_text())
    with open(study.directory / "trials.csv") as rows:
        assert len(list(csv.DictReader(rows))) == len(study.trials) == 2
    errors = {trial["params"]["lr"]: trial["valid_error"] for trial in saved["trials"]}
    assert study.best["valid_error"] == min(errors.values())
    assert study.best_params == {"lr": min(errors, key=errors.get), "optimizer": "sgd"}
    assert errors[0.3] < errors[0.001]   # one epoch at 0.001 barely moves logistic regression
    best_yaml = (study.directory / "best.yaml").read_text()
    assert "lr: 0.3" in best_yaml and "optimizer: sgd" in best_yaml


def test_calling_search_again_continues_the_study(tmp_path):
    space = {"lr": "loguniform(0.01, 0.1)"}
    first = striate.search("logreg", "digits", space=space, strategy="random", n_trials=1,
                           out_dir=tmp_path, **QUICK)
    again = striate.search("logreg", "digits", space=space, strategy="random", n_trials=1,
                           out_dir=tmp_path, **QUICK)
    assert [t["trial"] for t in first.trials] == [0]
    assert [t["trial"] for t in again.trials] == [0, 1]
    assert 0.01 <= again.best_params["lr"] <= 0.1


def test_cross_validate_returns_the_folds_and_their_mean(tmp_path):
    result = striate.cross_validate("logreg", "digits", folds=3, out_dir=tmp_path, name="cv",
                                    **QUICK)
    assert isinstance(result, striate.CrossValidation)
    assert result.directory == tmp_path / "cv-cv"
    assert [fold["fold"] for fold in result.folds] == [1, 2, 3]
    accuracies = [fold["valid_accuracy"] for fold in result.folds]
    assert result.valid_accuracy == pytest.approx(np.mean(accuracies))
    assert result.valid_accuracy_std == pytest.approx(np.std(accuracies, ddof=1))
    for fold in result.folds:   # each figure is its fold run's own
        metrics = json.loads((result.directory / fold["run"] / "metrics.json").read_text())
        assert metrics["best_valid_error"] == fold["valid_error"]


@pytest.mark.parametrize("call, message", [
    (lambda: striate.search("logreg", "digits", space={}), "nothing to search"),
    (lambda: striate.search("logreg", "digits", space={"lr": "lognormal(1, 2)"}),
     "unknown function lognormal()"),
    (lambda: striate.search("logreg", "digits", space={"lrr": [0.1]}), "unknown option 'lrr'"),
    (lambda: striate.search("logreg", "digits", space={"lr": [0.1]}, strategy="bayes"),
     "strategy must be one of grid, random, tpe"),
    (lambda: striate.search("logreg", "digits", space={"lr": [0.1]}, n_trials=0),
     "n_trials must be a whole number of at least 1"),
    (lambda: striate.search("logreg", "digits", space={"lr": [0.1]}, timeout_s=-1),
     "timeout_s must be a positive number"),
    (lambda: striate.search("logreg", "digits", space={"lr": [0.1]}, name="x"), "drop name="),
    (lambda: striate.search("logreg", "digits", space={"lr": [0.1]}, study="a/b"),
     "must be a plain name"),
    (lambda: striate.search(striate.Dataset, "digits", space={"lr": [0.1]}),
     "builds each run's model from its name"),
    (lambda: striate.cross_validate("logreg", striate.Dataset.from_arrays(
        np.zeros((20, 4, 4), np.uint8), np.arange(20) % 2, name="mine")),
     "loads the data again for each run"),
    (lambda: striate.cross_validate("logreg", "digits", folds=1), "--folds must be at least 2"),
    (lambda: striate.cross_validate("logreg", "digits", fold=2), "drop fold="),
])
def test_bad_arguments_are_one_line_and_write_nothing(tmp_path, monkeypatch, call, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(striate.StriateError) as refused:
        call()
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert tree_snapshot(tmp_path) == {}
