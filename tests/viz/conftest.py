"""Tiny real runs on digits (8x8 images) and a hand-written study.json, shared by the viz tests."""

import json

import pytest

from helpers import train_run

TINY = ("--dataset", "digits", "--epochs", "1", "--batch-size", "128", "--progress", "off")
LENET = ("--model", "lenet", "--model-arg", "filter_size=3", "--model-arg", "nkerns=4,8",
         "--model-arg", "hidden=32", "--model-arg", "pool=1")


@pytest.fixture(scope="session")
def lenet_run(tmp_path_factory):
    """Two convolutions (features.conv1.conv, features.conv2.conv): every run plot applies."""
    return train_run(*TINY, *LENET, "--out-dir", tmp_path_factory.mktemp("runs"), "--name", "lenet")


@pytest.fixture(scope="session")
def logreg_run(tmp_path_factory):
    """No convolution: filters are the affine rows, and feature maps need --layers."""
    return train_run(*TINY, "--model", "logreg", "--out-dir", tmp_path_factory.mktemp("runs"),
                     "--name", "logreg")


def write_study(directory, params: list[str], trials: list[tuple], folds: int | None = 3):
    """study.json as `striate tune` writes it; trials: (params, fold errors or None, state)."""
    records = [{"trial": number, "state": state, "params": values,
                "valid_error": sum(errors) / len(errors) if errors else None,
                "fold_valid_errors": errors, "runs": [], "duration_s": 1.0}
               for number, (values, errors, state) in enumerate(trials)]
    done = [record for record in records if record["valid_error"] is not None]
    best = min(done, key=lambda record: record["valid_error"]) if done else None
    study = {"study": directory.name, "storage": "sqlite:///study.db", "strategy": "grid",
             "objective": "valid_error", "folds": folds, "params": params,
             "best": best and {key: best[key] for key in ("trial", "params", "valid_error")},
             "trials": records}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "study.json").write_text(json.dumps(study))
    return directory


@pytest.fixture
def make_study():
    return write_study


@pytest.fixture
def grid_study(tmp_path):
    """A 3 x 2 grid over lr (log-spaced) and weight_decay, 3 folds each, plus a pruned trial."""
    trials = [({"lr": lr, "weight_decay": decay},
               [0.2 - lr + decay + 0.01 * fold for fold in range(3)], "COMPLETE")
              for lr in (1e-3, 1e-2, 1e-1) for decay in (0.0, 5e-4)]
    trials.append(({"lr": 1.0, "weight_decay": 0.0}, None, "PRUNED"))
    return write_study(tmp_path / "grid", ["lr", "weight_decay"], trials)
