"""A training session: the config it is given is what it trains on, unchanged, and the two
engines measure a run alike."""

import copy

import pytest

from helpers import csv_column, train_run
from striate.config import TrainConfig
from striate.training.session import train

SGD = ("--model", "logreg", "--dataset", "digits", "--epochs", "3", "--optimizer", "sgd",
       "--schedule", "constant", "--weight-decay", "0", "--lr", "0.1", "--progress", "off")


def digits_config(tmp_path) -> TrainConfig:
    config = TrainConfig()
    config.data.dataset, config.model.model, config.stop.epochs = "digits", "logreg", 1
    config.run.out_dir, config.run.progress = str(tmp_path), "off"
    return config


def test_train_never_changes_the_config_it_is_given(tmp_path):
    config = digits_config(tmp_path).resolve()
    before = copy.deepcopy(config)
    run = train(config, echo=lambda text: None).run
    assert config == before
    assert run.config() == before      # config.yaml records what it was given


def test_train_takes_only_a_resolved_config(tmp_path):
    unresolved = digits_config(tmp_path)
    unresolved.optim.batch_size = None          # the data set's default is not filled in yet
    with pytest.raises(ValueError, match="resolve"):
        train(unresolved, echo=lambda text: None)
    assert not any(tmp_path.iterdir())


def test_resolve_fills_the_data_set_defaults_into_a_copy():
    config = TrainConfig()
    config.data.dataset = "digits"
    resolved = config.resolve()
    assert (resolved.optim.batch_size, resolved.stop.epochs) == (64, 60)
    assert (config.optim.batch_size, config.stop.epochs) == (None, None)
    assert resolved.resolve() == resolved


def test_both_engines_measure_the_same_training_error_and_loss(tmp_path):
    """Logistic regression starts at zero weights in both engines and plain SGD at a constant
    rate updates them alike, so the running training figures of metrics.csv (each epoch's
    minibatches as they were trained on) agree: one meaning of train_error for both."""
    torch_run, numpy_run = (train_run(*SGD, "--engine", engine, "--out-dir", tmp_path,
                                      "--name", engine) for engine in ("torch", "numpy"))
    assert csv_column(torch_run, "train_error") == csv_column(numpy_run, "train_error")
    assert csv_column(torch_run, "train_loss") == pytest.approx(
        csv_column(numpy_run, "train_loss"), rel=1e-5)
    assert csv_column(torch_run, "valid_error") == csv_column(numpy_run, "valid_error")
    assert csv_column(torch_run, "train_error")[0] == pytest.approx(0.2257, abs=1e-4)


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_save_every_keeps_each_nth_epochs_weights_as_a_checkpoint(tmp_path, engine):
    import json

    import numpy as np

    from striate.checkpoint import load_weights

    def snapshots(every: int) -> tuple:
        run = train_run(*SGD, "--engine", engine, "--model", "mlp", "--epochs", "4",
                        "--early-stopping", "none", "--save-every", every,
                        "--out-dir", tmp_path / str(every))
        return run, {path.name: load_weights(path)[0] for path in (run / "epochs").iterdir()}

    assert sorted(snapshots(2)[1]) == ["epoch-0002.safetensors", "epoch-0004.safetensors"]
    run, every_epoch = snapshots(1)
    assert len(every_epoch) == 4
    # The best epoch's snapshot is the run's model, array for array, preprocessing included;
    # each snapshot holds its own epoch's weights, which training moved in between.
    best = json.loads((run / "metrics.json").read_text())["best_epoch"]
    model = load_weights(run / "model.safetensors")[0]
    for name, weights in every_epoch.items():
        assert weights.keys() == model.keys()
        same = all(np.array_equal(weights[key], model[key]) for key in model)
        assert same == (name == f"epoch-{best:04d}.safetensors"), name
