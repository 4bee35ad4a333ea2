"""last.safetensors, the last epoch's weights beside the best; and what Ctrl-C leaves of a run
stopped before, or after, its first epoch ended."""

import json

import numpy as np
import pytest

from helpers import train_run, tree_snapshot
from striate.checkpoint import DIGESTS, load_weights
from striate.runs import TRAIN_STATE
from striate.torch.learner import TorchLearner

# A constant rate this high makes the MLP's validation error wander after its best epoch, so
# the best (model.safetensors) and the last epoch differ: epoch 5 of 6 with seed 0.
WANDERING = ("--model", "mlp", "--dataset", "digits", "--epochs", "6", "--optimizer", "sgd",
             "--schedule", "constant", "--lr", "0.5", "--early-stopping", "none",
             "--progress", "off")
QUICK = ("--model", "logreg", "--dataset", "digits", "--epochs", "3", "--progress", "off")


def ctrl_c_in_epoch(monkeypatch, epoch: int) -> None:
    """Training raises KeyboardInterrupt (as Ctrl-C does) at the third step of `epoch`
    (counted from 1), as it is being run by the torch learner."""
    real_start, real_step = TorchLearner.start_epoch, TorchLearner.train_step
    seen = {"epoch": 0}

    def start_epoch(self, index):
        seen["epoch"] = index + 1
        real_start(self, index)

    def train_step(self, batch, lr):
        if seen["epoch"] == epoch and batch == 2:
            raise KeyboardInterrupt
        return real_step(self, batch, lr)

    monkeypatch.setattr(TorchLearner, "start_epoch", start_epoch)
    monkeypatch.setattr(TorchLearner, "train_step", train_step)


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_last_checkpoint_holds_the_final_epoch_and_best_the_best(tmp_path, engine):
    run = train_run(*WANDERING, "--engine", engine, "--save-every", "1", "--out-dir", tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best_epoch"] < metrics["epochs"] == 6
    last, last_meta = load_weights(run / "last.safetensors")
    final, final_meta = load_weights(run / "epochs" / "epoch-0006.safetensors")
    best, best_meta = load_weights(run / "model.safetensors")
    assert last.keys() == final.keys() == best.keys()
    assert all(np.array_equal(last[name], final[name]) for name in final)
    assert not all(np.array_equal(last[name], best[name]) for name in best)
    without_digests = lambda meta: {key: value for key, value in meta.items() if key != DIGESTS}
    assert without_digests(last_meta) == without_digests(best_meta)


def test_last_checkpoint_is_a_checkpoint_like_the_best(cli, tmp_path):
    import striate

    run = train_run(*WANDERING, "--out-dir", tmp_path)
    last = run / "last.safetensors"
    evaluated = cli("evaluate", last, "--split", "test")
    assert evaluated.code == 0, evaluated.err
    assert cli("plot", last, "--what", "filters", "--out", tmp_path / "plots").code == 0
    assert list((tmp_path / "plots").glob("*.png"))
    # the weights loaded are last.safetensors's, not the run's best
    loaded = striate.load(last, device="cpu")
    weights = load_weights(last)[0]
    name = next(key for key in weights if not key.startswith("preprocess."))
    state = loaded.model.state_dict()
    np.testing.assert_array_equal(state[name].numpy(), weights[name])


@pytest.mark.parametrize("tensorboard", [(), ("--tensorboard",)])
def test_ctrl_c_in_the_first_epoch_removes_the_new_run_directory(cli, tmp_path, monkeypatch,
                                                                  tensorboard):
    ctrl_c_in_epoch(monkeypatch, 1)
    result = cli("train", *QUICK, *tensorboard, "--out-dir", tmp_path, "--name", "run")
    assert result.code == 130
    assert result.err == (f"striate: interrupted before the first epoch ended; removed "
                          f"{tmp_path / 'run'}, which held nothing to resume: run the same "
                          "command again to start over\n")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_after_an_epoch_keeps_a_run_that_resumes(cli, tmp_path, monkeypatch):
    ctrl_c_in_epoch(monkeypatch, 2)
    result = cli("train", *QUICK, "--out-dir", tmp_path, "--name", "run")
    run = tmp_path / "run"
    assert result.code == 130
    assert f"continue with `striate train --resume {run}`" in result.err
    assert (run / TRAIN_STATE).is_file() and (run / "last.safetensors").is_file()

    # Interrupted again in the resumed run's own first epoch: the run and its files stay.
    before = tree_snapshot(run)
    result = cli("train", "--resume", run)
    assert result.code == 130 and f"--resume {run}`" in result.err
    assert tree_snapshot(run) == before

    monkeypatch.undo()
    resumed = train_run("--resume", run)
    assert json.loads((resumed / "metrics.json").read_text())["epochs"] == 3
