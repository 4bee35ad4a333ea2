"""Recipes resolve to the tutorials' settings, and reproduce never passes off a number it did not
measure."""

import json
from pathlib import Path

import pytest

from helpers import train_run
from striate.config import TrainConfig
from striate.recipes import RECIPES, recipe_config
from striate.reproduce import recipes_for, table


def test_the_tutorial_recipes_hold_the_tutorials_settings():
    logreg = recipe_config("dlt-logreg")
    assert (logreg.model.model, logreg.optim.optimizer, logreg.optim.lr,
            logreg.optim.batch_size, logreg.stop.patience) == ("logreg", "sgd", 0.13, 600, 5000)
    mlp = recipe_config("dlt-mlp")
    assert mlp.model.model_args == {"hidden": [500], "activation": "tanh"}
    assert (mlp.optim.lr, mlp.optim.l2, mlp.optim.batch_size) == (0.01, 1e-4, 20)
    lenet = recipe_config("dlt-lenet")
    assert (lenet.optim.lr, lenet.optim.batch_size, lenet.stop.patience) == (0.1, 500, 10000)
    for name in ("dlt-logreg", "dlt-mlp", "dlt-lenet"):
        config = recipe_config(name)
        assert config.data.preprocess == "none" and config.optim.weight_decay == 0
        assert config.schedule.schedule == "constant" and config.data.dataset == "mnist"
        # mnist.pkl.gz's split, and the same n // batch_size minibatches every epoch
        assert (config.data.valid_split, config.optim.minibatch_order) == ("last", "sequential")
    vgg = recipe_config("cs231n-vgg")
    assert vgg.model.model_args == {"num_filters": [64, 64, 128, 256], "As": [2, 2, 3, 3],
                                    "hidden_dims": [64, 64], "dropout": 0.2}
    assert (vgg.optim.optimizer, vgg.optim.lr, vgg.schedule.lr_decay, vgg.optim.batch_size,
            vgg.stop.epochs, vgg.data.dataset) == ("adam", 5e-4, 0.95, 50, 10, "cifar10")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_a_valid_config(name):
    config = recipe_config(name)
    assert config != TrainConfig()  # a recipe that changed nothing would be a mistake
    config.resolve()


def test_flags_and_config_files_override_the_recipe(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("optim: {lr: 0.2}\nstop: {epochs: 1}\n")
    run = train_run("--recipe", "dlt-mlp", "--config", settings, "--dataset", "digits",
                    "--model-arg", "hidden=16", "--out-dir", tmp_path, "--name", "r")
    resolved = (run / "config.yaml").read_text()
    assert "lr: 0.2" in resolved and "batch_size: 20" in resolved       # file, then recipe
    assert "hidden: 16" in resolved and "activation: tanh" in resolved  # flag added to recipe's


def test_unknown_recipe_and_recipe_on_resume_are_one_line_errors(cli, tmp_path):
    result = cli("train", "--recipe", "alexnet")
    assert result.code == 2 and result.err.count("\n") == 1 and "dlt-logreg" in result.err
    result = cli("train", "--resume", tmp_path, "--recipe", "fast")
    assert result.code == 2 and "drop --config and --recipe" in result.err


def test_reproduce_measures_what_runs_and_says_why_the_rest_did_not(cli, tmp_path):
    result = cli("reproduce", "--dataset", "digits", "--quick", "--recipes",
                 "dlt-logreg,dlt-lenet,best", "--out-dir", tmp_path)
    assert result.code == 0, result.err
    [target] = tmp_path.glob("reproduce-*")
    rows = {row["recipe"]: row for row in json.loads((target / "reproduce.json").read_text())}
    assert rows["dlt-logreg"]["status"] == "measured"
    assert rows["dlt-logreg"]["epochs"] == RECIPES["dlt-logreg"].quick_epochs
    metrics = json.loads((Path(rows["dlt-logreg"]["run"]) / "metrics.json").read_text())
    assert rows["dlt-logreg"]["test_accuracy"] == metrics["test_accuracy"] > 0.5
    assert rows["dlt-lenet"]["status"].startswith("not run: cannot build lenet")
    assert rows["best"]["status"].startswith("not run: mirroring digits")
    assert "test_accuracy" not in rows["dlt-lenet"] and "test_accuracy" not in rows["best"]
    markdown = (target / "reproduce.md").read_text()
    assert markdown.strip() in result.out
    lenet_line = next(line for line in markdown.splitlines() if line.startswith("| dlt-lenet"))
    assert "on MNIST" in lenet_line and "| digits |" in lenet_line and "%" not in \
        lenet_line.split("|")[3]


def test_the_table_keeps_published_and_measured_data_apart():
    rows = [{"recipe": "dlt-mlp", "published": RECIPES["dlt-mlp"].published.describe(),
             "status": "measured", "test_accuracy": 0.9, "valid_accuracy": 0.91, "epochs": 3,
             "wall_time_s": 1.5, "dataset": "fashion-mnist", "quick": False}]
    rows[0].update(iterations=7500, best_iteration=5000, stopped_by="patience")
    line = table(rows).splitlines()[2]
    assert "98.35% test accuracy (1.65% error) on MNIST" in line
    assert "90.00% test, 91.00% validation" in line
    assert "| fashion-mnist | 3 (7,500, patience) | 5,000 | 1.5 s |" in line


def test_reproduce_on_a_data_set_runs_the_recipes_written_for_it():
    assert recipes_for("mnist") == ["dlt-logreg", "dlt-mlp", "dlt-lenet", "mnist-logreg",
                                    "mnist-mlp", "mnist-lenet", "mnist-best"]
    # none names it: every one, but those the time-to-accuracy bench measures
    assert recipes_for("digits") == [name for name in RECIPES if not RECIPES[name].target]
    assert {"fmnist-91", "mnist-99"} <= set(RECIPES) - set(recipes_for("digits"))
