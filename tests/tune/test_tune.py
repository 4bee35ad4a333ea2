"""`striate tune`: strategies, the best trial, grid coverage, resuming, pruning, Ctrl-C, several
workers on one SQLite study, and the mistakes it refuses."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import interrupted_after_epochs
from striate.config import config_from_yaml

QUICK = ("--dataset", "digits", "--model", "logreg", "--epochs", "1", "--progress", "off")
GRID = ("--strategy", "grid", "--param", "lr=loguniform(1e-3, 1e-1)", "--param",
        "optimizer=[sgd, adam]", "--grid-points", "3")
ROOT = Path(__file__).resolve().parents[2]


def tune(cli, out_dir, *args, code=0):
    result = cli("tune", *QUICK, "--out-dir", out_dir, *args)
    assert result.code == code, result.err
    return result


def study_json(out_dir, study="logreg-digits"):
    return json.loads((out_dir / f"tune-{study}" / "study.json").read_text())


def points(study, state="COMPLETE"):
    return [(t["params"]["lr"], t["params"]["optimizer"]) for t in study["trials"]
            if t["state"] == state]


def test_grid_covers_every_point_once_also_when_resumed(cli, tmp_path):
    tune(cli, tmp_path, *GRID, "--n-trials", "4")
    assert len(points(study_json(tmp_path))) == 4
    result = tune(cli, tmp_path, *GRID)  # the same command continues the study
    assert "every grid point is taken" in result.out
    done = points(study_json(tmp_path))
    assert sorted(done) == sorted((lr, optimizer) for lr in (1e-3, 1e-2, 1e-1)
                                  for optimizer in ("sgd", "adam"))
    tune(cli, tmp_path, *GRID)
    assert len(study_json(tmp_path)["trials"]) == 6


@pytest.mark.parametrize("strategy", ["grid", "random", "tpe"])
def test_the_best_trial_is_the_best_of_the_trials_run(cli, tmp_path, strategy):
    result = tune(cli, tmp_path, "--strategy", strategy, "--n-trials", "3", "--grid-points",
                  "3", "--param", "lr=loguniform(1e-3, 3e-1)", "--param", "weight_decay=[0, 0.01]")
    study = study_json(tmp_path)
    directory = tmp_path / "tune-logreg-digits"
    assert (study["strategy"], study["params"], len(study["trials"])) == (
        strategy, ["lr", "weight_decay"], 3)
    for trial in study["trials"]:  # each trial's figures are its run's own
        metrics = json.loads((directory / trial["runs"][0] / "metrics.json").read_text())
        history = list(csv.DictReader((directory / trial["runs"][0] / "metrics.csv").open()))
        assert trial["valid_error"] == metrics["best_valid_error"]
        # training error beside validation error, as cs231n's grid prints them: the best epoch's
        assert trial["train_error"] == metrics["best_train_error"] == float(
            history[metrics["best_epoch"] - 1]["train_error"])
    best = min(study["trials"], key=lambda t: t["valid_error"])
    assert study["best"]["valid_error"] == best["valid_error"]
    assert study["best"]["params"] == best["params"]
    config = config_from_yaml(directory / "best.yaml").resolve()
    assert (config.optim.lr, config.optim.weight_decay) == (best["params"]["lr"],
                                                             best["params"]["weight_decay"])
    rows = list(csv.DictReader((directory / "trials.csv").open()))
    assert list(rows[0]) == ["trial", "state", "train_error", "valid_error", "valid_error_std",
                             "duration_s", "run", "lr", "weight_decay"]
    assert [float(row["train_error"]) for row in rows] == [t["train_error"]
                                                           for t in study["trials"]]
    assert [float(row["valid_error"]) for row in rows] == [t["valid_error"]
                                                           for t in study["trials"]]
    assert f"best: trial {study['best']['trial']}, validation error" in result.out


def test_random_search_is_seeded_and_a_resumed_study_draws_new_points(cli, tmp_path):
    space = ("--strategy", "random", "--param", "lr=loguniform(1e-3, 1e-1)", "--n-trials", "2")
    tune(cli, tmp_path / "a", *space)
    tune(cli, tmp_path / "b", *space)
    first = [t["params"]["lr"] for t in study_json(tmp_path / "a")["trials"]]
    assert first == [t["params"]["lr"] for t in study_json(tmp_path / "b")["trials"]]
    tune(cli, tmp_path / "a", *space)
    resumed = [t["params"]["lr"] for t in study_json(tmp_path / "a")["trials"]]
    assert resumed[:2] == first and len(set(resumed)) == 4


def test_timeout_starts_no_trial_once_it_has_passed(cli, tmp_path):
    result = tune(cli, tmp_path, "--strategy", "random", "--timeout", "0.001",
                  "--param", "lr=loguniform(1e-3, 1e-1)")
    assert "--timeout 0.001 s reached; no new trial started" in result.out
    assert len(study_json(tmp_path)["trials"]) == 1  # the one that was running finished


def test_with_folds_the_objective_is_the_cv_mean(cli, tmp_path):
    tune(cli, tmp_path, "--strategy", "random", "--n-trials", "2", "--folds", "3",
         "--param", "lr=loguniform(1e-2, 1e-1)")
    study = study_json(tmp_path)
    directory = tmp_path / "tune-logreg-digits"
    assert study["folds"] == 3
    for trial in study["trials"]:
        assert trial["runs"] == [f"trial-{trial['trial']:04d}/fold-{fold}" for fold in (1, 2, 3)]
        errors = [json.loads((directory / run / "metrics.json").read_text())["best_valid_error"]
                  for run in trial["runs"]]
        assert trial["fold_valid_errors"] == errors
        assert trial["valid_error"] == pytest.approx(sum(errors) / 3)
        train = [json.loads((directory / run / "metrics.json").read_text())["best_train_error"]
                 for run in trial["runs"]]
        assert trial["train_error"] == pytest.approx(sum(train) / 3)
    rows = list(csv.DictReader((directory / "trials.csv").open()))
    # the sample standard deviation (ddof=1: k folds are a sample of the possible splits)
    assert [float(row["valid_error_std"]) for row in rows] == pytest.approx(
        [np.std(trial["fold_valid_errors"], ddof=1) for trial in study["trials"]], rel=1e-12)
    # and the fold errors differ, so that a population std (ddof=0) would not pass for it
    assert all(len(set(trial["fold_valid_errors"])) > 1 for trial in study["trials"])
    assert config_from_yaml(directory / "best.yaml").data.folds is None  # a plain run


@pytest.mark.parametrize("pruner, state, epochs_run", [("median", "PRUNED", 1),
                                                       ("none", "COMPLETE", 3)])
def test_pruner_stops_trials_from_their_epoch_reports(cli, tmp_path, monkeypatch, pruner,
                                                      state, epochs_run):
    import optuna

    # The median rule needs a history of trials to fire; here it always says "prune".
    monkeypatch.setattr(optuna.pruners.MedianPruner, "prune", lambda self, study, trial: True)
    tune(cli, tmp_path, "--strategy", "random", "--n-trials", "2", "--epochs", "3",
         "--early-stopping", "none", "--pruner", pruner, "--param", "lr=[0.01, 0.1]")
    for trial in study_json(tmp_path)["trials"]:
        run = tmp_path / "tune-logreg-digits" / trial["runs"][0]
        assert trial["state"] == state
        assert len((run / "metrics.csv").read_text().splitlines()) == 1 + epochs_run


def test_ctrl_c_keeps_finished_trials_and_the_study_continues(cli, tmp_path):
    with interrupted_after_epochs(3):  # 1 epoch per trial: during the third trial
        result = tune(cli, tmp_path, *GRID, code=130)
    assert "run the same command again to continue study logreg-digits" in result.err
    study = study_json(tmp_path)
    assert [t["state"] for t in study["trials"]] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert (tmp_path / "tune-logreg-digits" / "best.yaml").is_file()
    interrupted = points(study, "FAIL")[0]
    tune(cli, tmp_path, *GRID)
    done = points(study_json(tmp_path))
    assert len(done) == len(set(done)) == 6 and interrupted in done  # its point went back


def test_changing_the_search_of_a_study_is_refused(cli, tmp_path):
    tune(cli, tmp_path, *GRID, "--n-trials", "1")
    for change in (("--grid-points", "4"), ("--strategy", "random"), ("--folds", "2")):
        result = tune(cli, tmp_path, *GRID, *change, code=2)
        assert result.err.startswith("striate: error: study logreg-digits was started with "
                                     "another search (")
        assert "--study NAME" in result.err
    assert len(study_json(tmp_path)["trials"]) == 1


def test_two_workers_share_one_study_without_duplicates(tmp_path):
    command = [sys.executable, "-m", "striate", "tune", *QUICK, *GRID, "--grid-points", "4",
               "--pruner", "none", "--out-dir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    study = study_json(tmp_path)
    done = points(study)
    assert len(study["trials"]) == len(done) == len(set(done)) == 8
    trained = [line for out, _ in outputs for line in out.splitlines()
               if re.match(r"trial \d+ COMPLETE: ", line)]
    assert len(trained) == 8  # between them, the two workers trained each point once


@pytest.mark.parametrize("args, message", [
    (("--grid-points", "1"), "argument --grid-points: must be at least 2, got 1"),
    (("--n-trials", "0"), "argument --n-trials: must be at least 1"),
    (("--timeout", "-5"), "argument --timeout: must be a positive number of seconds"),
    (("--strategy", "bayes"), "argument --strategy: invalid choice: 'bayes'"),
    (("--name", "x"), "striate tune names each trial's run itself"),
    (("--folds", "3", "--fold", "2"), "striate tune trains every fold of --folds"),
    (("--param", "lr"), "--param expects NAME=SPEC"),
    (("--param", "learning_rate=[0.1]"), "search space: unknown option 'learning_rate'"),
    (("--param", "lr=[0.1, -1]"), "--lr must be a positive number, got -1"),
    (("--param", "model_args.hidden=[5]"), "model logreg has no option 'hidden'"),
    (("--space", "missing.yaml"), "cannot read config missing.yaml"),
    ((), "nothing to search: give --param NAME=SPEC"),
    (("--param", "lr=[0.1]", "--study", "a/b"), "--study must be a plain name"),
    (("--param", "lr=[0.1]", "--storage", "nonsense"), "cannot open --storage nonsense"),
])
def test_mistakes_are_one_line_and_touch_nothing(cli, tmp_path, args, message):
    result = tune(cli, tmp_path / "runs", *args, code=2)
    assert result.err.startswith(f"striate: error: {message}"), result.err
    assert result.err.count("\n") == 1 and not list(tmp_path.iterdir())
